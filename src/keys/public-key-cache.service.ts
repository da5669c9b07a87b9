import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { SingleFlight } from '../common/single-flight';
import { AppConfig } from '../config/app-config';
import { isKeyAlgorithm, KeyAlgorithm } from '../envelope/ciphertexts';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConnection } from '../redis/redis-connection';

/** What is cached per user: public material only, never anything sealed or private. */
export interface CachedPublicKey {
  keyVersion: number;
  algorithm: KeyAlgorithm;
  /** As GET /keys publishes it: SPKI PEM (RSA-OAEP-256) or base64 (X-Wing). */
  publishedKey: string;
}

/**
 * What a miss hands back for `fill`: the key epoch seen before the caller read the database.
 * `fill` stores the key read only while that epoch is still current, so a read that raced a
 * rotation, crypto-shred or re-creation is never cached. null: nothing may be stored.
 */
export interface FillTicket {
  readonly epoch: string | null;
}

/** A lookup: the cached key, or a miss and its ticket. */
export type PublicKeyLookup = { key: CachedPublicKey; ticket?: undefined } | { key?: undefined; ticket: FillTicket };

/** Public keys kept in this process's memory (a few hundred bytes each). */
const IN_PROCESS_MAX = 10_000;
/**
 * The key epoch: set to a new random value by every eviction (rotation, crypto-shred,
 * re-creation), on any replica. Every request's one Redis round trip reads it along
 * (RedisConnection.watch): a replica whose value changed drops its in-process copies before the
 * request that saw the change uses one. A cache fill stores only under the epoch it read before
 * its database read (FILL_SCRIPT).
 */
const EPOCH_NAME = 'public-key-epoch';
/** In-process copies are used only while the epoch was read this recently (a request's own round trip is milliseconds old). */
const EPOCH_FRESH_MS = 1000;
/** Stores KEYS[2] = ARGV[2] for ARGV[3] ms only while the epoch KEYS[1] is still ARGV[1]; 1 if stored. */
const FILL_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;
const NO_FILL: FillTicket = { epoch: null };

/**
 * Cache of users' current public keys, so /encrypt (and /translate, for the delegate) need not
 * read the database on a hit. Where it lives depends on what can tell every process of an
 * eviction:
 *
 * - With REDIS_URL: Redis, shared by the replicas, plus copies in this process's memory used only
 *   while the key epoch read in the current request's Redis round trip is the one they were copied
 *   under, so a rotation, crypto-shred or re-creation on another replica is seen as soon as Redis
 *   is. Without a fresh epoch (Redis slow or down, or no request lately) every lookup goes to
 *   Redis. Every Redis call is bounded by REDIS_TIMEOUT_MS; a failing or slow store is a miss,
 *   never an error, because the database still has the answer.
 * - Without Redis, on the embedded database: this process's memory. The embedded database serves
 *   one process, so its own evictions are all there are.
 * - Without Redis, on PostgreSQL: nothing is cached. Other replicas could not tell this one of a
 *   crypto-shred, so every lookup is a miss and the caller reads the primary (one indexed read),
 *   rather than encrypt under a destroyed key.
 *
 * A miss returns a ticket holding the epoch seen before the caller reads the database; `fill`
 * stores the key read only while that epoch is current (atomically in Redis), so a fill racing
 * an eviction never puts a replaced or destroyed key back.
 *
 * An eviction that Redis could not take is remembered and retried before the next read and
 * whenever Redis reconnects; until it succeeds this process does not read that user's entry, so
 * it never encrypts under a key that has been replaced. Other replicas see the stale entry at most
 * until Redis is back and this process retries, or its TTL.
 */
@Injectable()
export class PublicKeyCache {
  private readonly logger = new Logger(PublicKeyCache.name);
  private readonly ttlMs: number;
  private readonly mode: 'redis' | 'process' | 'off';
  private readonly pendingEvictions = new Set<string>();
  private readonly local: LRUCache<string, CachedPublicKey>;
  /** The key epoch: with Redis, the one last read from it (null: none set yet; undefined: never read); else this process's own. */
  private epoch: string | null | undefined;
  private epochReadAt = -Infinity;
  /** The epoch's Redis key; in a cluster in the shared slot with the entries (RedisConnection.sharedKey). */
  private readonly epochKey: string;
  /** Reads of the primary after a miss, shared by the concurrent misses of one user under one epoch. */
  private readonly reads: SingleFlight<CachedPublicKey>;

  constructor(
    private readonly redis: RedisConnection,
    private readonly metrics: MetricsService,
    config: AppConfig,
  ) {
    this.ttlMs = config.cache.keyTtlSeconds * 1000;
    this.epochKey = redis.sharedKey(EPOCH_NAME);
    this.local = new LRUCache({ max: IN_PROCESS_MAX, ttl: this.ttlMs });
    this.mode = redis.isConfigured ? 'redis' : config.database.url ? 'off' : 'process';
    this.reads = new SingleFlight(() => metrics.countCoalescedWait('public_key'));
    if (this.mode === 'process') this.epoch = randomUUID();
    if (this.mode === 'redis') {
      redis.watch(
        this.epochKey,
        (epoch) => this.epochRead(epoch),
        () => (this.epochReadAt = -Infinity),
      );
      redis.onReady(() => {
        void this.startEpoch();
        void this.retryEvictions();
      });
    }
  }

