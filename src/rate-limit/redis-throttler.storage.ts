import { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import { RateLimiter } from './rate-limiter.service';

/**
 * The throttler library's storage (counts by client IP for requests without a valid token, and
 * for public routes), counted by the RateLimiter: in Redis when it is configured and answers,
 * otherwise in this process's memory.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  constructor(readonly limiter: RateLimiter) {}

  increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    return this.limiter.increment(key, ttl, limit, blockDuration, throttlerName);
  }
}
