import { Inject, Injectable, Optional } from '@nestjs/common';
import { ApiError, invalidInput } from '../common/api-error';
import { AppConfig } from '../config/app-config';
import { isDateTime } from '../common/date-time';
import { isUuid } from '../common/uuid';
import { AUDIT_PAGE_SIZE, MAX_ACCESS_REPORT_ROWS } from '../common/limits';
import { AuditEventRepository, AuditSnapshot, VerifiedLink } from '../repositories/audit-event.repository';
import { DATA_ACCESS_ACTIONS } from './audit-actions';
import { BrokenLink, ChainAnchor, ChainVerifier, VerifyMode } from './audit-chain';
import { fromRow } from './audit-store.service';
import { CHECKPOINT_ANCHOR, CheckpointAnchor, compareWithAnchors } from './checkpoint-anchor';
import { sampleLinks } from './verify-sample';
import { AccessReport, AuditPage, VerifyResponse } from './dto/audit-responses.dto';
import { AuditQuery, TimeRangeQuery, VerifyQuery } from './dto/audit-query.dto';

/** Rows read per query while verifying. */
const VERIFY_PAGE = 2000;

/**
 * Reading the trail: the filtered query, the chain verification and a person's access report.
 * The query and the report are read from a replica when DATABASE_REPLICA_URLS are set (they may
 * lag by its delay); the verification reads the primary.
 */
@Injectable()
export class AuditService {
  /** A full verification is running in this process (the single-flight's first line; the database lock is the cluster's). */
  private fullWalkRunning = false;

  constructor(
    private readonly events: AuditEventRepository,
    private readonly config: AppConfig,
    // Provided by the keys module (CheckpointAnchorModule); absent only in the operator commands, which never verify.
    @Optional() @Inject(CHECKPOINT_ANCHOR) private readonly anchor?: CheckpointAnchor,
  ) {}

  /** Newest first; the cursor is the (time, id) of the last event of the previous page. */
  async query(query: AuditQuery): Promise<AuditPage> {
    const { from, to } = timeRange(query);
    const limit = query.limit ?? AUDIT_PAGE_SIZE.default;
    const rows = await this.events.query(
      {
        userId: query.userId,
        action: query.action,
        actor: query.actor,
        from,
        to,
        before: query.cursor ? decodeCursor(query.cursor) : undefined,
        limit: limit + 1,
      },
      { from: 'replica' },
    );
    const events = rows.slice(0, limit).map(fromRow);
    const last = events.at(-1);
    return { events, nextCursor: rows.length > limit && last ? encodeCursor(last.time, last.id) : null };
  }

  /**
   * Walks the chains, one after another in seq order, in one consistent snapshot and reports
   * the first broken link. Chains cut by a retention purge start at the anchors the purge
   * recorded. Incremental (the default): each chain with a checkpoint starts at the checkpointed
   * event, which must still have the checkpointed hash, and only the events after it are walked.
   * Full: every chain from its start, passing its checkpoint. Only a walk that found nothing
   * broken moves the checkpoints forward, to the last event of each chain it walked.
   *
   * The checkpoints trusted are the signed ones of the anchor store (docs/audit.md, anchored
   * checkpoints): the database's must agree with them (else `checkpoint-not-anchored` or
   * `checkpoint-anchor-mismatch`), an incremental walk also re-checks AUDIT_VERIFY_SAMPLE
   * checkpointed links picked at random, and new checkpoints are signed and anchored before the
   * database's move (503 AUDIT003 when the anchor store fails).
   *
   * The full walk runs one at a time in the whole cluster — a second one, in this process or
   * any replica, is refused at once with 429 AUDIT001 — and is stopped with 503 AUDIT002 after
   * AUDIT_VERIFY_TIMEOUT_MS (docs/audit.md, verification).
   */
  async verify({ full = false }: VerifyQuery = {}): Promise<VerifyResponse> {
    if (!full) return this.walk('incremental', (read) => this.events.inSnapshotOnPrimary(read));
    if (this.fullWalkRunning) throw this.fullWalkBusy();
    this.fullWalkRunning = true;
    try {
      const timeoutMs = this.config.audit.verifyTimeoutMs;
      const started = Date.now();
      return await this.walk('full', async (read) => {
        // The time bound counts from the request: reading the anchors' keys before the walk is part of it.
        const remainingMs = Math.max(1, timeoutMs - (Date.now() - started));
        const bounds = { timeoutMs: remainingMs, statementTimeoutMs: this.config.database.statementTimeoutMs };
        const walked = await this.events.walkExclusivelyOnPrimary(read, bounds);
        if (walked.status === 'done') return walked.value;
        if (walked.status === 'busy') throw this.fullWalkBusy();
        throw new ApiError(
          'AUDIT002',
          `The full verification did not finish within AUDIT_VERIFY_TIMEOUT_MS (${timeoutMs} ms) and was stopped`,
        );
      });
    } finally {
      this.fullWalkRunning = false;
    }
  }

