import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';
import { DataSource, In, Repository } from 'typeorm';
import { keyNotFound } from '../common/api-error';
import { AppConfig } from '../config/app-config';
import { KEY_PROVIDER, KeyProvider } from '../crypto/key-provider/key-provider';
import { generateRsaKeyPair } from '../crypto/key-pair';
import { UserKey } from './entities/user-key.entity';
import { UserKeyHistory } from './entities/user-key-history.entity';
import { PublicKeyCache } from './public-key-cache';

export interface CurrentPublicKey {
  keyVersion: number;
  publicKey: KeyObject;
}

/** Storage and lookup of users' key pairs. Private keys leave this class only unsealed in memory. */
@Injectable()
export class KeysService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectRepository(UserKey) private readonly keys: Repository<UserKey>,
    @InjectRepository(UserKeyHistory) private readonly history: Repository<UserKeyHistory>,
    @Inject(KEY_PROVIDER) private readonly keyProvider: KeyProvider,
    private readonly cache: PublicKeyCache,
    private readonly config: AppConfig,
  ) {}

  /**
   * Creates the user's key pair unless they already have an active one. Concurrent calls for
   * one user race on the primary key: exactly one insert wins, the others report its key.
   */
  async createKey(userId: string): Promise<{ created: boolean; keyVersion: number }> {
    const existing = await this.keys.findOne({ where: { userId } });
    if (existing?.isActive) return { created: false, keyVersion: existing.keyVersion };

    const keyVersion = existing ? existing.keyVersion + 1 : 1;
    const pair = await generateRsaKeyPair(this.config.keys.rsaBits);
    const sealed = await this.keyProvider
      .seal(pair.privateKeyDer, { userId, keyVersion })
      .finally(() => pair.privateKeyDer.fill(0));

    const params = [userId, pair.publicKeyPem, keyVersion, sealed.ciphertext, sealed.provider, sealed.keyId];
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

    const winner = await this.keys.findOne({ where: { userId, isActive: true } });
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
      const key = await this.findActive(userId);
      cached = { keyVersion: key.keyVersion, publicKeyPem: key.publicKey! };
      await this.cache.set(userId, cached);
    }
    return { keyVersion: cached.keyVersion, publicKey: createPublicKey(cached.publicKeyPem) };
  }

  /**
   * Unseals the private keys of the requested versions (one provider call per version).
   * Versions the user does not have are absent from the map. KEY001 when the user has no key.
   */
  async unsealPrivateKeys(userId: string, versions: readonly number[]): Promise<Map<number, KeyObject>> {
    const current = await this.keys
      .createQueryBuilder('k')
      .addSelect('k.sealedPrivateKey')
      .where('k.userId = :userId AND k.isActive = true', { userId })
      .getOne();
    if (!current) throw keyNotFound(userId);

    const wanted = [...new Set(versions)];
    const sealedByVersion = new Map<number, { sealed: Buffer; provider: string; keyId: string | null }>();
    if (wanted.includes(current.keyVersion)) {
      sealedByVersion.set(current.keyVersion, {
        sealed: current.sealedPrivateKey!,
        provider: current.keyProvider,
        keyId: current.kmsKeyId,
      });
    }
    const older = wanted.filter((v) => v < current.keyVersion);
    if (older.length) {
      const rows = await this.history
        .createQueryBuilder('h')
        .addSelect('h.sealedPrivateKey')
        .where({ userId, keyVersion: In(older) })
        .getMany();
      for (const row of rows) {
        if (row.sealedPrivateKey) {
          sealedByVersion.set(row.keyVersion, { sealed: row.sealedPrivateKey, provider: row.keyProvider, keyId: row.kmsKeyId });
        }
      }
    }

    const privateKeys = new Map<number, KeyObject>();
    await Promise.all(
      [...sealedByVersion].map(async ([keyVersion, { sealed, provider, keyId }]) => {
        const der = await this.keyProvider.unseal(
          { provider, keyId: keyId ?? 'local', ciphertext: sealed },
          { userId, keyVersion },
        );
        try {
          privateKeys.set(keyVersion, createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
        } finally {
          der.fill(0);
        }
      }),
    );
    return privateKeys;
  }

  private async findActive(userId: string): Promise<UserKey> {
    const key = await this.keys.findOne({ where: { userId, isActive: true } });
    if (!key) throw keyNotFound(userId);
    return key;
  }
}
