import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConnection } from '../redis/redis-connection';

/** What is cached per user: public material only, never anything sealed or private. */
export interface CachedPublicKey {
  keyVersion: number;
  publicKeyPem: string;
}

/**
 * Cache of users' current public keys, so /encrypt never reads the database or calls KMS on a
 * hit. The store behind CACHE_MANAGER is in-memory or Redis. Every call is bounded by
 * REDIS_TIMEOUT_MS; a failing or slow store is a miss, never an error, because the database
 * still has the answer.
 *
 * An eviction (after a rotation or a crypto-shred) that Redis could not take is remembered and
 * retried before the next read and whenever Redis reconnects; until it succeeds this process does
 * not read that user's entry, so it never encrypts under a key that has been replaced. Other
 * replicas see the stale entry at most until Redis is back and this process retries, or its TTL.
 */
@Injectable()
export class PublicKeyCache {
  private readonly logger = new Logger(PublicKeyCache.name);
  private readonly ttlMs: number;
  private readonly pendingEvictions = new Set<string>();

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    private readonly redis: RedisConnection,
    private readonly metrics: MetricsService,
    config: AppConfig,
  ) {
    this.ttlMs = config.cache.keyTtlSeconds * 1000;
    redis.onReady(() => void this.retryEvictions());
  }

  async get(userId: string): Promise<CachedPublicKey | undefined> {
    if (this.pendingEvictions.size) await this.retryEvictions();
    if (this.pendingEvictions.has(userId)) return this.lookedUp('unavailable');
    try {
      const value = await this.redis.guard(() => this.cache.get<CachedPublicKey>(cacheKey(userId)));
      return value ? this.lookedUp('hit', value) : this.lookedUp('miss');
    } catch {
      return this.lookedUp('unavailable');
    }
  }

  async set(userId: string, value: CachedPublicKey): Promise<void> {
    if (this.pendingEvictions.has(userId)) return;
    await this.redis.guard(() => this.cache.set(cacheKey(userId), value, this.ttlMs)).catch(() => undefined);
  }

  async evict(userId: string): Promise<void> {
    try {
      await this.redis.guard(() => this.cache.del(cacheKey(userId)));
      this.pendingEvictions.delete(userId);
    } catch (error) {
      this.pendingEvictions.add(userId);
      this.logger.warn(`public key cache eviction failed (${(error as Error).name}); it will be retried`);
    }
  }

  private async retryEvictions(): Promise<void> {
    for (const userId of [...this.pendingEvictions]) {
      const evicted = await this.redis.guard(() => this.cache.del(cacheKey(userId))).then(() => true, () => false);
      if (!evicted) return;
      this.pendingEvictions.delete(userId);
    }
  }

  private lookedUp(result: 'hit' | 'miss' | 'unavailable', value?: CachedPublicKey): CachedPublicKey | undefined {
    this.metrics.countCacheLookup('public_key', result);
    return value;
  }
}

const cacheKey = (userId: string) => `pii-api:public-key:${userId}`;
