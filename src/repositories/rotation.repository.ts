import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { toUserId } from '../common/user-id';
import { RotationReason } from './entities/user-key-history.entity';
import { TranslateDatabaseErrors } from './database-errors';
import { NewKeyVersion, replaceCurrentKeyIn, rotationConflict } from './user-key.repository';

/** Longest a rotation may hold a user before another may start (KMS calls are bounded well below). */
export const ROTATION_LEASE_SECONDS = 120;

/** Whose /rotate it was: the caller (token `sub`), its X-Request-Id and the person rotated. */
export interface RotationRequestKey {
  caller: string;
  requestId: string;
  userId: string;
}

/** A committed /rotate's answer as kept for a retry, with the SHA-256 of the request it answered. */
export interface KeptRotationResult {
  requestSha256: string;
  keyVersion: number;
  rotatedData: unknown;
}

/** What a manual rotation's transaction keeps beside the new version, for a retry of the same request. */
export interface RotationResultToKeep extends RotationRequestKey, KeptRotationResult {
  keepHours: number;
}

/** Rotation bookkeeping: per-user leases, the scheduled job's claims, history retention, the clock. */
@Injectable()
@TranslateDatabaseErrors()
export class RotationRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Claims the user's rotation lease for ROTATION_LEASE_SECONDS: a row claim, not a held
   * connection, so it expires by itself if this process dies. Returns the current key version,
   * or null when the user has no active key, another rotation holds an unexpired lease, or the
   * key is pending deletion (never rotated: the scheduled job destroys the generation it holds).
   */
  async claimLease(userId: string, leaseId: string): Promise<number | null> {
    const [claimed] = await this.dataSource.query(
      `UPDATE user_keys SET rotation_lease_id = $2, rotation_lease_until = now() + make_interval(secs => $3)
        WHERE user_id = $1 AND is_active AND destroys_at IS NULL AND (rotation_lease_until IS NULL OR rotation_lease_until < now())
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
   * How many versions rotations of the user other than the scheduled job's created in the past
   * 24 hours, counting at most `limit`; with `retryAfterSeconds`, the seconds until the oldest of
   * those leaves the window.
   */
  async manualRotationsInLastDay(userId: string, limit: number): Promise<{ count: number; retryAfterSeconds: number }> {
    const [row] = await this.dataSource.query(
      `SELECT count(*)::int AS count,
              coalesce(ceil(extract(epoch FROM min(rotation_date) + interval '1 day' - now())), 0)::int AS wait
         FROM (SELECT rotation_date FROM user_key_history
                WHERE user_id = $1 AND rotation_reason <> 'scheduled' AND rotation_date > now() - interval '1 day'
                ORDER BY rotation_date DESC LIMIT $2) recent`,
      [userId, limit],
    );
    return { count: Number(row.count), retryAfterSeconds: Math.max(1, Number(row.wait)) };
  }

  /**
   * In one transaction: makes `next` the user's current key, moving `fromVersion` into history
   * (KEY002 when it is no longer current or another rotation holds the row: nothing is written),
   * and keeps `result` for a retry of the same request (KEY002 too when an unexpired result is
   * already kept under its key: that request committed meanwhile, and a retry answers it).
   */
  async replaceCurrentKeyKeeping(
    userId: string,
    fromVersion: number,
    next: NewKeyVersion,
    reason: RotationReason,
    result: RotationResultToKeep | null,
  ): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      await replaceCurrentKeyIn(tx, userId, fromVersion, next, reason);
      if (!result) return;
      const written: unknown[] = await tx.query(
        `INSERT INTO rotation_results (caller, request_id, user_id, request_sha256, key_version, rotated_data, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(hours => $7))
         ON CONFLICT (caller, request_id, user_id) DO UPDATE
            SET request_sha256 = EXCLUDED.request_sha256, key_version = EXCLUDED.key_version, rotated_data = EXCLUDED.rotated_data,
                created_at = now(), expires_at = EXCLUDED.expires_at
          WHERE rotation_results.expires_at <= now()
        RETURNING 1`,
        [
          result.caller,
          result.requestId,
          result.userId,
          result.requestSha256,
          result.keyVersion,
          JSON.stringify(result.rotatedData),
          result.keepHours,
        ],
      );
      if (!written.length) throw rotationConflict(userId);
    });
  }

  /** The unexpired answer kept for this request, from the primary (it decides whether to rotate); null when none. */
  async keptResultOnPrimary(key: RotationRequestKey): Promise<KeptRotationResult | null> {
    const rows: Array<{ request_sha256: string; key_version: number; rotated_data: string }> = await this.dataSource.query(
      `SELECT request_sha256, key_version, rotated_data FROM rotation_results
        WHERE caller = $1 AND request_id = $2 AND user_id = $3 AND expires_at > now()`,
      [key.caller, key.requestId, key.userId],
    );
    if (!rows.length) return null;
    const [row] = rows;
    return { requestSha256: row.request_sha256.trim(), keyVersion: Number(row.key_version), rotatedData: JSON.parse(row.rotated_data) };
  }

  /** Deletes kept /rotate answers whose time is up; returns how many. */
  async purgeExpiredResults(): Promise<number> {
    const [, deleted] = await this.dataSource.query(`DELETE FROM rotation_results WHERE expires_at <= now()`);
    return Number(deleted) || 0;
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
          WHERE is_active AND created_at <= $1 AND destroys_at IS NULL
            AND (rotation_lease_until IS NULL OR rotation_lease_until < now())
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

  /**
   * The scheduled destruction job's claim: the user's lease (as a rotation claims it, and for as
   * long) on one key pending deletion whose `destroys_at` has passed by the database clock and
   * that no lease holds. `FOR UPDATE SKIP LOCKED` lets replicas running the job at once share the
   * due keys, and the lease keeps a second replica from picking the same one while the first
   * destroys it. Returns the user, or null when none is due. Release it with {@link releaseLease}.
   */
  async claimNextDueDestruction(leaseId: string): Promise<string | null> {
    const [claimed] = await this.dataSource.query(
      `UPDATE user_keys SET rotation_lease_id = $1, rotation_lease_until = now() + make_interval(secs => $2)
        WHERE user_id = (SELECT user_id FROM user_keys
                          WHERE is_active AND destroys_at <= now() AND (rotation_lease_until IS NULL OR rotation_lease_until < now())
                          ORDER BY destroys_at LIMIT 1
                          FOR UPDATE SKIP LOCKED)
    RETURNING user_id`,
      [leaseId, ROTATION_LEASE_SECONDS],
    );
    const rows = claimed as Array<{ user_id: string | number }>;
    return rows.length ? toUserId(rows[0].user_id) : null;
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
