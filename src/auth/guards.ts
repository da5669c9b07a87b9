import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { TokenExpiredError, NotBeforeError } from 'jsonwebtoken';
import { ApiError } from '../common/api-error';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard';
import { PUBLIC_ROUTE } from '../common/decorators/public.decorator';
import { REQUIRED_PERMISSION, SUBJECT_FIELDS } from '../common/decorators/require-permission.decorator';
import { Permission } from '../common/permissions';
import { Principal } from './principal';

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

/**
 * Checks the route's permission, and that a token bound to one user (AUTH_USER_ID_CLAIM) names
 * only that user in the request.
 */
@Injectable()
export class PermissionsGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const anyOf = this.reflector.get<Permission[] | undefined>(REQUIRED_PERMISSION, context.getHandler());
    if (!anyOf) return true;
    const request = context.switchToHttp().getRequest();
    const principal: Principal = request.user;
    if (!anyOf.some((permission) => principal.permissions.has(permission))) {
      throw new ApiError('AUTH002', `This token lacks the ${anyOf.map((p) => `"${p}"`).join(' or ')} permission`);
    }
    if (principal.actsForUserId !== undefined) {
      const fields = this.reflector.get<string[]>(SUBJECT_FIELDS, context.getHandler()) ?? [];
      for (const field of fields) {
        const named = request.params?.[field] ?? request.body?.[field];
        if (named !== undefined && String(named) !== principal.actsForUserId) {
          throw new ApiError('AUTH002', `This token may only act for user ${principal.actsForUserId}`);
        }
      }
    }
    return true;
  }
}
