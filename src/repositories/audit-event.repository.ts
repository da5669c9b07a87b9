import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditEventRow } from './entities/audit-event.entity';
import { TranslateDatabaseErrors } from './database-errors';
import { ReadOptions, readOn } from './read-from';

/** Filters of GET /audit; `before` is the (time, id) of the last event of the previous page. */
export interface AuditEventFilter {
  userId?: string;
  action?: string;
  actor?: string;
  from?: Date;
  to?: Date;
  before?: { time: Date; id: string };
  limit: number;
}

/** One line of an access report: one caller, action and purpose. */
export interface AccessReportRow {
  actorSub: string | null;
  actorClientId: string | null;
  actorUsername: string | null;
  action: string;
  purpose: string | null;
  requests: number;
  items: number;
  firstAt: Date;
  lastAt: Date;
}

/** The trail read in one consistent snapshot. */
export interface AuditSnapshot {
  /** `details` of every retention purge event still in the trail. */
  purgeDetails(): Promise<Array<Record<string, unknown> | null>>;
  /** Every verified checkpoint (audit_checkpoints). */
  checkpoints(): Promise<VerifiedLink[]>;
  /** The id of every chain holding at least one event, in order (one index probe per chain). */
  chainIds(): Promise<string[]>;
  /** Up to `limit` events of one chain in seq order, from `fromSeq` on. */
  page(chainId: string, fromSeq: number, limit: number): Promise<AuditEventRow[]>;
  /** The events of one chain at these seqs (those still there), in seq order: one index probe each. */
  at(chainId: string, seqs: readonly number[]): Promise<AuditEventRow[]>;
}

/** A chain's last link a verification walked (a row of audit_checkpoints). */
export interface VerifiedLink {
  chainId: string;
  seq: number;
  eventId: string;
  hash: string;
}

/** Where a retention purge cut a chain: its events through `seq` (whose hash is `hash`) are gone. */
export interface ChainCut {
  chainId: string;
  seq: number;
  hash: string;
}

/** Any fixed 64-bit number, the same in every replica: only one replica purges at a time. */
const PURGE_LOCK_ID = '5189023376409912207';
/** Any fixed 64-bit number, the same in every replica: one full verification at a time in the cluster. */
export const FULL_VERIFY_LOCK_ID = '3316045285537440787';

/** How a walk of `walkExclusivelyOnPrimary` ended. */
export type ExclusiveWalk<T> = { status: 'done'; value: T } | { status: 'busy' } | { status: 'timed-out' };

/** Bounds of `walkExclusivelyOnPrimary`. */
export interface WalkBounds {
  /** The walk is stopped at its first statement after this many milliseconds. */
  timeoutMs: number;
  /** No statement of the walk runs longer than the smaller of this and `timeoutMs` (PostgreSQL's statement_timeout). */
  statementTimeoutMs: number;
}

/** SQLSTATE of a statement cancelled by statement_timeout (or by an administrator). */
const QUERY_CANCELED = '57014';

class WalkDeadlineExceeded extends Error {}

/**
 * The audit trail (`audit_events`, append-only: a trigger refuses UPDATE and DELETE; only the
 * retention purge deletes, through the SECURITY DEFINER function `audit_purge_chain_prefix`,
 * migration 1764000960000).
 */
