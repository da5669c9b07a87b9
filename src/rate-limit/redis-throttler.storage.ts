import { ThrottlerStorage, ThrottlerStorageService } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import { RedisConnection } from '../redis/redis-connection';

/**
 * Counts a caller's hits in a fixed window and, over the limit, blocks them for the block
 * duration; atomically, in one round trip. KEYS: hits counter, block marker.
 * ARGV: window ms, limit, block ms. Returns {hits, window ms left, blocked 0/1, block ms left}.
 */
const INCREMENT_SCRIPT = `
local blockLeft = redis.call('PTTL', KEYS[2])
if blockLeft > 0 then
  return {tonumber(redis.call('GET', KEYS[1]) or '0'), math.max(redis.call('PTTL', KEYS[1]), 0), 1, blockLeft}
end
local hits = redis.call('INCR', KEYS[1])
local windowLeft = redis.call('PTTL', KEYS[1])
if windowLeft < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  windowLeft = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {hits, windowLeft, 1, tonumber(ARGV[3])}
end
return {hits, windowLeft, 0, 0}
`;

/**
 * Rate-limit counts in Redis, so that every replica enforces one limit per caller. When Redis is
 * down or slow (bounded by REDIS_TIMEOUT_MS) each replica counts in memory until it is back:
 * limits stay enforced, per replica, and requests never fail because of the counter.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly fallback = new ThrottlerStorageService();

  constructor(private readonly redis: RedisConnection) {}

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    // The hash tag keeps both keys in one Redis Cluster slot, as the script requires.
    const base = `pii-api:rate:${throttlerName}:{${key}}`;
    try {
      const [hits, windowLeftMs, blocked, blockLeftMs] = (await this.redis.execute((client) =>
        client.eval(INCREMENT_SCRIPT, { keys: [`${base}:hits`, `${base}:block`], arguments: [String(ttl), String(limit), String(blockDuration)] }),
      )) as number[];
      return {
        totalHits: hits,
        timeToExpire: Math.ceil(windowLeftMs / 1000),
        isBlocked: blocked === 1,
        timeToBlockExpire: Math.ceil(blockLeftMs / 1000),
      };
    } catch {
      return this.fallback.increment(key, ttl, limit, blockDuration, throttlerName);
    }
  }
}
