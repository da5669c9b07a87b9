import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { invalidInput } from '../common/api-error';
import { AUDIT_PAGE_SIZE, MAX_ACCESS_REPORT_ROWS } from '../common/limits';
import { DATA_ACCESS_ACTIONS } from './audit-actions';
import { ChainAnchor, ChainVerifier } from './audit-chain';
import { fromRow } from './audit-store';
import { AccessReport, AuditPage, VerifyResponse } from './dto/audit-responses.dto';
import { AuditQuery, TimeRangeQuery } from './dto/audit-query.dto';
import { AuditEventRow } from './entities/audit-event.entity';

/** Rows read per query while verifying. */
const VERIFY_PAGE = 2000;

/** Reading the trail: the filtered query, the chain verification and a person's access report. */
@Injectable()
export class AuditService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Newest first; the cursor is the (time, id) of the last event of the previous page. */
  async query(query: AuditQuery): Promise<AuditPage> {
    const { from, to } = timeRange(query);
    const limit = query.limit ?? AUDIT_PAGE_SIZE.default;
    const select = this.dataSource.manager
      .createQueryBuilder(AuditEventRow, 'e')
      .orderBy('e.occurredAt', 'DESC')
      .addOrderBy('e.id', 'DESC')
      .limit(limit + 1);
    if (query.userId) select.andWhere('e.targetUserId = :userId', { userId: query.userId });
    if (query.action) select.andWhere('e.action = :action', { action: query.action });
    if (query.actor) {
      select.andWhere('(e.actorSub = :actor OR e.actorClientId = :actor OR e.actorUsername = :actor)', { actor: query.actor });
    }
    if (from) select.andWhere('e.occurredAt >= :from', { from });
    if (to) select.andWhere('e.occurredAt < :to', { to });
    if (query.cursor) {
      const cursor = decodeCursor(query.cursor);
      select.andWhere('(e.occurredAt, e.id) < (:cursorTime, :cursorId)', { cursorTime: cursor.time, cursorId: cursor.id });
    }
    const rows = await select.getMany();
    const events = rows.slice(0, limit).map(fromRow);
    const last = events.at(-1);
    return { events, nextCursor: rows.length > limit && last ? encodeCursor(last.time, last.id) : null };
  }

  /**
   * Walks every chain in (chain, seq) order in one consistent snapshot and reports the first
   * broken link. Chains cut by a retention purge start at the anchors the purge recorded.
   */
  async verify(): Promise<VerifyResponse> {
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      const verifier = new ChainVerifier(await purgeAnchors(manager));
      let after: { chainId: string; seq: string } | undefined;
      for (;;) {
        const page = manager
          .createQueryBuilder(AuditEventRow, 'e')
          .orderBy('e.chainId')
          .addOrderBy('e.seq')
          .limit(VERIFY_PAGE);
        if (after) page.where('(e.chainId, e.seq) > (:chainId, :seq)', after);
        const rows = await page.getMany();
        for (const row of rows) {
          const brokenLink = verifier.accept(fromRow(row));
          if (brokenLink) return { ok: false, chains: verifier.chains, events: verifier.events, brokenLink };
        }
        if (rows.length < VERIFY_PAGE) break;
        after = { chainId: rows[rows.length - 1].chainId, seq: rows[rows.length - 1].seq };
      }
      return { ok: true, chains: verifier.chains, events: verifier.events };
    });
  }

  /**
   * Who encrypted, decrypted or re-encrypted one person's data: per caller, action and stated
   * purpose, how many requests and items, first and last time. Successful operations only.
   */
  async accessReport(userId: string, range: TimeRangeQuery): Promise<AccessReport> {
    const { from, to } = timeRange(range);
    const rows: Array<Record<string, any>> = await this.dataSource.query(
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
      [userId, DATA_ACCESS_ACTIONS, from ?? null, to ?? null, MAX_ACCESS_REPORT_ROWS + 1],
    );
    return {
      userId,
      from: from?.toISOString() ?? null,
      to: to?.toISOString() ?? null,
      accesses: rows.slice(0, MAX_ACCESS_REPORT_ROWS).map((row) => ({
        actor: { sub: row.actor_sub, clientId: row.actor_client_id, username: row.actor_username },
        action: row.action,
        purpose: row.purpose,
        requests: Number(row.requests),
        items: Number(row.items),
        firstAt: new Date(row.first_at).toISOString(),
        lastAt: new Date(row.last_at).toISOString(),
      })),
      truncated: rows.length > MAX_ACCESS_REPORT_ROWS,
    };
  }
}

/** Anchors recorded by the retention purges still in the trail. */
async function purgeAnchors(manager: EntityManager): Promise<ChainAnchor[]> {
  const purges = await manager.find(AuditEventRow, { select: { details: true }, where: { action: 'audit.purge' } });
  return purges.flatMap((row) => {
    const anchors = row.details?.anchors;
    return Array.isArray(anchors) ? (anchors as ChainAnchor[]) : [];
  });
}

function timeRange(range: TimeRangeQuery): { from?: Date; to?: Date } {
  const from = range.from === undefined ? undefined : new Date(range.from);
  const to = range.to === undefined ? undefined : new Date(range.to);
  if (from && to && from > to) throw invalidInput('from must not be later than to');
  return { from, to };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function encodeCursor(time: string, id: string): string {
  return Buffer.from(JSON.stringify([time, id])).toString('base64url');
}

function decodeCursor(cursor: string): { time: Date; id: string } {
  try {
    const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const date = new Date(time);
    if (typeof time === 'string' && !Number.isNaN(date.getTime()) && typeof id === 'string' && UUID.test(id)) return { time: date, id };
  } catch {
    // falls through to the refusal below
  }
  throw invalidInput('cursor must be a nextCursor returned by this API');
}