@Injectable()
@TranslateDatabaseErrors()
export class AuditEventRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Appends the rows in one INSERT. */
  async insert(rows: readonly AuditEventRow[]): Promise<void> {
    await insertRows(this.dataSource.manager, rows);
  }

  /** The newest stored link of a chain, from the primary (the next append follows it). */
  async lastLinkOnPrimary(chainId: string): Promise<{ seq: string; hash: string } | null> {
    return readOn(this.dataSource, 'primary', (db) =>
      db.findOne(AuditEventRow, { select: { seq: true, hash: true }, where: { chainId }, order: { seq: 'DESC' } }),
    );
  }

  /** Events matching `filter`, newest first (time, then id). */
  query(filter: AuditEventFilter, { from = 'primary' }: ReadOptions = {}): Promise<AuditEventRow[]> {
    return readOn(this.dataSource, from, (db) => {
      const select = db
        .createQueryBuilder(AuditEventRow, 'e')
        .orderBy('e.occurredAt', 'DESC')
        .addOrderBy('e.id', 'DESC')
        .limit(filter.limit);
      if (filter.userId) select.andWhere('e.targetUserId = :userId', { userId: filter.userId });
      if (filter.action) select.andWhere('e.action = :action', { action: filter.action });
      if (filter.actor) {
        select.andWhere('(e.actorSub = :actor OR e.actorClientId = :actor OR e.actorUsername = :actor)', { actor: filter.actor });
      }
      if (filter.from) select.andWhere('e.occurredAt >= :from', { from: filter.from });
      if (filter.to) select.andWhere('e.occurredAt < :to', { to: filter.to });
      if (filter.before) {
        select.andWhere('(e.occurredAt, e.id) < (:cursorTime, :cursorId)', { cursorTime: filter.before.time, cursorId: filter.before.id });
      }
      return select.getMany();
    });
  }

  /**
   * Runs `read` in one REPEATABLE READ transaction on the primary, so every page sees the same
   * trail and the same checkpoints.
   */
  inSnapshotOnPrimary<T>(read: (snapshot: AuditSnapshot) => Promise<T>): Promise<T> {
    return this.dataSource.transaction('REPEATABLE READ', (db) => read(snapshotOf(db)));
  }

  /**
   * `inSnapshotOnPrimary`, one at a time across every replica and bounded in time: inside the
   * transaction it takes a transaction advisory lock without waiting (`busy` when another walk
   * holds it; the lock goes with the transaction, whatever ends it), and stops with `timed-out`
   * once `timeoutMs` have passed since the call, checked before each statement and enforced by
   * PostgreSQL's statement_timeout within a statement. So at most one pooled connection of the
   * whole cluster, and one snapshot holding back vacuum, is spent on such walks, for at most
   * about `timeoutMs`. (PGlite has one session, whose advisory locks never conflict, and ignores
   * statement_timeout: there the caller's in-process single-flight and the checks between
   * statements are what hold.)
   */
  async walkExclusivelyOnPrimary<T>(read: (snapshot: AuditSnapshot) => Promise<T>, bounds: WalkBounds): Promise<ExclusiveWalk<T>> {
    const deadline = Date.now() + bounds.timeoutMs;
    try {
      return await this.dataSource.transaction('REPEATABLE READ', async (db): Promise<ExclusiveWalk<T>> => {
        const [{ locked }] = await db.query('SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', [FULL_VERIFY_LOCK_ID]);
        if (!locked) return { status: 'busy' };
        const statementTimeout = Math.min(bounds.timeoutMs, bounds.statementTimeoutMs);
        await db.query(`SELECT set_config('statement_timeout', $1, true)`, [String(statementTimeout)]);
        const value = await read(
          snapshotOf(db, () => {
            if (Date.now() >= deadline) throw new WalkDeadlineExceeded();
          }),
        );
        return { status: 'done', value };
      });
    } catch (error) {
      if (error instanceof WalkDeadlineExceeded || sqlStateOf(error) === QUERY_CANCELED) return { status: 'timed-out' };
      throw error;
    }
  }

  /**
   * Moves each chain's checkpoint to `links`, on the primary, forward only: a checkpoint already
   * at a greater seq (a concurrent verification got further) is left alone; one at the same link
   * only gets the new time.
   */
  async advanceCheckpoints(links: readonly VerifiedLink[], verifiedAt: Date): Promise<void> {
    if (!links.length) return;
    await this.dataSource.query(
      `INSERT INTO audit_checkpoints AS c (chain_id, seq, event_id, hash, verified_at)
       SELECT chain_id, seq, event_id, hash, $5 FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[]) AS l (chain_id, seq, event_id, hash)
       ON CONFLICT (chain_id) DO UPDATE SET seq = EXCLUDED.seq, event_id = EXCLUDED.event_id, hash = EXCLUDED.hash, verified_at = EXCLUDED.verified_at
        WHERE c.seq < EXCLUDED.seq OR (c.seq = EXCLUDED.seq AND c.hash = EXCLUDED.hash)`,
      [
        links.map((link) => link.chainId),
        links.map((link) => String(link.seq)),
        links.map((link) => link.eventId),
        links.map((link) => link.hash),
        verifiedAt,
      ],
    );
  }

  /**
   * Successful events of `actions` about one person, grouped by caller, action and purpose,
   * most recent first, at most `limit` groups; `range` is from ≤ time < to.
   */
  async accessReport(
    userId: string,
    actions: readonly string[],
    range: { from?: Date; to?: Date },
    limit: number,
    { from = 'primary' }: ReadOptions = {},
  ): Promise<AccessReportRow[]> {
    const rows: Array<Record<string, any>> = await readOn(this.dataSource, from, (db) =>
      db.query(
        `SELECT actor_sub, actor_client_id, actor_username, action, purpose,
                count(*) AS requests, coalesce(sum(item_count), 0) AS items,
                min(occurred_at) AS first_at, max(occurred_at) AS last_at
           FROM audit_events
          WHERE target_user_id = $1 AND action = ANY($2) AND outcome = 'success'
            AND ($3::timestamptz IS NULL OR occurred_at >= $3)
            AND ($4::timestamptz IS NULL OR occurred_at < $4)
          GROUP BY actor_sub, actor_client_id, actor_username, action, purpose
          ORDER BY last_at DESC, action
          LIMIT $5`,
        [userId, actions, range.from ?? null, range.to ?? null, limit],
      ),
    );
    return rows.map((row) => ({
      actorSub: row.actor_sub,
      actorClientId: row.actor_client_id,
      actorUsername: row.actor_username,
      action: row.action,
      purpose: row.purpose,
      requests: Number(row.requests),
      items: Number(row.items),
      firstAt: new Date(row.first_at),
      lastAt: new Date(row.last_at),
    }));
  }

  /**
   * Retention purge, in one transaction on the primary: deletes every chain's prefix up to its
   * last event older than the cutoff, then inserts the row `record` makes from the cuts (the
   * purge's own event, which anchors the chains where they now start). The cutoff is `before`,
   * or the database's now minus `retentionDays` if that is earlier: the deletes go through
   * `audit_purge_chain_prefix`, which refuses any event younger than `retentionDays` by the
   * database's clock (and a retention under 1 day). Returns the number of events deleted (0 when
   * none was old enough, and then `record` is not called), or undefined when another replica
   * holds the purge lock.
   */
  async purgeBefore(
    before: Date,
    retentionDays: number,
    record: (purge: { purged: number; cuts: ChainCut[]; cutoff: Date }) => AuditEventRow,
  ): Promise<number | undefined> {
    return this.dataSource.transaction(async (tx) => {
      const [{ locked }] = await tx.query('SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', [PURGE_LOCK_ID]);
      if (!locked) return undefined;
      const [{ cutoff }] = await tx.query(`SELECT least($1::timestamptz, now() - make_interval(days => $2)) AS cutoff`, [
        before,
        retentionDays,
      ]);
      const cuts: Array<{ chain_id: string; seq: string; hash: string }> = await tx.query(
        `SELECT DISTINCT ON (chain_id) chain_id, seq, hash FROM audit_events
          WHERE occurred_at < $1 ORDER BY chain_id, seq DESC`,
        [cutoff],
      );
      if (!cuts.length) return 0;
      // One statement per chain, so each is a range of the (chain_id, seq) index: in one statement
      // joined to the list of cuts, PostgreSQL read the whole table (bench:scale: a day's purge
      // took 13× longer at 10 million events than at 100,000).
      let purged = 0;
      for (const cut of cuts) {
        const [{ deleted }] = await tx.query(`SELECT audit_purge_chain_prefix($1, $2, $3) AS deleted`, [
          cut.chain_id,
          cut.seq,
          retentionDays,
        ]);
        purged += Number(deleted);
      }
      const row = record({
        purged,
        cuts: cuts.map((cut) => ({ chainId: cut.chain_id, seq: Number(cut.seq), hash: cut.hash })),
        cutoff: new Date(cutoff),
      });
      await insertRows(tx, [row]);
      return purged;
    });
  }
}

