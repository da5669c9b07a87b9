import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { APPROVAL_ACTIONS, APPROVAL_TARGET_MAX_LENGTH, APPROVALS_REQUIRED, ApprovalAction } from '../../common/approvals';
import { UUID_PATTERN } from '../../common/uuid';
import { APPROVAL_STATES, ApprovalState } from '../approval-state';

const INSTANT = { type: 'string', format: 'date-time' } as const;

export class ApprovalView {
  @ApiProperty({ description: 'The approving identity (its token `sub`)', example: 'security-officer-2' })
  approver: string;

  @ApiProperty({ ...INSTANT, example: '2026-11-25T10:05:00.000Z' })
  approvedAt: string;
}

/** A request for a destructive action under the two-person rule (README "Two-person rule"). */
export class ApprovalRequestView {
  @ApiProperty({ format: 'uuid', pattern: UUID_PATTERN.source, example: '3f0c9a52-7d0e-4e57-9b1a-2f3e4d5c6b7a' })
  id: string;

  @ApiProperty({ enum: APPROVAL_ACTIONS, description: 'The action requested', example: 'index.finish-rotation' })
  action: ApprovalAction;

  @ApiProperty({
    maxLength: APPROVAL_TARGET_MAX_LENGTH,
    description:
      'What the action applies to: the index name (index.finish-rotation), the KMS key the migration goes to (kms-migration.start), the number of the breaker trip to lift (shred-breaker.lift), the person whose keys are destroyed at once (keys.erase-now)',
    example: 'sin',
  })
  target: string;

  @ApiProperty({
    enum: APPROVAL_STATES,
    description:
      'pending: waiting for a second identity’s approval; approved: the action may be run once, by repeating the call with X-Approval-Id; used: it was run; expired: not used within 24 hours',
    example: 'pending',
  })
  state: ApprovalState;

  @ApiProperty({ description: 'The identity that asked (its token `sub`); it may not approve', example: 'security-officer-1' })
  requestedBy: string;

  @ApiProperty({ ...INSTANT, example: '2026-11-25T10:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ ...INSTANT, description: 'Unused by then, the request expires', example: '2026-11-26T10:00:00.000Z' })
  expiresAt: string;

  @ApiProperty({ type: [ApprovalView], description: 'Approvals recorded, oldest first' })
  approvals: ApprovalView[];

  @ApiProperty({ description: 'Distinct approvers other than the requester', example: 0, minimum: 0 })
  approvalsCounted: number;

  @ApiProperty({ description: 'Approvals by identities other than the requester that the action needs', example: APPROVALS_REQUIRED })
  approvalsRequired: number;

  @ApiPropertyOptional({ ...INSTANT, description: 'When the action was run under this request' })
  usedAt?: string;

  @ApiPropertyOptional({ description: 'Who ran it (its token `sub`)', example: 'security-officer-1' })
  usedBy?: string;
}

export class ApprovalRequestList {
  @ApiProperty({ type: [ApprovalRequestView], description: 'The newest 100 requests, newest first' })
  requests: ApprovalRequestView[];
}
