import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { hash } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { RedisConnection } from '../redis/redis-connection';

/**
 * One caller's budget, in one round trip: forget people last seen before the window, then either
 * record `person` (already counted, within budget, or `force`) or refuse without recording.
 * KEYS: the caller's sorted set (person → last seen, ms). ARGV: now ms, window ms, budget, person, force 0/1.
 * Returns {admitted 0/1, over 0/1, oldest last-seen ms (0 when admitted)}.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local known = redis.call('ZSCORE', KEYS[1], ARGV[4])
local over = (not known) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3])
if over and ARGV[5] ~= '1' then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 1, tonumber(oldest[2])}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, over and 1 or 0, 0}
`;
const SCRIPT_SHA = hash('sha1', SCRIPT);

/** How often the in-memory fallback forgets callers whose window has passed. */
const SWEEP_INTERVAL_MS = 60_000;
/**
 * A person Redis has just counted for a caller is counted again, by this replica, only after a
 * sixtieth of the window (at most a minute): reading someone already counted is always admitted,
 * so the only effect is that their last-seen time in Redis may be that much older, and they leave
 * the window up to that much early. Saves the round trip on a caller's repeated reads of one person.
 */
const RECOUNT_SHARE_OF_WINDOW = 1 / 60;
const RECOUNT_MAX_MS = 60_000;
/** Caller–person pairs remembered for that; the least recently used go first. */
const RECENTLY_COUNTED_MAX = 10_000;

export interface BudgetCount {
  /** false: refused, the person was not recorded. */
  admitted: boolean;
  /** The person was new and the caller had reached its budget already (admitted only with `force`). */
  over: boolean;
  /** When refused: seconds until the oldest person leaves the window. */
  retryAfterSeconds: number;
  /** false when Redis did not answer and this process's memory counted. */
  fromRedis: boolean;
}

/**
 * Decrypt budgets: per caller, the distinct people whose data it read in a sliding window of
 * DECRYPT_SUBJECT_WINDOW_SECONDS. Counted in a Redis sorted set per caller (a digest of its
 * `sub`, never the `sub` itself) so that every replica enforces one budget; when Redis is absent,
 * down or slow, each replica counts in memory until it is back, as the rate limiter does, so the
 * budget stays enforced (per replica) and no request fails because of the counter.
 */
@Injectable()
export class DecryptBudget {
  private readonly windowMs: number;
  /** Fallback: caller key → person → last seen ms, in last-seen order (a touched person is moved to the end). */
  private readonly memory = new Map<string, Map<string, number>>();
  private nextSweep = 0;
  /** `caller key + person` → counted by Redis within the recount interval. */
  private readonly recentlyCounted: LRUCache<string, true>;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisConnection,
  ) {
    this.windowMs = config.decryptBudget.windowSeconds * 1000;
    const recountMs = Math.min(RECOUNT_MAX_MS, Math.floor(this.windowMs * RECOUNT_SHARE_OF_WINDOW));
    this.recentlyCounted = new LRUCache({ max: RECENTLY_COUNTED_MAX, ttl: Math.max(1, recountMs) });
  }

  get windowSeconds(): number {
    return this.config.decryptBudget.windowSeconds;
  }

  /** The caller's budget: an override for its `sub`, else for its client id, else DECRYPT_SUBJECT_BUDGET. 0: none. */
  budgetOf(caller: { sub: string; clientId: string }): number {
    const { overrides, perCaller } = this.config.decryptBudget;
    return overrides[caller.sub] ?? overrides[caller.clientId] ?? perCaller;
  }

  /** Counts `person` for the caller `sub` against `budget`; over budget, records it only with `force` (break-glass). */
  async count(sub: string, person: string, budget: number, force: boolean, now = Date.now()): Promise<BudgetCount> {
    const key = `pii-api:budget:${hash('sha256', sub, 'base64url')}`;
    if (this.redis.isConfigured) {
      const pair = `${key}\u0000${person}`;
      if (this.recentlyCounted.has(pair)) return { admitted: true, over: false, retryAfterSeconds: 0, fromRedis: true };
      try {
        const args = [String(now), String(this.windowMs), String(budget), person, force ? '1' : '0'];
        const [admitted, over, oldest] = (await this.redis.execute((client) =>
          client.evalSha(SCRIPT_SHA, { keys: [key], arguments: args }).catch((error: Error) => {
            if (!error.message?.startsWith('NOSCRIPT')) throw error;
            return client.eval(SCRIPT, { keys: [key], arguments: args });
          }),
        )) as number[];
        if (admitted === 1) this.recentlyCounted.set(pair, true);
        return { admitted: admitted === 1, over: over === 1, retryAfterSeconds: this.retryAfter(oldest, now), fromRedis: true };
      } catch {
        // Redis down or slow: count here until it answers again.
      }
    }
    return { ...this.countInMemory(key, person, budget, force, now), fromRedis: false };
  }

  private countInMemory(key: string, person: string, budget: number, force: boolean, now: number): Omit<BudgetCount, 'fromRedis'> {
    this.sweep(now);
    let seen = this.memory.get(key);
    if (!seen) this.memory.set(key, (seen = new Map()));
    forgetBefore(seen, now - this.windowMs);
    const known = seen.delete(person);
    const over = !known && seen.size >= budget;
    if (over && !force) {
      const oldest = seen.values().next().value ?? now;
      return { admitted: false, over, retryAfterSeconds: this.retryAfter(oldest, now) };
    }
    seen.set(person, now);
    return { admitted: true, over, retryAfterSeconds: 0 };
  }

  /** Drops callers whose every person has left the window, at most once a minute. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const [key, seen] of this.memory) {
      forgetBefore(seen, now - this.windowMs);
      if (seen.size === 0) this.memory.delete(key);
    }
  }

  private retryAfter(oldestMs: number, now: number): number {
    return Math.max(1, Math.ceil((oldestMs + this.windowMs - now) / 1000));
  }
}

/** `seen` is in last-seen order: drop from the front while older than `cutoff` (inclusive, as ZREMRANGEBYSCORE). */
function forgetBefore(seen: Map<string, number>, cutoff: number): void {
  for (const [person, lastSeen] of seen) {
    if (lastSeen > cutoff) return;
    seen.delete(person);
  }
}
