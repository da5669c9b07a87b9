import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { createPrivateKey, createPublicKey, KeyObject, randomUUID } from 'node:crypto';
import { DataSource, EntityManager, QueryFailedError, Repository } from 'typeorm';
import { ApiError, keyNotFound } from '../common/api-error';
import { toUserId } from '../common/user-id';
import { AppConfig } from '../config/app-config';
import { KEY_PROVIDER, KeyProvider, SealedKey } from '../key-provider/key-provider';
import { generateRsaKeyPair } from '../envelope/key-pair';
import { publicKeyObject } from '../envelope/public-key-objects';
import { UserKey } from './entities/user-key.entity';
import { RotationReason, UserKeyHistory } from './entities/user-key-history.entity';
import { PrivateKeyCache } from './private-key-cache';
import { PublicKeyCache } from './public-key-cache';

export interface CurrentPublicKey {
  keyVersion: number;
  publicKey: KeyObject;
}

/** A new key pair, its private half already sealed for (userId, keyVersion). */
export interface PreparedKey {
  keyVersion: number;
  publicKeyPem: string;
  publicKey: KeyObject;
  sealed: SealedKey;
}

export interface ShredReceipt {
  userId: string;
  versionsDestroyed: number;
  destroyedAt: string;
}

/** Longest a rotation may hold a user before another may start (KMS calls are bounded well below). */
const ROTATION_LEASE_SECONDS = 120;

/** PostgreSQL's lock_not_available: a NOWAIT lock found the row taken. */
const LOCK_NOT_AVAILABLE = '55P03';

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

const rotationConflict = (userId: string) =>
  new ApiError('KEY002', `A rotation for user ${userId} is already in progress; retry when it has finished`);

