import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { AppConfig } from '../config/app-config';

/** What is cached per user: public material only, never anything sealed or private. */
export interface CachedPublicKey {
  keyVersion: number;
  publicKeyPem: string;
}

/**
 * Cache of users' current public keys, so /encrypt never reads the database or calls KMS on a
 * hit. The store behind CACHE_MANAGER is in-memory or Redis; a failing store is a miss, never
 * an error, because the database still has the answer.
 */
@Injectable()
export class PublicKeyCache {
  private readonly logger = new Logger(PublicKeyCache.name);
  private readonly ttlMs: number;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    config: AppConfig,
  ) {
    this.ttlMs = config.cache.keyTtlSeconds * 1000;
  }

  async get(userId: string): Promise<CachedPublicKey | undefined> {
    try {
      return (await this.cache.get<CachedPublicKey>(cacheKey(userId))) ?? undefined;
    } catch (error) {
      this.logger.warn(`public key cache read failed: ${(error as Error).name}`);
      return undefined;
    }
  }

  async set(userId: string, value: CachedPublicKey): Promise<void> {
    try {
      await this.cache.set(cacheKey(userId), value, this.ttlMs);
    } catch (error) {
      this.logger.warn(`public key cache write failed: ${(error as Error).name}`);
    }
  }

  async evict(userId: string): Promise<void> {
    await this.cache.del(cacheKey(userId));
  }
}

const cacheKey = (userId: string) => `pii-api:public-key:${userId}`;