/** The trail as one transaction `db` sees it; `beforeEach` runs before every statement (a deadline check). */
function snapshotOf(db: EntityManager, beforeEach: () => void = () => undefined): AuditSnapshot {
  const query = <R>(sql: string, params?: unknown[]): Promise<R[]> => {
    beforeEach();
    return db.query(sql, params);
  };
  return {
    purgeDetails: async () => {
      beforeEach();
      return (await db.find(AuditEventRow, { select: { details: true }, where: { action: 'audit.purge' } })).map((row) => row.details);
    },
    checkpoints: async () => {
      const rows = await query<{ chain_id: string; seq: string; event_id: string; hash: string }>(
        `SELECT chain_id, seq, event_id, hash FROM audit_checkpoints`,
      );
      return rows.map((row) => ({ chainId: row.chain_id, seq: Number(row.seq), eventId: row.event_id, hash: row.hash }));
    },
    chainIds: async () => {
      // A loose index scan of (chain_id, seq): one probe per chain, however many events each holds.
      const rows = await query<{ chain_id: string }>(
        `WITH RECURSIVE chains (chain_id) AS (
           (SELECT chain_id FROM audit_events ORDER BY chain_id LIMIT 1)
           UNION ALL
           SELECT (SELECT e.chain_id FROM audit_events e WHERE e.chain_id > chains.chain_id ORDER BY e.chain_id LIMIT 1)
             FROM chains WHERE chains.chain_id IS NOT NULL
         )
         SELECT chain_id FROM chains WHERE chain_id IS NOT NULL`,
      );
      return rows.map((row) => row.chain_id);
    },
    page: (chainId, fromSeq, limit) => {
      beforeEach();
      return db
        .createQueryBuilder(AuditEventRow, 'e')
        .where('e.chainId = :chainId AND e.seq >= :fromSeq', { chainId, fromSeq: String(fromSeq) })
        .orderBy('e.seq')
        .limit(limit)
        .getMany();
    },
    at: (chainId, seqs) => {
      beforeEach();
      return db
        .createQueryBuilder(AuditEventRow, 'e')
        .where('e.chainId = :chainId AND e.seq = ANY(CAST(:seqs AS bigint[]))', { chainId, seqs: seqs.map(String) })
        .orderBy('e.seq')
        .getMany();
    },
  };
}

