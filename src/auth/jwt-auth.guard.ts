import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { NotBeforeError, TokenExpiredError } from 'jsonwebtoken';
import { ApiError } from '../common/api-error';
import { PUBLIC_ROUTE } from '../common/decorators/public.decorator';
import { CALLER_COUNTED, RateLimitGuard } from '../rate-limit/rate-limit.guard';
import { RateLimiter } from '../rate-limit/rate-limiter.service';
import type { Principal } from './principal';
import { TokenRevocations } from './revocation/token-revocation.service';
import { bearerToken, VerifiedToken, VerifiedTokens } from './verified-tokens.service';

type AuthenticatedRequest = { headers: Record<string, unknown>; user?: Principal; [CALLER_COUNTED]?: boolean };

/**
 * Every route needs a valid access token unless marked @Public(). A token is verified once
 * (passport-jwt: JwtStrategy) and then remembered until it expires (VerifiedTokens); on every
 * request one Redis round trip then checks the denylist and counts the caller's rate limit
 * (RateLimiter). A request whose token is refused still counts against its client IP's rate
 * limit, so that the 401 turns into 429 for a client that keeps trying.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly rateLimit: RateLimitGuard,
    private readonly limiter: RateLimiter,
    private readonly tokens: VerifiedTokens,
    private readonly revocations: TokenRevocations,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()])) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request.headers.authorization);
    let verified = token === undefined ? undefined : this.tokens.get(token);
    if (verified) {
      request.user = verified.principal;
    } else {
      await this.refusedCounted(context, () => super.canActivate(context) as Promise<boolean>);
      const principal = request.user!;
      verified = { principal, rateKey: this.limiter.keyOf(`sub:${principal.sub}`) };
      if (token !== undefined) this.tokens.remember(token, verified);
    }
    await this.admit(context, request, verified);
    return true;
  }

  override handleRequest<T>(error: unknown, principal: T, info: unknown): T {
    if (error instanceof ApiError) throw error;
    if (error || !principal) throw new ApiError('AUTH001', describeTokenFailure(error ?? info));
    return principal;
  }

  /** The denylist and the caller's count, in one Redis round trip; the database answers for the denylist when Redis cannot. */
  private async admit(context: ExecutionContext, request: AuthenticatedRequest, { principal, rateKey }: VerifiedToken): Promise<void> {
    const tokenId = principal.tokenId;
    const entry = tokenId === undefined ? undefined : this.revocations.redisEntry(tokenId);
    const count = await this.limiter.count(rateKey, entry);
    if (entry !== undefined && count.listed === undefined) this.revocations.distrustRedis();
    if (tokenId !== undefined && (count.listed ?? (await this.revocations.isRevoked(tokenId)))) {
      request.user = undefined;
      await this.refusedCounted(context, () => Promise.reject(new ApiError('AUTH001', 'Token has been revoked')));
    }
    request[CALLER_COUNTED] = true;
    if (count.isBlocked) throw this.limiter.refusal(count);
  }

  /** Runs `check`; when it refuses the request, the refusal counts against the client IP first. */
  private async refusedCounted(context: ExecutionContext, check: () => Promise<unknown>): Promise<void> {
    try {
      await check();
    } catch (error) {
      await this.rateLimit.canActivate(context);
      throw error;
    }
  }
}

function describeTokenFailure(reason: unknown): string {
  if (reason instanceof ApiError) return reason.message;
  if (reason instanceof TokenExpiredError) return 'Token has expired';
  if (reason instanceof NotBeforeError) return 'Token is not valid yet';
  if (reason instanceof Error && reason.message === 'No auth token') return 'A bearer token is required';
  return 'Token is invalid';
}
