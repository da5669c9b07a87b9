import { Inject, Injectable, Logger } from '@nestjs/common';
import { AuditWriter, SYSTEM_ACTOR } from '../audit/audit-writer.service';
import { ApiError } from '../common/api-error';
import { failpoint } from '../common/failpoints';
import { SHRED_REPLAY_OVERLAP_MS } from '../common/limits';
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
  /** Where the log is (bucket and prefix, or directory). */
  log: string;
}

type Counts = Omit<ShredReplayResult, 'log'>;

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
 * - a state this version does not know (`scheduled`, `cancelled` of a later version…): ignored
 *   with a warning; nothing is ever destroyed for it.
 *
 * Which shreds: every one since the newest shred the database itself holds (its newest
 * tombstone), less SHRED_REPLAY_OVERLAP_MS against disagreeing clocks — a backup contains every
 * shred committed before it, so older ones are already in it. Replaying is idempotent, and
 * replicas replaying at once are safe: the destruction locks the user's row, and the one that
 * finds the key gone (KEY001) or another version does nothing (KEY002, a held row, is retried).
 *
 * Each user destroyed again is recorded as a `key.shred-replayed` audit event (actor `system`)
 * and gets the original receipt back on its tombstone, so a repeated DELETE answers with it.
 */
@Injectable()
export class ShredReplayService {
  private readonly logger = new Logger('ShredReplay');

  constructor(
    private readonly keys: UserKeyRepository,
    private readonly material: KeyMaterialService,
    private readonly audit: AuditWriter,
    @Inject(SHRED_LOG) private readonly log: ShredLog,
  ) {}

  async replay(): Promise<ShredReplayResult> {
    const newest = await this.keys.latestShredOnPrimary();
    const after = newest ? shredLogBound(new Date(newest.getTime() - SHRED_REPLAY_OVERLAP_MS)) : undefined;
    const counts: Counts = { replayed: 0, examined: 0, completed: 0, aborted: 0 };
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
      await this.settle(complete, counts);
    }
    if (open) await this.settle([open], counts);
    return { ...counts, log: this.log.location };
  }

  /** Settles a page's shreds: open intents from the database, then the committed ones against the live keys. */
  private async settle(shreds: Shred[], counts: Counts): Promise<void> {
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
        const settled = await this.settleIntent(shred, intent);
        if (settled) counts[settled] += 1;
      }
    }

    const live = await this.keys.activeVersionsOnPrimary([...new Set(committed.map(({ shred }) => shred.userId))]);
    for (const { shred, destroyed } of committed) {
      const current = live.get(shred.userId);
      if (current === undefined || current > shred.keyVersion) continue;
      if (await this.replayOne(shred, destroyed, current)) {
        counts.replayed += 1;
        live.delete(shred.userId);
      }
    }
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
  private async replayOne(shred: Shred, legacy: ShredDestroyed | undefined, current: number): Promise<boolean> {
    const { userId } = shred;
    const destroyedRecord = legacy ?? ((await this.log.read(this.named(shred, 'destroyed'))) as ShredDestroyed);
    let destroyed: Array<{ keyVersion: number }> | null;
    try {
      destroyed = await this.keys.destroy(userId, { generation: { keyVersion: current } });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'KEY001') return false;
      throw error;
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
    await this.audit.append({
      action: 'key.shred-replayed',
      outcome: 'success',
      actor: SYSTEM_ACTOR,
      userId,
      keyVersions: versions,
      details: { destroyedAt: destroyedRecord.destroyedAt, receiptId: receipt ? receiptIdOf(receipt) : null, logEntry: shred.shredId },
    });
    this.logger.warn(
      `User ${userId}: crypto-shredded at ${destroyedRecord.destroyedAt}, brought back by a restore; destroyed again (versions ${versions.join(', ')})`,
    );
    return true;
  }
}
