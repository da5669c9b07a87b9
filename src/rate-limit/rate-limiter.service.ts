import { Injectable } from '@nestjs/common';
import { ThrottlerStorageService } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import { hash } from 'node:crypto';
import { ApiError } from '../common/api-error';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConnection } from '../redis/redis-connection';

/** The one rate-limit window: RATE_LIMIT_PER_MINUTE per caller. */
export const RATE_WINDOW_MS = 60_000;
/** The name of the one throttler (the library's default), part of every count's key. */
export const THROTTLER_NAME = 'default';

/**
 * A request's one Redis round trip. It reads the watched keys (RedisConnection.watch), then, if
 * one of the denylist entries exists, answers "listed" without counting; otherwise it counts the
 * caller's hit in a fixed window and, over the limit, blocks the caller for the block duration.
 * KEYS: hits counter, block marker, ARGV[4] denylist entries, watched keys.
 * ARGV: window ms, limit, block ms, number of denylist entries.
 * Returns {hits, window ms left, blocked 0/1, block ms left, listed 0/1, watched values...}.
 */
const SCRIPT = `
local denied = tonumber(ARGV[4])
local watched = {}
for i = 3 + denied, #KEYS do watched[#watched + 1] = redis.call('GET', KEYS[i]) end
for i = 3, 2 + denied do
  if redis.call('EXISTS', KEYS[i]) == 1 then return {0, 0, 0, 0, 1, unpack(watched)} end
end
local blockLeft = redis.call('PTTL', KEYS[2])
if blockLeft > 0 then
  return {tonumber(redis.call('GET', KEYS[1]) or '0'), math.max(redis.call('PTTL', KEYS[1]), 0), 1, blockLeft, 0, unpack(watched)}
end
local hits = redis.call('INCR', KEYS[1])
local windowLeft = redis.call('PTTL', KEYS[1])
if windowLeft < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  windowLeft = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {hits, windowLeft, 1, tonumber(ARGV[3]), 0, unpack(watched)}
end
return {hits, windowLeft, 0, 0, 0, unpack(watched)}
`;
const SCRIPT_SHA = hash('sha1', SCRIPT);

/** A counted hit, and what the round trip said about the denylist entry it was given. */
export interface CallerCount extends ThrottlerStorageRecord {
  /** true/false: the denylist entry is/is not in Redis; undefined: Redis was not asked or did not answer. */
  listed?: boolean;
  /** false when Redis did not answer and the count was made in this process's memory. */
  fromRedis: boolean;
}

/**
 * Rate limits, counted in Redis so that every replica enforces one limit per caller, in one round
 * trip per request (EVALSHA of the script above; the script text is sent only when Redis does not
 * know it yet). The token guard also checks the token denylist and reads the watched keys in the
 * same round trip. When Redis is absent, down or slow (bounded by REDIS_TIMEOUT_MS) each replica
 * counts in memory until it is back: limits stay enforced, per replica, and requests never fail
 * because of the counter.
 *
 * In a Redis cluster (REDIS_CLUSTER) the keys of one count share the caller's hash tag, so counts
 * spread over the primaries, while the denylist entry and the watched keys live in the shared slot
 * (RedisConnection.sharedKey): the script counts in the caller's slot and one MGET reads the
 * others, sent together (one round trip's wait, two primaries). A request with a revoked token is
 * then counted against its caller too, as on a single node while the denylist copy is rebuilt.
 */
@Injectable()
export class RateLimiter {
  readonly limit: number;
  private readonly fallback = new ThrottlerStorageService();

  constructor(
    config: AppConfig,
    private readonly redis: RedisConnection,
    private readonly metrics: MetricsService,
  ) {
    this.limit = config.rateLimitPerMinute;
  }

  /** The key of a caller's count: a digest, so that no `sub` or IP address is a Redis key. Compute once per caller where possible. */
  keyOf(tracker: string): string {
    return `${THROTTLER_NAME}:${hash('sha256', tracker, 'base64url')}`;
  }

