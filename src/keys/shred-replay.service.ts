import { Inject, Injectable, Logger } from '@nestjs/common';
import { AuditWriter, SYSTEM_ACTOR } from '../audit/audit-writer.service';
import { ApiError } from '../common/api-error';
import { failpoint } from '../common/failpoints';
import { SHRED_REPLAY_OVERLAP_MS } from '../common/limits';
import { MetricsService, ShredReplayOutcome } from '../metrics/metrics.service';
import { AuditEventRepository } from '../repositories/audit-event.repository';
import { UserKeyRepository } from '../repositories/user-key.repository';
import {
  isKnownShredState,
  receiptIdOf,
  SHRED_LOG,
  ShredDestroyed,
  ShredIntent,
  ShredLog,
  shredLogBound,
  ShredLogRef,
  ShredReceiptRecord,
  ShredRecord,
  shredIdOf,
  ShredReplayed,
  ShredCancelled,
  ShredScheduled,
} from '../shred-log/shred-log';
import { KeyMaterialService } from './key-material.service';
import { ReceiptSigner } from './receipt-signer.service';

/** What one replay did. */
export interface ShredReplayResult {
  /** Users whose keys the database had brought back, destroyed again by this replay. */
  replayed: number;
  /** Shreds of the log looked at (those since the newest shred the database holds, less a day). */
  examined: number;
  /** Intents left open whose transaction the database shows committed: recorded `destroyed` now. */
  completed: number;
  /** Intents left open whose key the database still holds: recorded `aborted` now, the key left alone. */
  aborted: number;
  /**
   * Shreds left as they are for now: an open intent whose row a transaction holds or whose outcome
   * could not be written (a later replay settles it), or a shred of a state this version does not know.
   */
  skipped: number;
  /** `key.shred-replayed` audit events a replay could not store before, appended now (a `replayed` record named none). */
  auditRecovered: number;
  /** `key.shred-replayed` audit events still not stored: the next replay (the next start) tries again. */
  auditPending: number;
  /** Where the log is (bucket and prefix, or directory). */
  log: string;
}

type Counts = Omit<ShredReplayResult, 'log'>;

/** One replay's progress. */
interface Pass {
  counts: Counts;
  /** The ids of the `replayed` records this replay wrote: their audit events were tried already. */
  written: Set<string>;
  /** `replayed` records found in the log: their audit events are checked once the shreds are settled. */
  earlier: ShredLogRef[];
  /**
   * The newest tombstone's time when the replay began (ms; -Infinity: none). A `replayed` record
   * of a later time is another replica's, replaying now, which records its own audit event.
   */
  startedAfter: number;
  /** `scheduled` and `cancelled` records (the deletion window), in the log's order: applied once the shreds are settled. */
  deletions: ShredLogRef[];
}

/** The result's count of each outcome of `pii_api_shred_replay_total` (`failed`, a failed replay, is the start-up's). */
const COUNTED_AS = {
  destroyed: 'replayed',
  completed: 'completed',
  aborted: 'aborted',
  skipped: 'skipped',
  audit_recovered: 'auditRecovered',
} as const satisfies Record<Exclude<ShredReplayOutcome, 'failed'>, keyof Counts>;

/** A replay that finds a user's row held by a transaction waits for it this often, this long each time, then fails (retried). */
const HELD_ROW = { attempts: 10, pauseMs: 100 } as const;

/** The time of a record's name, as `toISOString` writes it. */
const shredLogRefTime = (ref: ShredLogRef): string => new Date(ref.at).toISOString();

/** A shred's records as the log holds them, read where needed: what the replay acts on. */
interface Shred {
  shredId: string;
  userId: string;
  keyVersion: number;
  refs: ShredLogRef[];
}

