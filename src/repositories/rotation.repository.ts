import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { toUserId } from '../common/user-id';
import { RotationReason } from '../keys/entities/user-key-history.entity';
import { TranslateDatabaseErrors } from './database-errors';
import { NewKeyVersion, replaceCurrentKeyIn } from './user-key.repository';

/** Longest a rotation may hold a user before another may start (KMS calls are bounded well below). */
const ROTATION_LEASE_SECONDS = 120;

/** Rotation bookkeeping: per-user leases, the scheduled job's claims, history retention, the clock. */
@Injectable()
@TranslateDatabaseErrors()
export class RotationRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Claims the user's rotation lease for ROTATION_LEASE_SECONDS: a row claim, not a held
   * connection, so it expires by itself if this process dies. Returns the current key version,
   * or null when the user has no active key or another rotation holds an unexpired lease.
   */
  async claimLease(userId: string, leaseId: string): Promise<number | null> {
    const [claimed] = await this.dataSource.query(
      `UPDATE user_keys SET rotation_lease_id = $2, rotation_lease_until = now() + make_interval(secs => $3)
        WHERE user_id = $1 AND is_active AND (rotation_lease_until IS NULL OR rotation_lease_until < now())
        RETURNING key_version`,
      [userId, leaseId, ROTATION_LEASE_SECONDS],
    );
    const rows = claimed as Array<{ key_version: number }>;
    return rows.length ? rows[0].key_version : null;
  }

  /** Releases the lease `leaseId` if it is still the user's. */
  async releaseLease(userId: string, leaseId: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE user_keys SET rotation_lease_id = NULL, rotation_lease_until = NULL WHERE user_id = $1 AND rotation_lease_id = $2`,
      [userId, leaseId],
    );
  }

  /**
   * Rotates one active key whose current version was created at or before `cutoff` and is not
   * leased: `prepare` makes its next version, which replaces it in the same transaction.
   * `FOR UPDATE SKIP LOCKED` lets replicas running the job at once share the due keys: each is
   * rotated by exactly one of them. Returns null when no key is due.
   */
  async rotateNextDue(
    cutoff: Date,
    reason: RotationReason,
    prepare: (userId: string, keyVersion: number) => Promise<NewKeyVersion>,
  ): Promise<{ userId: string; keyVersion: number } | null> {
    return this.dataSource.transaction(async (tx) => {
      const [due] = await tx.query(
        `SELECT user_id, key_version FROM user_keys
          WHERE is_active AND created_at <= $1 AND (rotation_lease_until IS NULL OR rotation_lease_until < now())
          ORDER BY created_at LIMIT 1
          FOR UPDATE SKIP LOCKED`,
        [cutoff],
      );
      if (!due) return null;
      const userId = toUserId(due.user_id);
      const next = await prepare(userId, due.key_version + 1);
      await replaceCurrentKeyIn(tx, userId, due.key_version, next, reason);
      return { userId, keyVersion: next.keyVersion };
    });
  }

  /** Deletes retired versions rotated out before `cutoff`; their ciphertexts can no longer be decrypted. */
  async purgeHistory(cutoff: Date): Promise<Array<{ userId: string; keyVersion: number }>> {
    const [rows] = await this.dataSource.query(`DELETE FROM user_key_history WHERE rotation_date < $1 RETURNING user_id, key_version`, [
      cutoff,
    ]);
    return (rows as Array<{ user_id: string; key_version: number }>).map((row) => ({
      userId: toUserId(row.user_id),
      keyVersion: row.key_version,
    }));
  }

  /** The primary's clock, so that every replica of the service measures key age the same way. */
  async databaseNowOnPrimary(): Promise<Date> {
    const [{ now }] = await this.dataSource.query(`SELECT now() AS now`);
    return new Date(now);
  }
}
