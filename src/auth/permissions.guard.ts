import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import { ApiError } from '../common/api-error';
import { REQUIRED_PERMISSION, SUBJECT_RULE, SubjectRule } from '../common/decorators/require-permission.decorator';
import { Permission } from '../common/permissions';
import { Principal } from './principal';

type RequestParts = { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };

/**
 * Checks the route's permission, and, for a token bound to one person (AUTH_USER_ID_CLAIM), the
 * route's subject rule (RequirePermission): default-deny, so a route that states no rule refuses
 * bound tokens.
 */
@Injectable()
export class PermissionsGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const anyOf = this.reflector.get<Permission[] | undefined>(REQUIRED_PERMISSION, context.getHandler());
    if (!anyOf) return true;
    const request = context.switchToHttp().getRequest<RequestParts & { user: Principal }>();
    const principal = request.user;
    if (!anyOf.some((permission) => principal.permissions.has(permission))) {
      throw new ApiError('AUTH002', `This token lacks the ${anyOf.map((p) => `"${p}"`).join(' or ')} permission`);
    }
    const bound = principal.actsForUserId;
    if (bound !== undefined) {
      const rule = this.reflector.get<SubjectRule | undefined>(SUBJECT_RULE, context.getHandler());
      const refusal = rule === undefined ? 'This route is not open to a token bound to a person' : await this.breaks(rule, bound, request);
      if (refusal) throw new ApiError('AUTH002', refusal);
    }
    return true;
  }

  /** Why the request breaks the binding to `bound`, or undefined when it keeps it. */
  private async breaks(rule: SubjectRule, bound: string, request: RequestParts): Promise<string | undefined> {
    const onlyFor = `This token may only act for user ${bound}`;
    switch (rule.kind) {
      case 'operator':
        return 'This is an operator route: a token bound to a person may not call it';
      case 'named': {
        const named = rule.fields.flatMap((field) => namedIn(request, field));
        if (named.length === 0) return `${onlyFor}, and must name that user (${rule.fields.join(' or ')})`;
        const matches = named.filter((value) => value === bound).length;
        return (rule.match === 'every' ? matches === named.length : matches > 0) ? undefined : onlyFor;
      }
      case 'loaded': {
        const id = request.params?.[rule.param];
        const subjects = typeof id === 'string' ? await this.moduleRef.get(rule.by, { strict: false }).subjectsOnPrimary(id) : undefined;
        // A resource that does not exist is refused as one of another person's: a bound token learns nothing of others' ids.
        return subjects?.includes(bound) ? undefined : onlyFor;
      }
    }
  }
}

/** What the request names in `field` (path, query, then body), as text; a value that is not one id counts as naming someone else. */
function namedIn(request: RequestParts, field: string): string[] {
  const body = request.body !== null && typeof request.body === 'object' && !Array.isArray(request.body) ? request.body : {};
  return [request.params?.[field], request.query?.[field], (body as Record<string, unknown>)[field]]
    .filter((value) => value !== undefined)
    .map((value) => (typeof value === 'string' || typeof value === 'number' ? String(value) : '\u0000'));
}
