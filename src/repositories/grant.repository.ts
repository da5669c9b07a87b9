import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { KeyGrant } from './entities/key-grant.entity';
import { SubjectLoader } from '../common/decorators/require-permission.decorator';
import { isUuid } from '../common/uuid';
import { TranslateDatabaseErrors } from './database-errors';
import { ReadOptions, readOn } from './read-from';

export interface NewGrant {
  id: string;
  fromUserId: string;
  toUserId: string;
  reason: string;
  createdBy: string;
  notBefore: Date | null;
  expiresAt: Date | null;
}

/** Grants newest first that one listing returns at most. */
const MAX_LISTED_GRANTS = 500;

/** Delegation grants (`key_grants`) and their approvals (`key_grant_approvals`). */
@Injectable()
@TranslateDatabaseErrors()
export class GrantRepository implements SubjectLoader {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The grant's two people (whose data, and to whom), read on the primary (it authorizes); undefined when no grant has this id. */
  async subjectsOnPrimary(grantId: string): Promise<readonly string[] | undefined> {
    if (!isUuid(grantId)) return undefined;
    const [row] = await this.dataSource.query(
      `SELECT from_user_id::text AS "from", to_user_id::text AS "to" FROM key_grants WHERE id = $1`,
      [grantId],
    );
    return row ? [row.from, row.to] : undefined;
  }

  async insert(grant: NewGrant): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO key_grants (id, from_user_id, to_user_id, reason, created_by, not_before, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [grant.id, grant.fromUserId, grant.toUserId, grant.reason, grant.createdBy, grant.notBefore, grant.expiresAt],
    );
  }

  /** Records one approval; a repeated approval by the same approver changes nothing. */
  async addApproval(grantId: string, approver: string): Promise<void> {
    await this.dataSource.query(`INSERT INTO key_grant_approvals (grant_id, approver) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
      grantId,
      approver,
    ]);
  }

  /** Marks the grant revoked; false when it does not exist or was already revoked. */
  async revoke(grantId: string, revokedBy: string): Promise<boolean> {
    const [, updated] = await this.dataSource.query(
      `UPDATE key_grants SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS NULL`,
      [grantId, revokedBy],
    );
    return (updated as number) > 0;
  }

  /** One grant with its approvals, or null. `grantId` must be a UUID (the column's type). */
  findWithApprovals(grantId: string, { from = 'primary' }: ReadOptions = {}): Promise<KeyGrant | null> {
    return readOn(this.dataSource, from, (db) => db.findOne(KeyGrant, { where: { id: grantId }, relations: { approvals: true } }));
  }

  /**
   * Whether a grant from → to is active at `now` with `required` approvals — the rule of
   * grantState (src/delegation/grant-state.ts), as one query over every grant of the pair
   * however many are pending — read on the primary (it authorizes /translate): the id of one
   * such grant, or null.
   */
  async activeGrantIdOnPrimary(fromUserId: string, toUserId: string, now: Date, required: number): Promise<string | null> {
    const rows: Array<{ id: string }> = await this.dataSource.query(
      `SELECT g.id FROM key_grants g
        WHERE g.from_user_id = $1 AND g.to_user_id = $2 AND g.revoked_at IS NULL
          AND (g.expires_at IS NULL OR g.expires_at > $3) AND (g.not_before IS NULL OR g.not_before <= $3)
          AND (SELECT count(*) FROM key_grant_approvals a WHERE a.grant_id = g.id AND a.approver <> g.created_by) >= $4
        LIMIT 1`,
      [fromUserId, toUserId, now, required],
    );
    return rows[0]?.id ?? null;
  }

  /** The newest grant from → to with its approvals, on the primary (it explains a refused /translate); null when none. */
  newestOfPairOnPrimary(fromUserId: string, toUserId: string): Promise<KeyGrant | null> {
    return readOn(this.dataSource, 'primary', (db) =>
      db.findOne(KeyGrant, { where: { fromUserId, toUserId }, relations: { approvals: true }, order: { createdAt: 'DESC' } }),
    );
  }

  /** Grants with their approvals, newest first, at most MAX_LISTED_GRANTS. */
  list(filter: { fromUserId?: string; toUserId?: string }, { from = 'primary' }: ReadOptions = {}): Promise<KeyGrant[]> {
    return readOn(this.dataSource, from, (db) =>
      db.find(KeyGrant, {
        where: { ...(filter.fromUserId && { fromUserId: filter.fromUserId }), ...(filter.toUserId && { toUserId: filter.toUserId }) },
        relations: { approvals: true },
        order: { createdAt: 'DESC' },
        take: MAX_LISTED_GRANTS,
      }),
    );
  }
}