/**
 * Replays the shred log (src/shred-log; the states are in shred-log.ts) against the key
 * database. Per shred:
 *
 * - `destroyed` (committed): after a restore from a backup, the user whose key the restored
 *   database still holds has their keys destroyed again. Replayed when the user has an active
 *   key whose current version is at most the newest version the shred destroyed (a key created
 *   after the shred has a higher version and is left alone), and only that version: the
 *   destruction compares the version it checked (compare-and-destroy), so a DELETE and a new key
 *   on another replica in between are never destroyed by the replay.
 * - `aborted`: nothing; the key is the user's.
 * - an `intent` alone (the DELETE that wrote it died, or could not write its outcome): settled by
 *   the database, never by assumption: the intent's generation (version and created_at) still
 *   held → `aborted`, the key left usable; gone → the transaction committed → `destroyed`, with
 *   the receipt kept on the tombstone. While a transaction holds the user's row (a shredding under
 *   way) the intent is left for a later replay.
 * - `scheduled` and `cancelled` (the deletion window), in the log's order once the shreds are
 *   settled: a pending deletion the restored database does not hold (a backup from before the
 *   DELETE) is put back on exactly the generation it was asked for, unless a later `cancelled`
 *   record calls it off; a cancellation the restored database does not hold (a backup from before
 *   it) lifts the pending deletion it names. The keys themselves are destroyed by the scheduled
 *   job (and a `destroyed` record of it is replayed as any other), never by these records.
 * - a state this version does not know (of a later version): ignored with a warning; nothing is
 *   ever destroyed for it.
 *
 * Which shreds: every one since the newest shred the database itself holds (its newest
 * tombstone), less SHRED_REPLAY_OVERLAP_MS against disagreeing clocks — a backup contains every
 * shred committed before it, so older ones are already in it. Replaying is idempotent, and
 * replicas replaying at once are safe: the destruction locks the user's row, and the one that
 * finds the key gone (KEY001) or another version does nothing (KEY002, a held row, is retried).
 *
 * Each user destroyed again gets the original receipt back on its tombstone, so a repeated
 * DELETE answers with it, a `replayed` record in the log, and then a `key.shred-replayed` audit
 * event (actor `system`) naming that record. An event the audit trail cannot store does not fail
 * the replay (the keys are destroyed): it is counted as pending, and a later replay appends it
 * from the record (the log is the source of truth) while the database still holds that destruction.
 * Every outcome is counted in `pii_api_shred_replay_total` and in the result (readiness).
 */
@Injectable()
export class ShredReplayService {
  private readonly logger = new Logger('ShredReplay');

  constructor(
    private readonly keys: UserKeyRepository,
    private readonly material: KeyMaterialService,
    private readonly audit: AuditWriter,
    private readonly auditEvents: AuditEventRepository,
    private readonly metrics: MetricsService,
    @Inject(SHRED_LOG) private readonly log: ShredLog,
  ) {}

  async replay(): Promise<ShredReplayResult> {
    const newest = await this.keys.latestShredOnPrimary();
    const after = newest ? shredLogBound(new Date(newest.getTime() - SHRED_REPLAY_OVERLAP_MS)) : undefined;
    const pass: Pass = {
      counts: { replayed: 0, examined: 0, completed: 0, aborted: 0, skipped: 0, auditRecovered: 0, auditPending: 0 },
      written: new Set(),
      earlier: [],
      startedAfter: newest?.getTime() ?? -Infinity,
      deletions: [],
    };
    // The records of one shred sort together; the last shred of a page may go on in the next.
    let open: Shred | undefined;
    for await (const page of this.log.list(after)) {
      const complete: Shred[] = [];
      for (const ref of page) {
        if (open?.shredId !== ref.shredId) {
          if (open) complete.push(open);
          open = { shredId: ref.shredId, userId: ref.userId, keyVersion: ref.keyVersion, refs: [] };
        }
        open.refs.push(ref);
      }
      await this.settle(complete, pass);
    }
    if (open) await this.settle([open], pass);
    await this.settleDeletions(pass.deletions);
    // Earlier replays whose destruction the database still holds: their audit events belong in its trail.
    for (const ref of pass.earlier) {
      const another = Date.parse(ref.at) > pass.startedAfter;
      if (!pass.written.has(ref.shredId) && !another) await this.auditReplayedOnce(ref, pass.counts);
    }
    this.metrics.setShredReplayAuditPending(pass.counts.auditPending);
    return { ...pass.counts, log: this.log.location };
  }

