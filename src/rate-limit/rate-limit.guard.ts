import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  ThrottlerStorage,
} from '@nestjs/throttler';
import { createHash } from 'node:crypto';
import { MetricsService } from '../metrics/metrics.service';

/**
 * RATE_LIMIT_PER_MINUTE per caller across all routes: the token's `sub` once the token guard has
 * authenticated the request (for a client-credentials token that is the app client), otherwise
 * the client IP as Express sees it (TRUST_PROXY decides whether X-Forwarded-For counts).
 * Over the limit: 429 RATE001 with Retry-After. Health and metrics skip it (@SkipThrottle);
 * Swagger is served outside the guards.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly metrics: MetricsService,
  ) {
    super(options, storage, reflector);
  }

  protected override async getTracker(request: Record<string, any>): Promise<string> {
    // Only the caller's `sub` counts here (set by the token guard, which runs first).
    const principal = request.user as { sub?: string } | undefined;
    return principal ? `sub:${principal.sub}` : `ip:${await super.getTracker(request)}`;
  }

  /** One count per caller, whatever the route (the library's default counts each route apart). */
  protected override generateKey(_context: ExecutionContext, tracker: string, throttlerName: string): string {
    return `${throttlerName}:${createHash('sha256').update(tracker).digest('base64url')}`;
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    this.metrics.countRateLimited();
    await super.throwThrottlingException(context, detail);
  }
}
