import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, Matches, Max, Min } from 'class-validator';
import { AUDIT_PAGE_SIZE } from '../../common/limits';
import { USER_ID_EXAMPLE } from '../../common/user-id';
import { IsUserId } from '../../common/validation';
import { AUDIT_ACTIONS, AuditAction } from '../audit-actions';

const ISO_OPTIONS = { strict: true, strictSeparator: true } as const;
export const ACTOR_PATTERN = /^[\p{L}\p{N}\p{P}\p{S}]{1,256}$/u;

/** A time range: from ≤ time < to. */
export class TimeRangeQuery {
  @ApiPropertyOptional({ description: 'Earliest event time (inclusive), ISO 8601', example: '2026-01-01T00:00:00Z' })
  @IsOptional()
  @IsISO8601(ISO_OPTIONS, { message: 'from must be an ISO 8601 date-time' })
  from?: string;

  @ApiPropertyOptional({ description: 'Latest event time (exclusive), ISO 8601', example: '2026-02-01T00:00:00Z' })
  @IsOptional()
  @IsISO8601(ISO_OPTIONS, { message: 'to must be an ISO 8601 date-time' })
  to?: string;
}

export class AuditQuery extends TimeRangeQuery {
  @ApiPropertyOptional({ description: 'Events about this end user', example: USER_ID_EXAMPLE })
  @IsOptional()
  @IsUserId()
  userId?: string;

  @ApiPropertyOptional({ enum: AUDIT_ACTIONS, example: 'decrypt' })
  @IsOptional()
  @IsIn(AUDIT_ACTIONS)
  action?: AuditAction;

  @ApiPropertyOptional({ description: 'Events of this caller: its token `sub`, `client_id` or `username`', example: 'billing-service' })
  @IsOptional()
  @Matches(ACTOR_PATTERN, { message: 'actor must be a sub, client_id or username (1 to 256 printable characters)' })
  actor?: string;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page' })
  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]{1,256}$/, { message: 'cursor must be a nextCursor returned by this API' })
  cursor?: string;

  @ApiPropertyOptional({ description: `Events per page (default ${AUDIT_PAGE_SIZE.default})`, minimum: 1, maximum: AUDIT_PAGE_SIZE.max })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(AUDIT_PAGE_SIZE.max)
  limit?: number;
}