  /** Counts one outcome in the result and in `pii_api_shred_replay_total`. */
  private count(counts: Counts, outcome: Exclude<ShredReplayOutcome, 'failed'>): void {
    counts[COUNTED_AS[outcome]] += 1;
    this.metrics.countShredReplay(outcome);
  }

  /** Settles a page's shreds: open intents from the database, then the committed ones against the live keys. */
  private async settle(groups: Shred[], pass: Pass): Promise<void> {
    const { counts } = pass;
    // A `replayed` record is named by the replay's own time: its group holds it alone, and is no shred.
    // So is a `scheduled` or `cancelled` one (the deletion window): each is named by its own time.
    const shreds: Shred[] = [];
    for (const group of groups) {
      const replayed = group.refs.filter((ref) => ref.state === 'replayed');
      pass.earlier.push(...replayed);
      pass.deletions.push(...group.refs.filter((ref) => ref.state === 'scheduled' || ref.state === 'cancelled'));
      const rest = group.refs.filter((ref) => !['replayed', 'scheduled', 'cancelled'].includes(ref.state));
      if (rest.length) shreds.push({ ...group, refs: rest });
    }
    counts.examined += shreds.length;
    const committed: Array<{ shred: Shred; destroyed?: ShredDestroyed }> = [];
    for (const shred of shreds) {
      const states = new Set<string>();
      let legacy: ShredDestroyed | ShredIntent | undefined;
      for (const ref of shred.refs) {
        if (!isKnownShredState(ref.state)) {
          this.logger.warn(
            `Shred log entry ${ref.name}: the state ${ref.state} is not known to this version; ignored, nothing destroyed for it`,
          );
        } else if (ref.state === 'legacy') {
          // An entry of the earlier format is read to know what it stands for (shred-log.ts).
          legacy = (await this.log.read(ref.name)) as ShredDestroyed | ShredIntent;
          states.add(legacy.state);
        } else {
          states.add(ref.state);
        }
      }
      if (states.has('destroyed')) {
        committed.push({ shred, destroyed: legacy?.state === 'destroyed' ? legacy : undefined });
      } else if (states.has('intent') && !states.has('aborted')) {
        const intent = legacy?.state === 'intent' ? legacy : ((await this.log.read(this.named(shred, 'intent'))) as ShredIntent);
        this.count(counts, (await this.settleIntent(shred, intent)) ?? 'skipped');
      } else if (!states.size) {
        this.count(counts, 'skipped');
      }
    }

    const live = await this.keys.activeVersionsOnPrimary([...new Set(committed.map(({ shred }) => shred.userId))]);
    for (const { shred, destroyed } of committed) {
      const current = live.get(shred.userId);
      if (current === undefined || current > shred.keyVersion) continue;
      if (await this.replayOne(shred, destroyed, current, pass)) {
        this.count(counts, 'destroyed');
        live.delete(shred.userId);
      }
    }
  }

  /**
   * The deletion window's records, oldest first: puts back each pending deletion no later
   * cancellation calls off, and lifts each cancelled one, where the database (restored from a
   * backup) does not hold them. Both are conditional updates on the primary, so a database that
   * already holds them, a key destroyed since or a new key is left as it is.
   */
  private async settleDeletions(refs: ShredLogRef[]): Promise<void> {
    const records = [];
    for (const ref of refs) records.push((await this.log.read(ref.name)) as ShredScheduled | ShredCancelled);
    const calledOff = new Set(records.flatMap((record) => (record.state === 'cancelled' ? [record.scheduledShredId] : [])));
    let restored = 0;
    let lifted = 0;
    for (const record of records) {
      const { userId } = record;
      if (record.state === 'scheduled') {
        if (calledOff.has(shredIdOf(record))) continue;
        const pending = {
          keyVersion: record.keyVersion,
          createdAt: record.keyCreatedAt,
          requestedAt: new Date(record.at),
          destroysAt: new Date(record.destroysAt),
        };
        if (await this.keys.restorePendingDeletion(userId, pending)) {
          await this.material.forgetPublicKey(userId);
          restored++;
          this.logger.warn(
            `User ${userId}: pending deletion since ${record.at}, undone by a restore; put back (destroyed at ${record.destroysAt} unless cancelled)`,
          );
        }
      } else if (await this.keys.liftPendingDeletion(userId, new Date(record.destroysAt))) {
        lifted++;
        this.logger.warn(`User ${userId}: the deletion cancelled at ${record.cancelledAt}, undone by a restore, is cancelled again`);
      }
    }
    if (restored || lifted)
      this.logger.log(`Shred log replay: ${restored} pending deletion(s) put back, ${lifted} cancellation(s) put back`);
  }

