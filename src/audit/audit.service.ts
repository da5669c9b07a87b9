import { Injectable } from '@nestjs/common';
import { ApiError, invalidInput } from '../common/api-error';
import { AppConfig } from '../config/app-config';
import { isDateTime } from '../common/date-time';
import { isUuid } from '../common/uuid';
import { AUDIT_PAGE_SIZE, MAX_ACCESS_REPORT_ROWS } from '../common/limits';
import { AuditEventRepository, AuditSnapshot, VerifiedLink } from '../repositories/audit-event.repository';
import { DATA_ACCESS_ACTIONS } from './audit-actions';
import { BrokenLink, ChainAnchor, ChainVerifier, VerifyMode } from './audit-chain';
import { fromRow } from './audit-store.service';
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
      const bounds = { timeoutMs, statementTimeoutMs: this.config.database.statementTimeoutMs };
      return await this.walk('full', async (read) => {
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
    const { result, heads } = await inSnapshot(async (snapshot) => {
      const verifier = new ChainVerifier(await purgeAnchors(snapshot), await snapshot.checkpoints(), mode);
      const outcome = (brokenLink?: BrokenLink) => ({
        result: {
          ok: !brokenLink,
          mode,
          chains: verifier.chains,
          events: verifier.events,
          checkpointed: verifier.checkpointed,
          ...(brokenLink && { brokenLink }),
        },
        heads: brokenLink ? [] : verifier.heads,
      });
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
      return outcome();
    });
    // After the snapshot: a concurrent verification may have moved a checkpoint further meanwhile, and keeps it.
    await this.events.advanceCheckpoints(heads, new Date());
    return result;
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

/** What one walk found, and the heads to checkpoint when it found nothing broken. */
interface WalkOutcome {
  result: VerifyResponse;
  heads: VerifiedLink[];
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