/** The SQLSTATE of a pg error, as thrown or as wrapped by TypeORM's QueryFailedError. */
function sqlStateOf(error: unknown): string | undefined {
  const { code, driverError } = (error ?? {}) as { code?: unknown; driverError?: { code?: unknown } };
  const state = typeof code === 'string' ? code : driverError?.code;
  return typeof state === 'string' ? state : undefined;
}

/** The columns of audit_events, in the order of INSERT_ROWS's parameters. */
const COLUMNS = [
  'id',
  'chain_id',
  'seq',
  'occurred_at',
  'request_id',
  'actor_sub',
  'actor_client_id',
  'actor_username',
  'action',
  'target_user_id',
  'key_versions',
  'item_count',
  'outcome',
  'error_code',
  'source_ip',
  'purpose',
  'details',
  'prev_hash',
  'hash',
  'trace_id',
].join(', ');

/**
 * Any number of rows in one statement of constant text: one array parameter per column, zipped
 * by unnest (arrays of arrays and JSON travel as text and are cast per row). The driver's work
 * does not grow with parameters per row, and PostgreSQL plans one statement.
 */
const INSERT_ROWS = `
  INSERT INTO audit_events (${COLUMNS})
  SELECT id, chain_id, seq, occurred_at, request_id, actor_sub, actor_client_id, actor_username, action,
         target_user_id, key_versions::integer[], item_count, outcome, error_code, source_ip, purpose, details::jsonb, prev_hash, hash,
         trace_id
    FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::varchar[], $6::varchar[], $7::varchar[],
                $8::varchar[], $9::varchar[], $10::bigint[], $11::text[], $12::integer[], $13::varchar[], $14::varchar[],
                $15::varchar[], $16::varchar[], $17::text[], $18::text[], $19::text[], $20::text[])
      AS e (${COLUMNS})`;

function insertRows(db: EntityManager, rows: readonly AuditEventRow[]): Promise<unknown> {
  const column = <T>(value: (row: AuditEventRow) => T): T[] => rows.map(value);
  return db.query(INSERT_ROWS, [
    column((r) => r.id),
    column((r) => r.chainId),
    column((r) => r.seq),
    column((r) => r.occurredAt.toISOString()),
    column((r) => r.requestId),
    column((r) => r.actorSub),
    column((r) => r.actorClientId),
    column((r) => r.actorUsername),
    column((r) => r.action),
    column((r) => (r.targetUserId === null ? null : String(r.targetUserId))),
    column((r) => `{${r.keyVersions.join(',')}}`),
    column((r) => r.itemCount),
    column((r) => r.outcome),
    column((r) => r.errorCode),
    column((r) => r.sourceIp),
    column((r) => r.purpose),
    column((r) => (r.details === null ? null : JSON.stringify(r.details))),
    column((r) => r.prevHash),
    column((r) => r.hash),
    column((r) => r.traceId ?? null),
  ]);
}
