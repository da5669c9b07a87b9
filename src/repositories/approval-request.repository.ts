import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TranslateDatabaseErrors } from './database-errors';

/** A request for a destructive action under the two-person rule (src/dual-control), as stored. */
export interface ApprovalRequestRow {
  id: string;
  action: string;
  target: string;
  requestedBy: string;
  createdAt: Date;
  expiresAt: Date;
  /** Set when a call ran the action under this request (it may run once); null until then. */
  usedAt: Date | null;
  usedBy: string | null;
  /** Every approval recorded, oldest first (the requester's own is never recorded). */
  approvals: Array<{ approver: string; approvedAt: Date }>;
}

export interface NewApprovalRequest {
  id: string;
  action: string;
  target: string;
  requestedBy: string;
  ttlSeconds: number;
}

/** Requests one listing returns at most, newest first. */
const MAX_LISTED_REQUESTS = 100;

type Row = {
  id: string;
  action: string;
  target: string;
  requested_by: string;
  created_at: Date | string;
  expires_at: Date | string;
  used_at: Date | string | null;
  used_by: string | null;
};

const COLUMNS = 'id, action, target, requested_by, created_at, expires_at, used_at, used_by';
const date = (value: Date | string) => new Date(value);

/**
 * Approval requests (`approval_requests`) and their approvals (`approval_request_approvals`).
 * Every read is on the primary: each one authorizes a destructive action or follows a write.
 */
@Injectable()
@TranslateDatabaseErrors()
export class ApprovalRequestRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Stores a request; it expires `ttlSeconds` after now by the database clock. */
  async insert(request: NewApprovalRequest): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO approval_requests (id, action, target, requested_by, expires_at)
       VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second')`,
      [request.id, request.action, request.target, request.requestedBy, request.ttlSeconds],
    );
  }

  /** Records one approval; a repeated approval by the same approver changes nothing. */
  async addApproval(requestId: string, approver: string): Promise<void> {
    await this.dataSource.query(`INSERT INTO approval_request_approvals (request_id, approver) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
      requestId,
      approver,
    ]);
  }

  /** One request with its approvals, from the primary; null when none has this id (a UUID). */
  async findOnPrimary(id: string): Promise<ApprovalRequestRow | null> {
    const rows: Row[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM approval_requests WHERE id = $1`, [id]);
    if (!rows.length) return null;
    return (await this.withApprovals(rows))[0];
  }

  /** The newest requests with their approvals, from the primary, at most MAX_LISTED_REQUESTS. */
  async listOnPrimary(): Promise<ApprovalRequestRow[]> {
    const rows: Row[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM approval_requests ORDER BY created_at DESC, id LIMIT ${MAX_LISTED_REQUESTS}`,
    );
    return this.withApprovals(rows);
  }

  /**
   * Marks the request used by `usedBy` — once: only while it is unused, unexpired by the database
   * clock, for this action and target, and approved by at least `required` identities other than
   * its requester (the rule of src/common/approvals.ts, as one statement). False otherwise.
   */
  async use(id: string, action: string, target: string, usedBy: string, required: number): Promise<boolean> {
    // TypeORM answers an UPDATE … RETURNING as [rows, count].
    const [used] = await this.dataSource.query(
      `UPDATE approval_requests r SET used_at = now(), used_by = $4
        WHERE r.id = $1 AND r.action = $2 AND r.target = $3 AND r.used_at IS NULL AND r.expires_at > now()
          AND (SELECT count(*) FROM approval_request_approvals a WHERE a.request_id = r.id AND a.approver <> r.requested_by) >= $5
    RETURNING r.id`,
      [id, action, target, usedBy, required],
    );
    return (used as unknown[]).length > 0;
  }

  /** Gives back a use whose action failed, so the approved request can run it again (best effort by the caller). */
  async release(id: string, usedBy: string): Promise<void> {
    await this.dataSource.query(`UPDATE approval_requests SET used_at = NULL, used_by = NULL WHERE id = $1 AND used_by = $2`, [id, usedBy]);
  }

  private async withApprovals(rows: Row[]): Promise<ApprovalRequestRow[]> {
    const approvals: Array<{ request_id: string; approver: string; approved_at: Date | string }> = rows.length
      ? await this.dataSource.query(
          `SELECT request_id, approver, approved_at FROM approval_request_approvals
            WHERE request_id = ANY($1::uuid[]) ORDER BY approved_at, approver`,
          [rows.map((row) => row.id)],
        )
      : [];
    return rows.map((row) => ({
      id: row.id,
      action: row.action,
      target: row.target,
      requestedBy: row.requested_by,
      createdAt: date(row.created_at),
      expiresAt: date(row.expires_at),
      usedAt: row.used_at === null ? null : date(row.used_at),
      usedBy: row.used_by,
      approvals: approvals
        .filter((approval) => approval.request_id === row.id)
        .map((approval) => ({ approver: approval.approver, approvedAt: date(approval.approved_at) })),
    }));
  }
}
