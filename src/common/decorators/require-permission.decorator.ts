import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { Permission } from '../permissions';
import { ApiErrors } from './api-errors.decorator';

export const REQUIRED_PERMISSION = 'auth:permission';
export const SUBJECT_FIELDS = 'auth:subject-fields';

/**
 * The route needs `permission` (any one of them, for a list). `subjectFields` name the body or path fields holding user ids:
 * a token carrying AUTH_USER_ID_CLAIM may only name its own user there. Every route that needs a token is also rate
 * limited per caller, checks the token against the revocation list, and is shed under load: its document says so.
 */
export function RequirePermission(permission: Permission | Permission[], subjectFields: string[] = ['userId']) {
  const anyOf = Array.isArray(permission) ? permission : [permission];
  const named = anyOf.map((p) => `\`${p}\``).join(' or ');
  return applyDecorators(
    SetMetadata(REQUIRED_PERMISSION, anyOf),
    SetMetadata(SUBJECT_FIELDS, subjectFields),
    ApiBearerAuth(),
    ApiErrors({
      AUTH001: 'missing, malformed, expired, revoked or untrusted token',
      AUTH002: `the token lacks ${named}${subjectFields.length ? ', or is bound to another user than the one named' : ''}`,
      RATE001: 'over RATE_LIMIT_PER_MINUTE for this caller; Retry-After says when to try again',
      SYS002:
        'a dependency (database, KMS, token issuer) is unavailable, or the service is refusing requests for load or until its shred-log replay at start-up is done (Retry-After)',
    }),
  );
}