  /** Counts one hit of the caller whose count is `key` (see keyOf), unless `denylisted` (a Redis key) exists. */
  count(key: string, denylisted?: string): Promise<CallerCount> {
    return this.increment(key, RATE_WINDOW_MS, this.limit, RATE_WINDOW_MS, THROTTLER_NAME, denylisted);
  }

  /** The throttler storage's increment (RedisThrottlerStorage), and `count` with a denylist entry. */
  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
    denylisted?: string,
  ): Promise<CallerCount> {
    if (!this.redis.isConfigured)
      return { ...(await this.fallback.increment(key, ttl, limit, blockDuration, throttlerName)), fromRedis: false };
    // The hash tag keeps both count keys in one Redis Cluster slot.
    const base = `pii-api:rate:${throttlerName}:{${key}}`;
    const countKeys = [`${base}:hits`, `${base}:block`];
    const args = [String(ttl), String(limit), String(blockDuration)];
    const inMemory = async () => ({ ...(await this.fallback.increment(key, ttl, limit, blockDuration, throttlerName)), fromRedis: false });
    if (this.redis.isCluster) return this.incrementInCluster(countKeys, args, inMemory, denylisted);
    const keys = [...countKeys, ...(denylisted ? [denylisted] : []), ...this.redis.watchedKeys];
    try {
      const reply = await this.runScript(keys, [...args, denylisted ? '1' : '0']);
      this.redis.deliverWatched(reply.slice(5) as Array<string | null>);
      return { ...this.record(reply), listed: denylisted ? reply[4] === 1 : undefined };
    } catch {
      this.redis.watchedLost();
      return inMemory();
    }
  }

  /** Cluster: the count in the caller's slot, and the denylist entry and the watched keys read from the shared slot, at once. */
  private async incrementInCluster(
    countKeys: string[],
    args: string[],
    inMemory: () => Promise<CallerCount>,
    denylisted?: string,
  ): Promise<CallerCount> {
    const sharedKeys = [...(denylisted ? [denylisted] : []), ...this.redis.watchedKeys];
    const [counted, read] = await Promise.allSettled([
      this.runScript(countKeys, [...args, '0']),
      sharedKeys.length ? this.redis.execute((client) => client.mGet(sharedKeys)) : Promise.resolve([]),
    ]);
    let listed: boolean | undefined;
    if (read.status === 'fulfilled') {
      listed = denylisted ? read.value[0] !== null : undefined;
      this.redis.deliverWatched(read.value.slice(denylisted ? 1 : 0));
    } else {
      this.redis.watchedLost();
    }
    const count = counted.status === 'fulfilled' ? this.record(counted.value) : await inMemory();
    return { ...count, listed };
  }

  /** EVALSHA of the script (its text is sent only when Redis does not know it yet). */
  private async runScript(keys: string[], args: string[]): Promise<Array<number | string | null>> {
    return (await this.redis.execute((client) =>
      client.evalSha(SCRIPT_SHA, { keys, arguments: args }).catch((error: Error) => {
        if (!error.message?.startsWith('NOSCRIPT')) throw error;
        return client.eval(SCRIPT, { keys, arguments: args });
      }),
    )) as Array<number | string | null>;
  }

  private record(reply: Array<number | string | null>): CallerCount {
    const [hits, windowLeftMs, blocked, blockLeftMs] = reply as number[];
    return {
      totalHits: hits,
      timeToExpire: Math.ceil(windowLeftMs / 1000),
      isBlocked: blocked === 1,
      timeToBlockExpire: Math.ceil(blockLeftMs / 1000),
      fromRedis: true,
    };
  }

  /** 429 RATE001 with Retry-After, counted in the rate-limited metric. */
  refusal(count: ThrottlerStorageRecord): ApiError {
    this.metrics.countRateLimited();
    return new ApiError('RATE001', 'Rate limit exceeded; retry later', {
      headers: { 'Retry-After': String(Math.max(1, count.timeToBlockExpire)) },
    });
  }
}
