import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiError } from '../common/api-error';
import { REQUIRED_PERMISSION, SUBJECT_FIELDS } from '../common/decorators/require-permission.decorator';
import { Permission } from '../common/permissions';
import { Principal } from './principal';

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
