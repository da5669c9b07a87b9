import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, LessThan, QueryFailedError } from 'typeorm';
import { ApiError, keyNotFound } from '../common/api-error';
import { RotationReason, UserKeyHistory } from './entities/user-key-history.entity';
import { UserKey } from './entities/user-key.entity';
import { TranslateDatabaseErrors } from './database-errors';
import { hasReplicas, ReadOptions, readOn } from './read-from';
import { admitShredIn, ShredRefused } from './shred-breaker.repository';

/** A new key version as it is stored: its algorithm, the public key as published and the sealed private key. */
export interface NewKeyVersion {
  keyVersion: number;
  algorithm: UserKey['algorithm'];
  /** SPKI PEM (RSA-OAEP-256) or standard base64 of the 1216 bytes (X-Wing). */
  publishedKey: string;
  sealed: { ciphertext: Buffer; provider: string; keyId: string };
}

/** A key version destroyed by a crypto-shred, with the SHA-256 (hex) of its sealed private key. */
export interface DestroyedVersion {
  keyVersion: number;
  sealedKeySha256: string;
}

/** Which generation a crypto-shred destroys, and the receipt kept with the tombstone (UserKeyRepository.destroy). */
export interface DestroyOptions {
  generation?: { keyVersion: number; createdAt?: string };
  receipt?: (destroyed: DestroyedVersion[]) => Promise<string>;
  /** The scheduled job's destruction: only a key pending deletion whose `destroys_at` has passed (database clock); null otherwise. */
  onlyIfDue?: boolean;
}

/** A pending deletion as the database holds it (deletion_requested_at, destroys_at), with the generation it is about. */
export interface PendingDeletion extends KeyGeneration {
  requestedAt: Date;
  destroysAt: Date;
}

/** The user's current key and its pending deletion, if any (UserKeyRepository.pendingDeletionOnPrimary). */
export type KeyDeletionState = KeyGeneration & { pending: { requestedAt: Date; destroysAt: Date } | null };

const dateOf = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));

/** One generation of a user's current key: its version and `created_at` (RFC 3339, microseconds, as stored). */
export interface KeyGeneration {
  keyVersion: number;
  createdAt: string;
}

/** `created_at` as text with every stored digit (microseconds), so a generation compares exactly. */
const CREATED_AT_TEXT = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** One page of a key's versions, newest first: at most `limit`, below version `before` when given. */
export interface VersionsPage {
  limit: number;
  before?: number;
}

/** A sealed private key as stored, for unsealing. */
export interface SealedKeyRow {
  keyVersion: number;
  /** The user's pending deletion (DELETE /keys): when set, no key of the user may be used. */
  destroysAt: Date | null;
  algorithm: UserKey['algorithm'];
  sealed: Buffer;
  provider: string;
  keyId: string | null;
}

/** PostgreSQL's lock_not_available: a NOWAIT lock found the row taken. */
const LOCK_NOT_AVAILABLE = '55P03';

export const rotationConflict = (userId: string) =>
  new ApiError('KEY002', `A rotation for user ${userId} is already in progress; retry when it has finished`);

/** Locks the user's current key row without waiting; returns its version. KEY002 if taken, KEY001 if none. */
async function lockCurrentKey(tx: EntityManager, userId: string): Promise<number> {
  const rows: Array<{ key_version: number }> = await tx
    .query(`SELECT key_version FROM user_keys WHERE user_id = $1 AND is_active FOR UPDATE NOWAIT`, [userId])
    .catch((error: unknown) => {
      const code = error instanceof QueryFailedError ? (error.driverError as { code?: string }).code : undefined;
      throw code === LOCK_NOT_AVAILABLE ? rotationConflict(userId) : error;
    });
  if (rows.length === 0) throw keyNotFound(userId);
  return rows[0].key_version;
}

/**
 * Inside `tx`: makes `next` the current key and moves version `fromVersion` into history.
 * KEY002 when the current version is no longer `fromVersion` or its row is locked by another
 * rotation. RotationRepository runs it in its transactions (the scheduled job's claim, /rotate's).
 */