/** Storage and lookup of users' key pairs. Private keys leave this class only unsealed in memory. */
@Injectable()
export class KeysService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectRepository(UserKey) private readonly keys: Repository<UserKey>,
    @InjectRepository(UserKeyHistory) private readonly history: Repository<UserKeyHistory>,
    @Inject(KEY_PROVIDER) private readonly keyProvider: KeyProvider,
    private readonly cache: PublicKeyCache,
    private readonly privateKeyCache: PrivateKeyCache,
    private readonly config: AppConfig,
  ) {}

  /**
   * Creates the user's key pair unless they already have an active one. Concurrent calls for
   * one user race on the primary key: exactly one insert wins, the others report its key.
   */
  async createKey(userId: string): Promise<{ created: boolean; keyVersion: number }> {
    const existing = await this.onPrimary((db) => db.findOne(UserKey, { where: { userId } }));
    if (existing?.isActive) return { created: false, keyVersion: existing.keyVersion };

    // After a crypto-shred the row stays as a tombstone, so new versions never reuse old numbers.
    const keyVersion = existing ? existing.keyVersion + 1 : 1;
    const { publicKeyPem, sealed } = await this.prepareKey(userId, keyVersion);

    const params = [userId, publicKeyPem, keyVersion, sealed.ciphertext, sealed.provider, sealed.keyId];
    const written: unknown[] = existing
      ? await this.dataSource.query(
          `UPDATE user_keys SET key = $2, key_version = $3, sealed_private_key = $4, key_provider = $5,
                  kms_key_id = $6, is_active = true, created_at = now(), updated_at = now()
            WHERE user_id = $1 AND is_active = false AND key_version = $3 - 1
        RETURNING user_id`,
          params,
        ).then(([rows]) => rows)
      : await this.dataSource.query(
          `INSERT INTO user_keys (user_id, key, key_version, sealed_private_key, key_provider, kms_key_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (user_id) DO NOTHING
        RETURNING user_id`,
          params,
        );
    if (written.length) return { created: true, keyVersion };

    const winner = await this.onPrimary((db) => db.findOne(UserKey, { where: { userId, isActive: true } }));
    if (!winner) return this.createKey(userId);
    return { created: false, keyVersion: winner.keyVersion };
  }

  /** The active key row with its retired versions, newest first; KEY001 when there is none. */
  async describeKey(userId: string): Promise<{ key: UserKey; history: UserKeyHistory[] }> {
    const key = await this.findActive(userId);
    const history = await this.history.find({ where: { userId }, order: { keyVersion: 'DESC' } });
    return { key, history };
  }

  /** The current public key, from the cache when possible. */
  async currentPublicKey(userId: string): Promise<CurrentPublicKey> {
    let cached = await this.cache.get(userId);
    if (!cached) {
      // From the primary: a lagging replica could put a just-rotated or destroyed key in the cache.
      const key = await this.findActive(userId, 'primary');
      cached = { keyVersion: key.keyVersion, publicKeyPem: key.publicKey! };
      await this.cache.set(userId, cached);
    }
    return { keyVersion: cached.keyVersion, publicKey: publicKeyObject(cached.publicKeyPem) };
  }

  /**
   * The private keys of the requested versions, unsealed: from the in-process cache when the
   * sealed key read now is one already unsealed, otherwise one key-provider call per version.
   * Versions the user does not have (or that were purged) are absent from the map.
   * KEY001 when the user has no active key.
   */
  async unsealPrivateKeys(userId: string, versions: readonly number[]): Promise<Map<number, KeyObject>> {
    const rows: Array<{ key_version: number; sealed: Buffer; provider: string; key_id: string | null }> = await this.dataSource.query(
      `SELECT key_version, sealed_private_key AS sealed, key_provider AS provider, kms_key_id AS key_id
         FROM user_keys WHERE user_id = $1 AND is_active
       UNION ALL
       SELECT h.key_version, h.sealed_private_key, h.key_provider, h.kms_key_id
         FROM user_key_history h JOIN user_keys k ON k.user_id = h.user_id AND k.is_active
        WHERE h.user_id = $1 AND h.key_version = ANY($2::int[]) AND h.sealed_private_key IS NOT NULL`,
      [userId, [...new Set(versions)]],
    );
    if (rows.length === 0) throw keyNotFound(userId);
    const wanted = new Set(versions);
    const privateKeys = new Map<number, KeyObject>();
    await Promise.all(
      rows
        .filter((row) => wanted.has(row.key_version))
        .map(async ({ key_version: keyVersion, sealed, provider, key_id: keyId }) => {
          let key = this.privateKeyCache.get(sealed);
          if (!key) {
            const der = await this.keyProvider.unseal({ provider, keyId: keyId ?? 'local', ciphertext: sealed }, { userId, keyVersion });
            try {
              key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
            } finally {
              der.fill(0);
            }
            this.privateKeyCache.set(sealed, key);
          }
          privateKeys.set(keyVersion, key);
        }),
    );
    return privateKeys;
  }

  /** Generates a key pair off the event loop and seals its private half for (userId, keyVersion). */
  async prepareKey(userId: string, keyVersion: number): Promise<PreparedKey> {
    const pair = await generateRsaKeyPair(this.config.keys.rsaBits);
    const sealed = await this.keyProvider
      .seal(pair.privateKeyDer, { userId, keyVersion })
      .finally(() => pair.privateKeyDer.fill(0));
    return { keyVersion, publicKeyPem: pair.publicKeyPem, publicKey: createPublicKey(pair.publicKeyPem), sealed };
  }

  /**
   * Runs `work(currentVersion)` while holding the user's rotation lease, so a second rotation
   * of the same user gets KEY002 at once instead of queueing. The lease is a row claim, not a
   * held connection, and expires by itself if this process dies mid-rotation.
   */
  async withRotationLease<T>(userId: string, work: (currentVersion: number) => Promise<T>): Promise<T> {
    const leaseId = randomUUID();
    const [claimed] = await this.dataSource.query(
      `UPDATE user_keys SET rotation_lease_id = $2, rotation_lease_until = now() + make_interval(secs => $3)
        WHERE user_id = $1 AND is_active AND (rotation_lease_until IS NULL OR rotation_lease_until < now())
        RETURNING key_version`,
      [userId, leaseId, ROTATION_LEASE_SECONDS],
    );
    if ((claimed as unknown[]).length === 0) {
      await this.findActive(userId); // KEY001 when there is no key at all
      throw rotationConflict(userId);
    }
    try {
      return await work((claimed as Array<{ key_version: number }>)[0].key_version);
    } finally {
      await this.dataSource.query(
        `UPDATE user_keys SET rotation_lease_id = NULL, rotation_lease_until = NULL WHERE user_id = $1 AND rotation_lease_id = $2`,
        [userId, leaseId],
      );
    }
  }

  /**
   * Makes `next` the current key and moves version `fromVersion` into history, in one
   * transaction. KEY002 when the current version is no longer `fromVersion` or its row is
   * locked by another rotation: nothing is written then.
   */
  async replaceCurrentKey(userId: string, fromVersion: number, next: PreparedKey, reason: RotationReason, manager?: EntityManager): Promise<void> {
    const write = async (tx: EntityManager) => {
      if ((await lockCurrentKey(tx, userId)) !== fromVersion) throw rotationConflict(userId);
      await tx.query(
        `INSERT INTO user_key_history (user_id, key_version, key_value, sealed_private_key, key_provider, kms_key_id, created_at, rotation_reason)
         SELECT user_id, key_version, key, sealed_private_key, key_provider, kms_key_id, created_at, $2
           FROM user_keys WHERE user_id = $1`,
        [userId, reason],
      );
      await tx.query(
        `UPDATE user_keys SET key = $2, key_version = $3, sealed_private_key = $4, key_provider = $5, kms_key_id = $6,
                created_at = now(), updated_at = now()
          WHERE user_id = $1`,
        [userId, next.publicKeyPem, next.keyVersion, next.sealed.ciphertext, next.sealed.provider, next.sealed.keyId],
      );
    };
    if (manager) return write(manager); // the caller's transaction; it evicts after commit
    await this.dataSource.transaction(write);
    await this.cache.evict(userId);
  }

  /**
   * Scheduled rotation of one key whose current version was created at or before `cutoff`.
   * `FOR UPDATE SKIP LOCKED` lets replicas running the job at once share the due keys: each is
   * rotated by exactly one of them. Returns null when no key is due.
   */
  async rotateNextDueKey(cutoff: Date): Promise<{ userId: string; keyVersion: number } | null> {
    const rotated = await this.dataSource.transaction(async (tx) => {
      const [due] = await tx.query(
        `SELECT user_id, key_version FROM user_keys
          WHERE is_active AND created_at <= $1 AND (rotation_lease_until IS NULL OR rotation_lease_until < now())
          ORDER BY created_at LIMIT 1
          FOR UPDATE SKIP LOCKED`,
        [cutoff],
      );
      if (!due) return null;
      const userId = toUserId(due.user_id);
      const next = await this.prepareKey(userId, due.key_version + 1);
      await this.replaceCurrentKey(userId, due.key_version, next, 'scheduled', tx);
      return { userId, keyVersion: next.keyVersion };
    });
    if (rotated) await this.cache.evict(rotated.userId);
    return rotated;
  }

  /** Deletes retired versions rotated out before `cutoff`; their ciphertexts can no longer be decrypted. */
  async purgeHistory(cutoff: Date): Promise<Array<{ userId: string; keyVersion: number }>> {
    const [rows] = await this.dataSource.query(
      `DELETE FROM user_key_history WHERE rotation_date < $1 RETURNING user_id, key_version`,
      [cutoff],
    );
    return (rows as Array<{ user_id: string; key_version: number }>).map((row) => ({
      userId: toUserId(row.user_id),
      keyVersion: row.key_version,
    }));
  }

  /** The database's clock, so that every replica measures key age the same way. */
  async databaseNow(): Promise<Date> {
    const [{ now }] = await this.dataSource.query(`SELECT now() AS now`);
    return new Date(now);
  }

  /**
   * Crypto-shredding: destroys the sealed private key of every version, current and retired,
   * so no ciphertext of the user can ever be decrypted again. The row stays as a tombstone
   * (inactive, no key material) so a later key for the user starts at a higher version.
   */
  async destroyKeys(userId: string): Promise<ShredReceipt> {
    const versionsDestroyed = await this.dataSource.transaction(async (tx) => {
      await lockCurrentKey(tx, userId);
      const [, retired] = await tx.query(
        `UPDATE user_key_history SET sealed_private_key = NULL, key_value = NULL
          WHERE user_id = $1 AND sealed_private_key IS NOT NULL`,
        [userId],
      );
      await tx.query(
        `UPDATE user_keys SET is_active = false, key = NULL, sealed_private_key = NULL, updated_at = now() WHERE user_id = $1`,
        [userId],
      );
      return 1 + (retired as number);
    });
    await this.cache.evict(userId);
    return { userId, versionsDestroyed, destroyedAt: new Date().toISOString() };
  }

  /**
   * The user's active key row, read from a replica when DATABASE_REPLICA_URLS are set; a replica
   * that has not yet seen a new key is rechecked against the primary before answering KEY001.
   */
  private async findActive(userId: string, from: 'replica' | 'primary' = 'replica'): Promise<UserKey> {
    const where = { userId, isActive: true };
    const fromPrimary = () => this.onPrimary((db) => db.findOne(UserKey, { where }));
    const replicated = 'replication' in this.dataSource.options && Boolean(this.dataSource.options.replication);
    const key =
      from === 'primary' ? await fromPrimary() : ((await this.keys.findOne({ where })) ?? (replicated ? await fromPrimary() : null));
    if (!key) throw keyNotFound(userId);
    return key;
  }

  /** Reads that decide a write or fill the shared cache go to the primary, never to a replica. */
  private async onPrimary<T>(read: (db: EntityManager) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner('master');
    try {
      return await read(runner.manager);
    } finally {
      await runner.release();
    }
  }
}
