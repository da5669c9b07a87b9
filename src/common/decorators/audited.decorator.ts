import { applyDecorators, SetMetadata } from '@nestjs/common';
import type { AuditAction, DescribeOperation } from '../audit-vocabulary';
import { ApiErrors } from './api-errors.decorator';

export const AUDITED_OPERATION = 'audit:operation';

/** What @Audited leaves on a route for the global AuditInterceptor. */
export interface AuditedOperation {
  action: AuditAction;
  /** The feature's description of the operation (its `*.audit.ts`); none: who, when and on whom only. */
  describe?: DescribeOperation;
}

/**
 * The route is one audited operation: the global AuditInterceptor records its event (and,
 * for state-changing actions, a `started` event first) and holds the response until the
 * event is stored. `describe` says what the event records beyond who, when and on whom.
 */
export const Audited = (action: AuditAction, describe?: DescribeOperation) =>
  applyDecorators(
    SetMetadata(AUDITED_OPERATION, { action, describe } satisfies AuditedOperation),
    ApiErrors({ SYS002: 'the audit event cannot be stored (nothing was done)' }),
  );