  /** The name of the shred's record in `state`. */
  private named(shred: Shred, state: string): string {
    return shred.refs.find((ref) => ref.state === state)!.name;
  }

  /**
   * An intent no outcome was recorded for: the database says whether its transaction committed.
   * Returns which record was written, or null when the row is held by a transaction (left for later).
   */
  private async settleIntent(shred: Shred, intent: ShredIntent): Promise<'completed' | 'aborted' | null> {
    const { userId } = intent;
    const state = await this.keys.generationOnPrimary(userId, intent.keyVersion, intent.keyCreatedAt);
    if (state === 'busy') return null;
    if (state === 'kept') {
      const written = await this.write(
        {
          typ: 'crypto-shred',
          state: 'aborted',
          userId,
          keyVersion: intent.keyVersion,
          abortedAt: new Date().toISOString(),
          reason: 'the replay found the key in the database: the transaction did not commit',
        },
        shred.shredId,
      );
      this.logger.warn(
        `User ${userId}: the crypto-shred asked for at ${intent.at} did not commit; the key stays usable (${shred.shredId} aborted)`,
      );
      return written ? 'aborted' : null;
    }
    // Committed: the receipt kept with the tombstone, when it is this shred's.
    const kept = await this.keys.shredReceiptOnPrimary(userId);
    const payload = kept ? (ReceiptSigner.payloadOf(kept) as { destroyedAt?: string; versions?: Array<{ keyVersion: number }> }) : null;
    const ours = payload?.destroyedAt === intent.at && payload.versions?.some((v) => v.keyVersion === intent.keyVersion);
    const receipt = ours ? kept : null;
    const record: ShredDestroyed = {
      typ: 'crypto-shred',
      state: 'destroyed',
      userId,
      keyVersions: ours ? payload!.versions!.map((v) => v.keyVersion) : [intent.keyVersion],
      destroyedAt: intent.at,
      receipt,
      receiptId: receipt ? receiptIdOf(receipt) : null,
    };
    this.logger.warn(
      `User ${userId}: the crypto-shred asked for at ${intent.at} committed; its outcome is recorded now (${shred.shredId} destroyed)`,
    );
    return (await this.write(record)) ? 'completed' : null;
  }

  /** Writes a record settling an intent; a failure is logged and leaves the intent for the next replay. */
  private async write(record: ShredRecord, shredId?: string): Promise<boolean> {
    try {
      await this.log.append(record, shredId);
      return true;
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.logger.error(
        `The shred log (${this.log.location}) could not be given a ${record.state} record; the next replay tries again: ${reason}`,
      );
      return false;
    }
  }

