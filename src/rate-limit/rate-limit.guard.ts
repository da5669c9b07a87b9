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
import { MetricsService } from '../metrics/metrics.service';
import { RateLimiter } from './rate-limiter.service';

/** Set on a request whose caller the token guard has counted already (RateLimiter.count). */
export const CALLER_COUNTED = Symbol('rate-limit:caller-counted');

/**
 * RATE_LIMIT_PER_MINUTE per caller across all routes. An authenticated request is counted by
 * the token guard for its token's `sub` (for a client-credentials token, the app client), in
 * the same Redis round trip as the denylist check, and passes here. Anything else counts against
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
    private readonly limiter: RateLimiter,
    private readonly metrics: MetricsService,
  ) {
    super(options, storage, reflector);
  }

  override canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.switchToHttp().getRequest()[CALLER_COUNTED]) return Promise.resolve(true);
    return super.canActivate(context);
  }

  protected override async getTracker(request: Record<string, any>): Promise<string> {
    const principal = request.user as { sub?: string } | undefined;
    return principal ? `sub:${principal.sub}` : `ip:${await super.getTracker(request)}`;
  }

  /** One count per caller, whatever the route (the library's default counts each route apart). */
  protected override generateKey(_context: ExecutionContext, tracker: string): string {
    return this.limiter.keyOf(tracker);
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    this.metrics.countRateLimited();
    await super.throwThrottlingException(context, detail);
  }
}