  /** 429 AUDIT001: the running walk ends, done or stopped, within AUDIT_VERIFY_TIMEOUT_MS of its start. */
  private fullWalkBusy(): ApiError {
    return new ApiError('AUDIT001', 'A full verification of the audit trail is already running; try again later', {
      headers: { 'Retry-After': String(Math.ceil(this.config.audit.verifyTimeoutMs / 1000)) },
    });
  }

  private async walk(
    mode: VerifyMode,
    inSnapshot: (read: (snapshot: AuditSnapshot) => Promise<WalkOutcome>) => Promise<WalkOutcome>,
  ): Promise<VerifyResponse> {
    const anchor = this.anchor;
    if (!anchor) throw new Error('No checkpoint anchor: the audit trail is verified by the service, which has one');
    // The keys that check the digests are read now: inside the snapshot, the embedded database's one session is taken.
    const digests = await anchor.reader();
    const { result, heads, adopt } = await inSnapshot(async (snapshot) => {
      const anchors = await purgeAnchors(snapshot);
      const database = await snapshot.checkpoints();
      // Read after the snapshot began: every checkpoint in it was anchored before it was written.
      const newest = await digests.newest();
      // The signed checkpoints are the ones trusted; the database's only before the first is anchored.
      const verifier = new ChainVerifier(anchors, newest ? newest.checkpoints : database, mode);
      const outcome = (brokenLink?: BrokenLink) => ({
        result: {
          ok: !brokenLink,
          mode,
          chains: verifier.chains,
          events: verifier.events,
          checkpointed: verifier.checkpointed,
          sampled: verifier.sampled,
          ...(brokenLink && { brokenLink }),
        },
        heads: brokenLink ? [] : verifier.heads,
        // The first anchored verification anchors the database's checkpoints as it found them first.
        adopt: brokenLink || newest ? [] : database,
      });
      const unanchored = await compareWithAnchors(database, newest, (number) => digests.read(number), anchors);
      if (unanchored) return outcome(unanchored);
      for (const chainId of await snapshot.chainIds()) {
        let fromSeq = verifier.startSeq(chainId);
        for (;;) {
          const rows = await snapshot.page(chainId, fromSeq, VERIFY_PAGE);
          for (const row of rows) {
            const brokenLink = verifier.accept(fromRow(row));
            if (brokenLink) return outcome(brokenLink);
          }
          if (rows.length < VERIFY_PAGE) break;
          fromSeq = Number(rows[rows.length - 1].seq) + 1;
        }
        const brokenLink = verifier.endChain(chainId);
        if (brokenLink) return outcome(brokenLink);
      }
      return outcome(verifier.endTrail() ?? (await this.sample(snapshot, verifier)));
    });
    if (heads.length) {
      // Signed and written once outside the database before the database's checkpoints move (docs/audit.md).
      const verifiedAt = new Date();
      if (adopt.length) await anchor.anchor(adopt, verifiedAt);
      await anchor.anchor(heads, verifiedAt);
      // After the snapshot: a concurrent verification may have moved a checkpoint further meanwhile, and keeps it.
      await this.events.advanceCheckpoints(heads, verifiedAt);
    }
    return result;
  }

