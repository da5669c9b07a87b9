import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { NotBeforeError, TokenExpiredError } from 'jsonwebtoken';
import { ApiError } from '../common/api-error';
import { PUBLIC_ROUTE } from '../common/decorators/public.decorator';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard';

/**
 * Every route needs a valid access token unless marked @Public(). A request whose token is
 * refused still counts against its client IP's rate limit, so that the 401 turns into 429 for a
 * client that keeps trying.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly rateLimit: RateLimitGuard,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()])) return true;
    try {
      return (await super.canActivate(context)) as boolean;
    } catch (error) {
      await this.rateLimit.canActivate(context);
      throw error;
    }
  }

  override handleRequest<T>(error: unknown, principal: T, info: unknown): T {
    if (error instanceof ApiError) throw error;
    if (error || !principal) throw new ApiError('AUTH001', describeTokenFailure(error ?? info));
    return principal;
  }
}

function describeTokenFailure(reason: unknown): string {
  if (reason instanceof ApiError) return reason.message;
  if (reason instanceof TokenExpiredError) return 'Token has expired';
  if (reason instanceof NotBeforeError) return 'Token is not valid yet';
  if (reason instanceof Error && reason.message === 'No auth token') return 'A bearer token is required';
  return 'Token is invalid';
}
