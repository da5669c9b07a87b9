import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConnection } from '../redis/redis-connection';

/** What is cached per user: public material only, never anything sealed or private. */
export interface CachedPublicKey {
  keyVersion: number;
  publicKeyPem: string;
}

/** Public keys kept in this process's memory (a few hundred bytes each). */
const IN_PROCESS_MAX = 10_000;
/**
 * Set to a new random value by every eviction, on any replica. Every request's one Redis round
 * trip reads it along (RedisConnection.watch): a replica whose value changed drops its
 * in-process copies before the request that saw the change uses one.
 */
const EPOCH_KEY = 'pii-api:public-key-epoch';
/** In-process copies are used only while the epoch was read this recently (a request's own round trip is milliseconds old). */
const EPOCH_FRESH_MS = 1000;

/**
 * Cache of users' current public keys, so /encrypt never reads the database or calls KMS on a
 * hit. Two levels: this process's memory, and — with REDIS_URL — Redis behind CACHE_MANAGER,
 * shared by the replicas. With Redis, an in-process copy is used only while the eviction epoch
 * read in the current request's Redis round trip is the one it was copied under, so a rotation
 * or crypto-shred on another replica is seen as soon as Redis is; without a fresh epoch (Redis
 * slow or down, or no request lately) every lookup goes to Redis as before. Every Redis call is
 * bounded by REDIS_TIMEOUT_MS; a failing or slow store is a miss, never an error, because the
 * database still has the answer. Without Redis the in-process level is the cache.
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
  private readonly local: LRUCache<string, CachedPublicKey>;
  /** The eviction epoch last read from Redis (null: none set yet; undefined: never read). */
  private epoch: string | null | undefined;
  private epochReadAt = -Infinity;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    private readonly redis: RedisConnection,
    private readonly metrics: MetricsService,
    config: AppConfig,
  ) {
    this.ttlMs = config.cache.keyTtlSeconds * 1000;
    this.local = new LRUCache({ max: IN_PROCESS_MAX, ttl: this.ttlMs });
    if (redis.isConfigured) {
      redis.watch(
        EPOCH_KEY,
        (epoch) => this.epochRead(epoch),
        () => (this.epochReadAt = -Infinity),
      );
    }
    redis.onReady(() => {
      void this.startEpoch();
      void this.retryEvictions();
    });
  }

  async get(userId: string): Promise<CachedPublicKey | undefined> {
    if (this.pendingEvictions.size) await this.retryEvictions();
    if (this.pendingEvictions.has(userId)) return this.lookedUp('unavailable');
    if (!this.redis.isConfigured) return this.lookedUp(this.local.has(userId) ? 'hit' : 'miss', this.local.get(userId));
    const epoch = this.freshEpoch();
    const copy = epoch === undefined ? undefined : this.local.get(userId);
    if (copy) return this.lookedUp('hit', copy);
    try {
      const value = await this.redis.guard(() => this.cache.get<CachedPublicKey>(cacheKey(userId)));
      if (!value) return this.lookedUp('miss');
      this.keepLocally(userId, value, epoch);
      return this.lookedUp('hit', value);
    } catch {
      return this.lookedUp('unavailable');
    }
  }

  async set(userId: string, value: CachedPublicKey): Promise<void> {
    if (this.pendingEvictions.has(userId)) return;
    if (!this.redis.isConfigured) {
      this.local.set(userId, value);
      return;
    }
    const epoch = this.freshEpoch();
    await this.redis.guard(() => this.cache.set(cacheKey(userId), value, this.ttlMs)).catch(() => undefined);
    this.keepLocally(userId, value, epoch);
  }

  async evict(userId: string): Promise<void> {
    this.local.delete(userId);
    if (!this.redis.isConfigured) return;
    try {
      await this.evictShared(userId);
      this.pendingEvictions.delete(userId);
    } catch (error) {
      this.pendingEvictions.add(userId);
      this.logger.warn(`public key cache eviction failed (${(error as Error).name}); it will be retried`);
    }
  }

  /** Drops the shared entry, then tells every replica (the epoch) to drop its in-process copies. */
  private async evictShared(userId: string): Promise<void> {
    await this.redis.guard(() => this.cache.del(cacheKey(userId)));
    await this.redis.execute((client) => client.set(EPOCH_KEY, randomUUID()));
  }

  /**
   * Sets an epoch when Redis has none (first start, or Redis restarted empty): until one is set,
   * in-process copies are not used, so a Redis that lost its data never vouches for them.
   */
  private async startEpoch(): Promise<void> {
    await this.redis.execute((client) => client.set(EPOCH_KEY, randomUUID(), { condition: 'NX' })).catch(() => undefined);
  }

  private epochRead(epoch: string | null): void {
    if (epoch !== this.epoch) {
      this.local.clear();
      this.epoch = epoch;
    }
    this.epochReadAt = performance.now();
  }

  /** The epoch, if one is set and was read recently enough to trust in-process copies; else undefined. */
  private freshEpoch(): string | undefined {
    return this.epoch && performance.now() - this.epochReadAt <= EPOCH_FRESH_MS ? this.epoch : undefined;
  }

  /** Keeps a copy read from Redis or the database under `epoch`, unless an eviction has moved the epoch on since. */
  private keepLocally(userId: string, value: CachedPublicKey, epoch: string | undefined): void {
    if (epoch !== undefined && epoch === this.epoch && !this.pendingEvictions.has(userId)) this.local.set(userId, value);
  }

  private async retryEvictions(): Promise<void> {
    for (const userId of [...this.pendingEvictions]) {
      const evicted = await this.evictShared(userId).then(
        () => true,
        () => false,
      );
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
