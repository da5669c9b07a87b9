import { BooleanField, DateTimeField, EnumField, IntegerField, PatternField, UserIdField } from '../../common/decorators/fields.decorator';
import { AUDIT_PAGE_SIZE } from '../../common/limits';
import { AUDIT_ACTIONS, AuditAction } from '../audit-actions';

/** A caller as events record it: its token `sub`, `client_id` or `username`. */
export const ACTOR_PATTERN = /^[\p{L}\p{N}\p{P}\p{S}]{1,256}$/u;
/** A page cursor as this API hands it out (`nextCursor`): base64url. */
export const CURSOR_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

/** A time range: from ≤ time < to. */
export class TimeRangeQuery {
  @DateTimeField({ required: false, description: 'Earliest event time (inclusive); not later than to', example: '2026-01-01T00:00:00Z' })
  from?: string;

  @DateTimeField({ required: false, description: 'Latest event time (exclusive)', example: '2026-02-01T00:00:00Z' })
  to?: string;
}

export class AuditQuery extends TimeRangeQuery {
  @UserIdField({ required: false, description: 'Events about this end user' })
  userId?: string;

  @EnumField(AUDIT_ACTIONS, { required: false, description: 'Events of this action', example: 'decrypt' })
  action?: AuditAction;

  @PatternField(ACTOR_PATTERN, {
    required: false,
    minLength: 1,
    maxLength: 256,
    message: 'must be a sub, client_id or username (1 to 256 printable characters)',
    description: 'Events of this caller: its token `sub`, `client_id` or `username` (1 to 256 letters, digits, punctuation or symbols)',
    example: 'billing-service',
  })
  actor?: string;

  @PatternField(CURSOR_PATTERN, {
    required: false,
    minLength: 1,
    maxLength: 256,
    message: 'must be a nextCursor returned by this API',
    description: 'The `nextCursor` of the previous page (any other value is refused)',
  })
  cursor?: string;

  @IntegerField({
    required: false,
    minimum: 1,
    maximum: AUDIT_PAGE_SIZE.max,
    default: AUDIT_PAGE_SIZE.default,
    description: 'Events per page',
  })
  limit?: number;
}

/** GET /audit/verify. */
export class VerifyQuery {
  @BooleanField({
    required: false,
    default: false,
    description:
      'true: walk every chain from its start (run it on a schedule: an edit before a checkpoint is found only this way); ' +
      'false: walk each chain from its last verified checkpoint (docs/audit.md)',
  })
  full?: boolean;
}