  /** The user's cached key, or a miss with the ticket to `fill` once the caller has read the key from the primary. */
  async get(userId: string): Promise<PublicKeyLookup> {
    if (this.mode === 'off') return this.miss('miss');
    if (this.mode === 'process') {
      const copy = this.local.get(userId);
      return copy ? this.hit(copy) : this.miss('miss', { epoch: this.epoch! });
    }
    if (this.pendingEvictions.size) await this.retryEvictions();
    if (this.pendingEvictions.has(userId)) return this.miss('unavailable');
    const copy = this.freshEpoch() === undefined ? undefined : this.local.get(userId);
    if (copy) return this.hit(copy);
    try {
      // One round trip reads the entry and the epoch it is valid under.
      const [epoch, stored] = await this.redis.execute((client) => client.mGet([this.epochKey, this.cacheKey(userId)]));
      if (epoch === null) {
        void this.startEpoch();
        return this.miss('miss');
      }
      const value = parse(stored);
      if (!value) return this.miss('miss', { epoch });
      this.keepLocally(userId, value, epoch);
      return this.hit(value);
    } catch {
      return this.miss('unavailable');
    }
  }

  /**
   * After a miss: the caller's `read` of the primary, then `fill` with what it read. Concurrent
   * misses for the same user under the same key epoch share one read. A miss under a later epoch
   * (an eviction in between, on any replica) reads on its own, and so does a miss with no epoch
   * to tell by (Redis failing, or PostgreSQL without Redis, where another replica's shred is not
   * seen): a request that starts after a rotation or shred never takes a key read before it.
   */
  load(userId: string, ticket: FillTicket, read: () => Promise<CachedPublicKey>): Promise<CachedPublicKey> {
    const readAndFill = async () => {
      const value = await read();
      await this.fill(userId, value, ticket);
      return value;
    };
    return ticket.epoch === null ? readAndFill() : this.reads.run(`${ticket.epoch}/${userId}`, readAndFill);
  }

  /** Stores `value`, read from the primary after the miss that gave `ticket`, unless an eviction happened since. */
  async fill(userId: string, value: CachedPublicKey, ticket: FillTicket): Promise<void> {
    const { epoch } = ticket;
    if (epoch === null) return;
    if (this.mode === 'process') {
      if (epoch === this.epoch) this.local.set(userId, value);
      return;
    }
    if (this.mode !== 'redis' || this.pendingEvictions.has(userId)) return;
    const stored = await this.redis
      .execute((client) =>
        client.eval(FILL_SCRIPT, {
          keys: [this.epochKey, this.cacheKey(userId)],
          arguments: [epoch, JSON.stringify(value), String(this.ttlMs)],
        }),
      )
      .catch(() => 0);
    if (stored === 1) this.keepLocally(userId, value, epoch);
  }

  /** Drops the user's key everywhere: after a rotation, a crypto-shred or a re-creation. */
  async evict(userId: string): Promise<void> {
    this.local.delete(userId);
    if (this.mode === 'process') this.epoch = randomUUID();
    if (this.mode !== 'redis') return;
    try {
      await this.evictShared(userId);
      this.pendingEvictions.delete(userId);
    } catch (error) {
      this.pendingEvictions.add(userId);
      this.logger.warn(`public key cache eviction failed (${(error as Error).name}); it will be retried`);
    }
  }

  /**
   * Moves the epoch on — every replica drops its in-process copies, and fills that read the
   * database before now are refused — then drops the shared entry (which a fill that ran before
   * the new epoch may have written).
   */
  private async evictShared(userId: string): Promise<void> {
    await this.redis.execute((client) => client.set(this.epochKey, randomUUID()));
    await this.redis.execute((client) => client.del(this.cacheKey(userId)));
  }

  /**
   * Sets an epoch when Redis has none (first start, or Redis restarted empty): until one is set,
   * nothing is cached, so a Redis that lost its data never vouches for a copy.
   */
  private async startEpoch(): Promise<void> {
    await this.redis.execute((client) => client.set(this.epochKey, randomUUID(), { condition: 'NX' })).catch(() => undefined);
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

  /** Keeps a copy valid under `epoch` (read with it from Redis, or stored under it), unless this process has seen the epoch move on. */
  private keepLocally(userId: string, value: CachedPublicKey, epoch: string): void {
    if (epoch === this.epoch && !this.pendingEvictions.has(userId)) this.local.set(userId, value);
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

  private cacheKey(userId: string): string {
    return this.redis.sharedKey(`public-key:${userId}`);
  }

  private hit(key: CachedPublicKey): PublicKeyLookup {
    this.metrics.countCacheLookup('public_key', 'hit');
    return { key };
  }

  private miss(result: 'miss' | 'unavailable', ticket = NO_FILL): PublicKeyLookup {
    this.metrics.countCacheLookup('public_key', result);
    return { ticket };
  }
}

/** A stored entry, or undefined for none or anything else (such as an entry of an earlier release). */
function parse(stored: string | null | undefined): CachedPublicKey | undefined {
  if (!stored) return undefined;
  try {
    // An entry of a release before key algorithms ({ keyVersion, publicKeyPem }) is none: read again.
    const { keyVersion, algorithm, publishedKey } = JSON.parse(stored) as Partial<CachedPublicKey>;
    return Number.isInteger(keyVersion) && isKeyAlgorithm(algorithm) && typeof publishedKey === 'string'
      ? { keyVersion: keyVersion!, algorithm, publishedKey }
      : undefined;
  } catch {
    return undefined;
  }
}