  /**
   * Re-checks AUDIT_VERIFY_SAMPLE links, picked at random among the checkpointed events an
   * incremental walk did not walk again (each with the event before it): an edit of history
   * before a checkpoint is found with the probability docs/audit.md states, without a full walk.
   */
  private async sample(snapshot: AuditSnapshot, verifier: ChainVerifier): Promise<BrokenLink | undefined> {
    for (const { chainId, seqs } of sampleLinks(verifier.checkpointedRanges, this.config.audit.verifySample)) {
      for (let start = 0; start < seqs.length; start += VERIFY_PAGE / 2) {
        const batch = seqs.slice(start, start + VERIFY_PAGE / 2);
        const rows = await snapshot.at(chainId, [...new Set(batch.flatMap((seq) => [seq - 1, seq]))]);
        const bySeq = new Map(rows.map((row) => [Number(row.seq), fromRow(row)]));
        for (const seq of batch) {
          // A sampled event that is gone: the next one still there shows the gap.
          const event = bySeq.get(seq) ?? (await snapshot.page(chainId, seq, 1)).map(fromRow)[0];
          const brokenLink = event && verifier.acceptSampled(event, bySeq.get(event.seq - 1));
          if (brokenLink) return brokenLink;
        }
      }
    }
    return undefined;
  }

  /**
   * Who encrypted, decrypted or re-encrypted one person's data: per caller, action and stated
   * purpose, how many requests and items, first and last time. Successful operations only.
   */
  async accessReport(userId: string, range: TimeRangeQuery): Promise<AccessReport> {
    const { from, to } = timeRange(range);
    const rows = await this.events.accessReport(userId, DATA_ACCESS_ACTIONS, { from, to }, MAX_ACCESS_REPORT_ROWS + 1, { from: 'replica' });
    return {
      userId,
      from: from?.toISOString() ?? null,
      to: to?.toISOString() ?? null,
      accesses: rows.slice(0, MAX_ACCESS_REPORT_ROWS).map((row) => ({
        actor: { sub: row.actorSub, clientId: row.actorClientId, username: row.actorUsername },
        action: row.action,
        purpose: row.purpose,
        requests: row.requests,
        items: row.items,
        firstAt: row.firstAt.toISOString(),
        lastAt: row.lastAt.toISOString(),
      })),
      truncated: rows.length > MAX_ACCESS_REPORT_ROWS,
    };
  }
}

/** What one walk found, the heads to checkpoint when it found nothing broken, and the database's checkpoints to anchor first (the first time). */
interface WalkOutcome {
  result: VerifyResponse;
  heads: VerifiedLink[];
  adopt: VerifiedLink[];
}

/** Anchors recorded by the retention purges still in the trail. */
async function purgeAnchors(snapshot: AuditSnapshot): Promise<ChainAnchor[]> {
  return (await snapshot.purgeDetails()).flatMap((details) => {
    const anchors = details?.anchors;
    return Array.isArray(anchors) ? (anchors as ChainAnchor[]) : [];
  });
}

function timeRange(range: TimeRangeQuery): { from?: Date; to?: Date } {
  const from = range.from === undefined ? undefined : new Date(range.from);
  const to = range.to === undefined ? undefined : new Date(range.to);
  if (from && to && from > to) throw invalidInput('from must not be later than to');
  return { from, to };
}

function encodeCursor(time: string, id: string): string {
  return Buffer.from(JSON.stringify([time, id])).toString('base64url');
}

function decodeCursor(cursor: string): { time: Date; id: string } {
  try {
    const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // The time as encodeCursor wrote it: an instant the database can hold, never an arbitrary Date.
    if (isDateTime(time) && isUuid(id)) return { time: new Date(time), id };
  } catch {
    // falls through to the refusal below
  }
  throw invalidInput('cursor must be a nextCursor returned by this API');
}