export async function replaceCurrentKeyIn(
  tx: EntityManager,
  userId: string,
  fromVersion: number,
  next: NewKeyVersion,
  reason: RotationReason,
): Promise<void> {
  if ((await lockCurrentKey(tx, userId)) !== fromVersion) throw rotationConflict(userId);
  await tx.query(
    `INSERT INTO user_key_history (user_id, key_version, algorithm, key_value, sealed_private_key, key_provider, kms_key_id, created_at, rotation_reason)
     SELECT user_id, key_version, algorithm, key, sealed_private_key, key_provider, kms_key_id, created_at, $2
       FROM user_keys WHERE user_id = $1`,
    [userId, reason],
  );
  await tx.query(
    `UPDATE user_keys SET key = $2, key_version = $3, sealed_private_key = $4, key_provider = $5, kms_key_id = $6,
            algorithm = $7, created_at = now(), updated_at = now()
      WHERE user_id = $1`,
    [userId, next.publishedKey, next.keyVersion, next.sealed.ciphertext, next.sealed.provider, next.sealed.keyId, next.algorithm],
  );
}

/** Users' keys (`user_keys`) and their retired versions (`user_key_history`). */
@Injectable()
@TranslateDatabaseErrors()
export class UserKeyRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The user's key row, active or a crypto-shred tombstone, from the primary (it decides the next write). */
  findOnPrimary(userId: string): Promise<UserKey | null> {
    return readOn(this.dataSource, 'primary', (db) => db.findOne(UserKey, { where: { userId } }));
  }

  /** The user's active key row, or null. */
  findActive(userId: string, { from = 'primary' }: ReadOptions = {}): Promise<UserKey | null> {
    return readOn(this.dataSource, from, (db) => db.findOne(UserKey, { where: { userId, isActive: true } }));
  }

  /**
   * The active key with its retired versions, newest first — with `page`, those of one page of
   * versions (the current one counts as the first version of the first page; `before` starts a
   * later page below that version), and `more` when older versions remain; null when the user
   * has no active key. Read from a replica, a key the replica has not seen yet is looked up on
   * the primary before answering null, so a key just created is never reported missing.
   */
  async describe(
    userId: string,
    { from = 'primary', page }: ReadOptions & { page?: VersionsPage } = {},
  ): Promise<{ key: UserKey; history: UserKeyHistory[]; more: boolean } | null> {
    const read = (node: 'primary' | 'replica') =>
      readOn(this.dataSource, node, async (db) => {
        const key = await db.findOne(UserKey, { where: { userId, isActive: true } });
        if (!key) return null;
        const take = page ? page.limit - (page.before === undefined ? 1 : 0) : undefined;
        const history = await db.find(UserKeyHistory, {
          where: { userId, ...(page?.before !== undefined && { keyVersion: LessThan(page.before) }) },
          order: { keyVersion: 'DESC' },
          ...(take !== undefined && { take: take + 1 }),
        });
        const more = take !== undefined && history.length > take;
        return { key, history: more ? history.slice(0, take) : history, more };
      });
    const found = await read(from);
    return found ?? (from === 'replica' && hasReplicas(this.dataSource) ? read('primary') : null);
  }

  /**
   * The sealed private keys of the active version and of those of `versions` still kept in
   * history, from the primary: a key destroyed or purged there is never unsealed from a lagging copy.
   * Empty when the user has no active key.
   */
  async sealedKeysOnPrimary(userId: string, versions: readonly number[]): Promise<SealedKeyRow[]> {
    const rows: Array<{
      key_version: number;
      algorithm: UserKey['algorithm'];
      sealed: Buffer;
      provider: string;
      key_id: string | null;
      destroys_at: Date | string | null;
    }> = await this.dataSource.query(
      `SELECT key_version, algorithm, sealed_private_key AS sealed, key_provider AS provider, kms_key_id AS key_id, destroys_at
         FROM user_keys WHERE user_id = $1 AND is_active
       UNION ALL
       SELECT h.key_version, h.algorithm, h.sealed_private_key, h.key_provider, h.kms_key_id, k.destroys_at
         FROM user_key_history h JOIN user_keys k ON k.user_id = h.user_id AND k.is_active
        WHERE h.user_id = $1 AND h.key_version = ANY($2::int[]) AND h.sealed_private_key IS NOT NULL`,
      [userId, [...new Set(versions)]],
    );
    return rows.map((row) => ({
      keyVersion: row.key_version,
      destroysAt: row.destroys_at === null ? null : dateOf(row.destroys_at),
      algorithm: row.algorithm,
      sealed: row.sealed,
      provider: row.provider,
      keyId: row.key_id,
    }));
  }

  /** Stores the user's first key; false when a concurrent call stored one first. */
  async insertFirst(userId: string, key: NewKeyVersion): Promise<boolean> {
    const written: unknown[] = await this.dataSource.query(
      `INSERT INTO user_keys (user_id, key, key_version, sealed_private_key, key_provider, kms_key_id, algorithm)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (user_id) DO NOTHING
    RETURNING user_id`,
      [userId, key.publishedKey, key.keyVersion, key.sealed.ciphertext, key.sealed.provider, key.sealed.keyId, key.algorithm],
    );
    return written.length > 0;
  }

  /**
   * Stores a new key over the tombstone a crypto-shred left, at the version after it; false when
   * a concurrent call did so first.
   */
  async recreateAfterShred(userId: string, key: NewKeyVersion): Promise<boolean> {
    const [written] = await this.dataSource.query(
      `UPDATE user_keys SET key = $2, key_version = $3, sealed_private_key = $4, key_provider = $5,
              kms_key_id = $6, algorithm = $7, is_active = true, shred_receipt = NULL, created_at = now(), updated_at = now()
        WHERE user_id = $1 AND is_active = false AND key_version = $3 - 1
    RETURNING user_id`,
      [userId, key.publishedKey, key.keyVersion, key.sealed.ciphertext, key.sealed.provider, key.sealed.keyId, key.algorithm],
    );
    return (written as unknown[]).length > 0;
  }

  /**
   * The user's current key generation (version and `created_at`, RFC 3339 with microseconds as
   * stored), from the primary; null without an active key. A shred's intent records it, and
   * {@link destroy} and {@link generationKeptOnPrimary} match it exactly.
   */
  async currentGenerationOnPrimary(userId: string): Promise<KeyGeneration | null> {
    const rows: Array<{ key_version: number; created_at: string }> = await this.dataSource.query(
      `SELECT key_version, ${CREATED_AT_TEXT} AS created_at FROM user_keys WHERE user_id = $1 AND is_active`,
      [userId],
    );
    return rows.length ? { keyVersion: Number(rows[0].key_version), createdAt: rows[0].created_at } : null;
  }

  /**
   * Crypto-shredding: deletes the sealed private key (and public key) of every version, current
   * and retired. The row stays as an inactive tombstone so a later key starts at a higher
   * version. Returns each version destroyed with the SHA-256 (hex) of its sealed private key,
   * computed in the same transaction before the bytes are nulled: the receipt's commitment to
   * exactly what was destroyed. KEY001 without an active key, KEY002 while a rotation holds the row.
   *
   * Compare-and-destroy: with `generation`, only that current version (and `created_at`, when
   * given) is destroyed; null, with nothing written, when the user's current key is another one
   * (rotated, or shredded and created anew since it was looked at).
   *
   * `receipt` runs inside the transaction, once the versions are known, and must not use the
   * database (the embedded one serves one transaction at a time): what it returns is kept with
   * the tombstone in the same commit. When it throws, nothing is destroyed.
   *
   * With `breaker` (a DELETE /keys), the mass-destruction breaker admits the shred first
   * (admitShredIn, src/repositories/shred-breaker.repository.ts): refused, it commits only the
   * breaker's trip and answers the refusal, destroying nothing.
   */
  destroy(userId: string, options?: DestroyOptions): Promise<DestroyedVersion[] | null>;
  destroy(
    userId: string,
    options: DestroyOptions & { breaker?: { maxPerHour: number } },
  ): Promise<DestroyedVersion[] | ShredRefused | null>;
  async destroy(
    userId: string,
    { generation, receipt, breaker, onlyIfDue }: DestroyOptions & { breaker?: { maxPerHour: number } } = {},
  ): Promise<DestroyedVersion[] | ShredRefused | null> {
    return this.dataSource.transaction(async (tx) => {
      const current: Array<{ key_version: number; same: boolean; due: boolean }> = await tx
        .query(
          `SELECT key_version, ($2::timestamptz IS NULL OR created_at = $2::timestamptz) AS same,
                  coalesce(destroys_at <= now(), false) AS due
             FROM user_keys WHERE user_id = $1 AND is_active FOR UPDATE NOWAIT`,
          [userId, generation?.createdAt ?? null],
        )
        .catch((error: unknown) => {
          const code = error instanceof QueryFailedError ? (error.driverError as { code?: string }).code : undefined;
          throw code === LOCK_NOT_AVAILABLE ? rotationConflict(userId) : error;
        });
      if (current.length === 0) throw keyNotFound(userId);
      const keyVersion = Number(current[0].key_version);
      if (generation && (keyVersion !== generation.keyVersion || !current[0].same)) return null;
      // The scheduled job: a deletion cancelled since the job picked the key destroys nothing.
      if (onlyIfDue && !current[0].due) return null;
      // A DELETE /keys asks the mass-destruction breaker under its lock, and is counted in this commit.
      if (breaker) {
        const refused = await admitShredIn(tx, breaker.maxPerHour);
        if (refused) return refused;
      }
      const destroyed: Array<{ key_version: number; sealed_sha256: string }> = await tx.query(
        `SELECT key_version, encode(sha256(sealed_private_key), 'hex') AS sealed_sha256
           FROM user_keys WHERE user_id = $1 AND sealed_private_key IS NOT NULL
         UNION ALL
         SELECT key_version, encode(sha256(sealed_private_key), 'hex')
           FROM user_key_history WHERE user_id = $1 AND sealed_private_key IS NOT NULL
         ORDER BY key_version`,
        [userId],
      );
      const versions = destroyed.map((row) => ({ keyVersion: row.key_version, sealedKeySha256: row.sealed_sha256 }));
      const kept = receipt ? await receipt(versions) : null;
      await tx.query(
        `UPDATE user_key_history SET sealed_private_key = NULL, key_value = NULL
          WHERE user_id = $1 AND sealed_private_key IS NOT NULL`,
        [userId],
      );
      await tx.query(
        `UPDATE user_keys SET is_active = false, key = NULL, sealed_private_key = NULL, shred_receipt = $3, updated_at = now(),
                deletion_requested_at = NULL, destroys_at = NULL
          WHERE user_id = $1 AND is_active AND key_version = $2`,
        [userId, keyVersion, kept],
      );
      return versions;
    });
  }

  /**
   * A DELETE /keys with a deletion window: puts the user's current key into pending deletion for
   * `days` (database clock, to the millisecond), so that every use of it is refused, and returns
   * the pending deletion with the generation it is about. Already pending: that pending deletion,
   * unchanged (`already`). null without an active key; KEY002 while a rotation holds the key (its
   * lease or its row). With `breaker`, the mass-destruction breaker admits the request first, in
   * the same transaction, as it admits a DELETE that destroys at once (admitShredIn): refused, it
   * commits only the breaker's trip and answers the refusal.
   */
  async scheduleDestruction(
    userId: string,
    { days, breaker }: { days: number; breaker?: { maxPerHour: number } },
  ): Promise<(PendingDeletion & { already: boolean }) | ShredRefused | null> {
    return this.dataSource.transaction(async (tx) => {
      const rows: Array<{
        key_version: number;
        created_at: string;
        requested_at: Date | string | null;
        destroys_at: Date | string | null;
        leased: boolean;
      }> = await tx
        .query(
          `SELECT key_version, ${CREATED_AT_TEXT} AS created_at, deletion_requested_at AS requested_at, destroys_at,
                  coalesce(rotation_lease_until >= now(), false) AS leased
             FROM user_keys WHERE user_id = $1 AND is_active FOR UPDATE NOWAIT`,
          [userId],
        )
        .catch((error: unknown) => {
          const code = error instanceof QueryFailedError ? (error.driverError as { code?: string }).code : undefined;
          throw code === LOCK_NOT_AVAILABLE ? rotationConflict(userId) : error;
        });
      if (!rows.length) return null;
      const [row] = rows;
      const generation = { keyVersion: Number(row.key_version), createdAt: row.created_at };
      if (row.destroys_at !== null && row.requested_at !== null) {
        return { ...generation, requestedAt: dateOf(row.requested_at), destroysAt: dateOf(row.destroys_at), already: true };
      }
      if (row.leased) throw rotationConflict(userId);
      if (breaker) {
        const refused = await admitShredIn(tx, breaker.maxPerHour);
        if (refused) return refused;
      }
      const [updated]: [Array<{ requested_at: Date | string; destroys_at: Date | string }>, number] = await tx.query(
        `UPDATE user_keys SET deletion_requested_at = date_trunc('milliseconds', now()),
                destroys_at = date_trunc('milliseconds', now()) + make_interval(days => $2)
          WHERE user_id = $1 AND is_active
      RETURNING deletion_requested_at AS requested_at, destroys_at`,
        [userId, days],
      );
      return { ...generation, requestedAt: dateOf(updated[0].requested_at), destroysAt: dateOf(updated[0].destroys_at), already: false };
    });
  }

  /** The user's current key generation and its pending deletion, from the primary (it decides a cancellation); null without an active key. */
  async deletionStateOnPrimary(userId: string): Promise<KeyDeletionState | null> {
    const rows: Array<{ key_version: number; created_at: string; requested_at: Date | string | null; destroys_at: Date | string | null }> =
      await this.dataSource.query(
        `SELECT key_version, ${CREATED_AT_TEXT} AS created_at, deletion_requested_at AS requested_at, destroys_at
           FROM user_keys WHERE user_id = $1 AND is_active`,
        [userId],
      );
    if (!rows.length) return null;
    const [row] = rows;
    return {
      keyVersion: Number(row.key_version),
      createdAt: row.created_at,
      pending:
        row.destroys_at !== null && row.requested_at !== null
          ? { requestedAt: dateOf(row.requested_at), destroysAt: dateOf(row.destroys_at) }
          : null,
    };
  }

  /**
   * Lifts the user's pending deletion when it is still the one destroying at `destroysAt` (a
   * cancellation, or the replay putting back a cancellation a restore undid); false when there is
   * none such (already lifted, destroyed, or another pending deletion since).
   */
  async liftPendingDeletion(userId: string, destroysAt: Date): Promise<boolean> {
    const [lifted] = await this.dataSource.query(
      `UPDATE user_keys SET deletion_requested_at = NULL, destroys_at = NULL
        WHERE user_id = $1 AND is_active AND destroys_at = $2
    RETURNING user_id`,
      [userId, destroysAt],
    );
    return (lifted as unknown[]).length > 0;
  }

  /**
   * The replay: puts back a pending deletion a restore undid (the database restored from before
   * the DELETE), on exactly the generation it was asked for and only when the key is not pending
   * already; false when it did nothing (another key since, or pending already).
   */
  async restorePendingDeletion(userId: string, pending: PendingDeletion): Promise<boolean> {
    const [restored] = await this.dataSource.query(
      `UPDATE user_keys SET deletion_requested_at = $4, destroys_at = $5
        WHERE user_id = $1 AND is_active AND key_version = $2 AND created_at = $3::timestamptz AND destroys_at IS NULL
    RETURNING user_id`,
      [userId, pending.keyVersion, pending.createdAt, pending.requestedAt, pending.destroysAt],
    );
    return (restored as unknown[]).length > 0;
  }

  /**
   * Whether the primary still holds the sealed private key of version `keyVersion` of the user
   * (current or retired), created at `createdAt` when given: `kept` — a shred's intent for that
   * generation did not commit; `gone` — it did; `busy` — a transaction holds the user's key row
   * (a shredding may be under way: ask again later).
   */
  async generationOnPrimary(userId: string, keyVersion: number, createdAt: string | null): Promise<'kept' | 'gone' | 'busy'> {
    return this.dataSource.transaction(async (tx) => {
      try {
        await tx.query(`SELECT 1 FROM user_keys WHERE user_id = $1 FOR UPDATE NOWAIT`, [userId]);
      } catch (error) {
        if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === LOCK_NOT_AVAILABLE) return 'busy';
        throw error;
      }
      const rows: Array<{ kept: boolean }> = await tx.query(
        `SELECT EXISTS (SELECT 1 FROM user_keys WHERE user_id = $1 AND key_version = $2 AND sealed_private_key IS NOT NULL
                           AND ($3::timestamptz IS NULL OR created_at = $3::timestamptz))
             OR EXISTS (SELECT 1 FROM user_key_history WHERE user_id = $1 AND key_version = $2 AND sealed_private_key IS NOT NULL
                           AND ($3::timestamptz IS NULL OR created_at = $3::timestamptz)) AS kept`,
        [userId, keyVersion, createdAt],
      );
      return rows[0]?.kept ? 'kept' : 'gone';
    });
  }

  /** The current version of each of these users who has an active key, from the primary (it decides a replayed shred). */
  async activeVersionsOnPrimary(userIds: readonly string[]): Promise<Map<string, number>> {
    if (!userIds.length) return new Map();
    const rows: Array<{ user_id: string; key_version: number }> = await this.dataSource.query(
      `SELECT user_id, key_version FROM user_keys WHERE user_id = ANY($1::bigint[]) AND is_active`,
      [[...userIds]],
    );
    return new Map(rows.map((row) => [String(row.user_id), Number(row.key_version)]));
  }

  /**
   * How many people's current keys are of each algorithm (active keys only), by one grouped count:
   * the migration to X-Wing's progress (pii_api_current_keys_by_algorithm). Algorithms with no key are absent.
   */
  async currentKeysByAlgorithm({ from = 'primary' }: ReadOptions = {}): Promise<Map<UserKey['algorithm'], number>> {
    const rows: Array<{ algorithm: UserKey['algorithm']; keys: string | number }> = await readOn(this.dataSource, from, (db) =>
      db.query(`SELECT algorithm, count(*) AS keys FROM user_keys WHERE is_active GROUP BY algorithm`),
    );
    return new Map(rows.map((row) => [row.algorithm, Number(row.keys)]));
  }

  /** When the newest crypto-shred this database holds happened (its tombstone's last update), from the primary; null: none. */
  async latestShredOnPrimary(): Promise<Date | null> {
    const rows: Array<{ at: Date | string | null }> = await this.dataSource.query(
      `SELECT max(updated_at) AS at FROM user_keys WHERE NOT is_active`,
    );
    const at = rows[0]?.at;
    return at ? new Date(at) : null;
  }

  /**
   * Replaces the receipt kept with the tombstone of version `keyVersion` when it is still `from`
   * (the receipt signed in the shredding's transaction, by the one naming its audit event).
   */
  async replaceShredReceipt(userId: string, keyVersion: number, from: string, to: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE user_keys SET shred_receipt = $4 WHERE user_id = $1 AND NOT is_active AND key_version = $2 AND shred_receipt = $3`,
      [userId, keyVersion, from, to],
    );
  }

  /** Keeps the signed receipt with the tombstone of version `keyVersion`, for a repeated DELETE. */
  async storeShredReceipt(userId: string, keyVersion: number, receipt: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE user_keys SET shred_receipt = $3 WHERE user_id = $1 AND NOT is_active AND key_version = $2 AND shred_receipt IS NULL`,
      [userId, keyVersion, receipt],
    );
  }

  /** The receipt kept with the user's tombstone, from the primary; null when the user has an active key or none was kept. */
  async shredReceiptOnPrimary(userId: string): Promise<string | null> {
    const rows: Array<{ shred_receipt: string | null }> = await this.dataSource.query(
      `SELECT shred_receipt FROM user_keys WHERE user_id = $1 AND NOT is_active`,
      [userId],
    );
    return rows[0]?.shred_receipt ?? null;
  }
}
