import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiServiceUnavailableResponse } from '@nestjs/swagger';
import { ErrorResponse } from '../error-response.dto';
import type { AuditAction } from '../../audit/audit-actions';

export const AUDITED_ACTION = 'audit:action';

/**
 * The route is one audited operation: the global AuditInterceptor records its event (and,
 * for state-changing actions, a `started` event first) and holds the response until the
 * event is stored.
 */
export const Audited = (action: AuditAction) =>
  applyDecorators(
    SetMetadata(AUDITED_ACTION, action),
    ApiServiceUnavailableResponse({
      description: 'SYS002: a dependency (database, KMS) is unavailable, or the audit event cannot be stored (nothing was done)',
      type: ErrorResponse,
    }),
  );
