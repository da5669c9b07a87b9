import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ErrorResponse } from '../error-response.dto';
import { Permission } from '../permissions';

export const REQUIRED_PERMISSION = 'auth:permission';
export const SUBJECT_FIELDS = 'auth:subject-fields';

/**
 * The route needs `permission` (any one of them, for a list). `subjectFields` name the body or path fields holding user ids:
 * a token carrying AUTH_USER_ID_CLAIM may only name its own user there.
 */
export function RequirePermission(permission: Permission | Permission[], subjectFields: string[] = ['userId']) {
  const anyOf = Array.isArray(permission) ? permission : [permission];
  const named = anyOf.map((p) => `\`${p}\``).join(' or ');
  return applyDecorators(
    SetMetadata(REQUIRED_PERMISSION, anyOf),
    SetMetadata(SUBJECT_FIELDS, subjectFields),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'AUTH001: missing, malformed, expired or untrusted token', type: ErrorResponse }),
    ApiForbiddenResponse({ description: `AUTH002: the token lacks ${named} or may not act for this user`, type: ErrorResponse }),
  );
}
