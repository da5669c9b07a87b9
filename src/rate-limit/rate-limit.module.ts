import { Module } from '@nestjs/common';
import { getStorageToken, ThrottlerModule } from '@nestjs/throttler';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConnection } from '../redis/redis-connection';
import { RateLimitGuard } from './rate-limit.guard';
import { RATE_WINDOW_MS, RateLimiter, THROTTLER_NAME } from './rate-limiter.service';
import { RedisThrottlerStorage } from './redis-throttler.storage';

/**
 * Rate limits: the RateLimiter (one Redis round trip per authenticated request, used by the
 * token guard) and the throttler guard for requests it has not counted, both counting through
 * the same limiter. The guard is registered globally by AuthModule, after the token guard.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [AppConfig, RedisConnection, MetricsService],
      useFactory: (config: AppConfig, redis: RedisConnection, metrics: MetricsService) => ({
        throttlers: [{ name: THROTTLER_NAME, ttl: RATE_WINDOW_MS, limit: config.rateLimitPerMinute }],
        storage: new RedisThrottlerStorage(new RateLimiter(config, redis, metrics)),
      }),
    }),
  ],
  providers: [
    RateLimitGuard,
    { provide: RateLimiter, inject: [getStorageToken()], useFactory: (storage: RedisThrottlerStorage) => storage.limiter },
  ],
  exports: [RateLimitGuard, RateLimiter],
})
export class RateLimitModule {}