  /** Destroys the user's current version `current` again; false when another replica, a DELETE or a new key came first. */
  private async replayOne(shred: Shred, legacy: ShredDestroyed | undefined, current: number, { counts, written }: Pass): Promise<boolean> {
    const { userId } = shred;
    const destroyedRecord = legacy ?? ((await this.log.read(this.named(shred, 'destroyed'))) as ShredDestroyed);
    let destroyed: Array<{ keyVersion: number }> | null;
    for (let attempt = 1; ; attempt++) {
      try {
        destroyed = await this.keys.destroy(userId, { generation: { keyVersion: current } });
        break;
      } catch (error) {
        if (error instanceof ApiError && error.code === 'KEY001') return false;
        // The row is held by a transaction (another replica destroying it, a DELETE, a rotation): wait for it, a few times.
        if (!(error instanceof ApiError && error.code === 'KEY002') || attempt === HELD_ROW.attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, HELD_ROW.pauseMs));
      }
    }
    if (!destroyed) {
      this.logger.log(`User ${userId}: the key changed while the shred log was replayed (a new key since); left alone`);
      return false;
    }
    failpoint('replay.after-destroy');
    await this.material.forgetPublicKey(userId);
    const versions = destroyed.map((v) => v.keyVersion);
    // The receipt naming the audit event, when the log has it, else the one signed in the transaction.
    const receipt = shred.refs.some((ref) => ref.state === 'receipt')
      ? ((await this.log.read(this.named(shred, 'receipt'))) as ShredReceiptRecord).receipt
      : destroyedRecord.receipt;
    if (receipt) await this.keys.storeShredReceipt(userId, Math.max(...versions), receipt);
    this.logger.warn(
      `User ${userId}: crypto-shredded at ${destroyedRecord.destroyedAt}, brought back by a restore; destroyed again (versions ${versions.join(', ')})`,
    );
    // The log records the replay before the audit trail does: while no audit event names it, every later replay appends one.
    const replayed: ShredReplayed = {
      typ: 'crypto-shred',
      state: 'replayed',
      userId,
      shredId: shred.shredId,
      keyVersions: versions,
      replayedAt: await this.tombstoneTime(userId),
      destroyedAt: destroyedRecord.destroyedAt,
      receiptId: receipt ? receiptIdOf(receipt) : null,
    };
    const replayEntry = shredIdOf({ at: replayed.replayedAt, userId, keyVersion: Math.max(...versions) });
    const recorded = await this.write(replayed);
    written.add(replayEntry);
    if (!(await this.appendReplayedEvent(replayed, replayEntry))) {
      counts.auditPending += 1;
      if (!recorded) {
        this.logger.error(
          `User ${userId}: neither the shred log nor the audit trail recorded that the shred ${shred.shredId} was replayed; its key.shred-replayed event is lost`,
        );
      }
    }
    return true;
  }

  /**
   * When the user's tombstone was written, as the database holds it (to the millisecond): the time
   * of a `replayed` record, so a later replay can tell whether the database still holds that
   * destruction. Now, when a new key was made in between.
   */
  private async tombstoneTime(userId: string): Promise<string> {
    const row = await this.keys.findOnPrimary(userId);
    return (row && !row.isActive ? row.updatedAt : new Date()).toISOString();
  }

  /**
   * A `replayed` record of an earlier replay: when the database still holds that destruction (the
   * user's tombstone is the one it wrote) and no `key.shred-replayed` event names it, the event
   * could not be stored then, and is appended now. A database restored to before that replay does
   * not hold it: its audit trail gets the event of the replay that destroys the keys again now.
   */
  private async auditReplayedOnce(ref: ShredLogRef, counts: Counts): Promise<void> {
    const row = await this.keys.findOnPrimary(ref.userId);
    if (!row || row.isActive || row.updatedAt.toISOString() !== shredLogRefTime(ref)) return;
    const events = await this.auditEvents.query({ userId: ref.userId, action: 'key.shred-replayed', limit: 100 });
    if (events.some((event) => event.details?.replayEntry === ref.shredId)) return;
    const replayed = (await this.log.read(ref.name)) as ShredReplayed;
    if (await this.appendReplayedEvent(replayed, ref.shredId)) this.count(counts, 'audit_recovered');
    else counts.auditPending += 1;
  }

  /** Records the replay in the audit trail; false (logged) when the event was not stored. */
  private async appendReplayedEvent(replayed: ShredReplayed, replayEntry: string): Promise<boolean> {
    const { userId, keyVersions, destroyedAt, receiptId, shredId, replayedAt } = replayed;
    try {
      const stored = await this.audit.append({
        action: 'key.shred-replayed',
        outcome: 'success',
        actor: SYSTEM_ACTOR,
        userId,
        keyVersions,
        details: { destroyedAt, receiptId, logEntry: shredId, replayEntry, replayedAt },
      });
      if (stored) return true;
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.logger.error(`The audit trail could not store the key.shred-replayed event of user ${userId} (${reason})`);
    }
    this.logger.warn(
      `User ${userId}: the key.shred-replayed event of ${replayEntry} is not stored; the next replay (the next start) appends it`,
    );
    return false;
  }
}
