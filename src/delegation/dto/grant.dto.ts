import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ApiAnyJsonValue, DateTimeField, JsonValueField, PatternField, UserIdField } from '../../common/decorators/fields.decorator';
import { GRANT_REASON_LENGTH, GRANT_REASON_PATTERN } from '../../common/limits';
import { USER_ID_PATTERN } from '../../common/user-id';
import { UUID_PATTERN } from '../../common/uuid';
import { EXAMPLE_CIPHERTEXT } from '../../crypto/dto/batch.dto';
import { GRANT_STATES, GrantState } from '../grant-state';

export class CreateGrantRequest {
  @UserIdField({ description: 'The person whose data is released', example: '42' })
  fromUserId: string;

  @UserIdField({ description: 'The delegate (executor, attorney) who receives it; not fromUserId', example: '77' })
  toUserId: string;

  @PatternField(GRANT_REASON_PATTERN, {
    minLength: GRANT_REASON_LENGTH.min,
    maxLength: GRANT_REASON_LENGTH.max,
    message: `must be ${GRANT_REASON_LENGTH.min} to ${GRANT_REASON_LENGTH.max} characters without control characters`,
    description: `Why the release is granted (kept with the grant and in the audit trail): ${GRANT_REASON_LENGTH.min} to ${GRANT_REASON_LENGTH.max} characters, no control characters`,
    example: 'Executor of the estate, probate file 2026-1234',
  })
  reason: string;

  @DateTimeField({
    required: false,
    nullable: true,
    description: 'The grant is not active before this time; null or absent: from approval on',
    example: '2027-01-01T00:00:00Z',
  })
  notBefore?: string | null;

  @DateTimeField({
    required: false,
    nullable: true,
    description: 'The grant ends at this time, which must be later than notBefore and than now; null or absent: no end',
    example: '2099-01-01T00:00:00Z',
  })
  expiresAt?: string | null;
}

const INSTANT = { type: 'string', format: 'date-time' } as const;

export class GrantApprovalView {
  @ApiProperty({ description: 'The approving caller (its token `sub`)', example: 'compliance-officer-app' })
  approver: string;

  @ApiProperty({ ...INSTANT, example: '2026-11-25T10:00:00.000Z' })
  approvedAt: string;
}

export class GrantView {
  @ApiProperty({ format: 'uuid', pattern: UUID_PATTERN.source, example: '0b7d7a0e-1d7c-4b0f-9d3e-0b1c2d3e4f50' })
  id: string;

  @ApiProperty({ pattern: USER_ID_PATTERN.source, example: '42' })
  fromUserId: string;

  @ApiProperty({ pattern: USER_ID_PATTERN.source, example: '77' })
  toUserId: string;

  @ApiProperty({ example: 'Executor of the estate, probate file 2026-1234' })
  reason: string;

  @ApiProperty({ enum: GRANT_STATES, example: 'pending' })
  state: GrantState;

  @ApiProperty({ description: 'The creating caller (its token `sub`)', example: 'estate-service' })
  createdBy: string;

  @ApiProperty({ ...INSTANT, example: '2026-11-25T09:00:00.000Z' })
  createdAt: string;

  @ApiPropertyOptional({ ...INSTANT, description: 'Absent when the grant has none', example: '2026-12-01T00:00:00.000Z' })
  notBefore?: string;

  @ApiPropertyOptional({ ...INSTANT, description: 'Absent when the grant has none', example: '2027-06-01T00:00:00.000Z' })
  expiresAt?: string;

  @ApiPropertyOptional({ ...INSTANT, description: 'Absent unless revoked', example: '2026-11-26T09:00:00.000Z' })
  revokedAt?: string;

  @ApiProperty({ type: 'integer', minimum: 0, description: 'Approvals that count (never the creator’s)', example: 1 })
  approvalsCounted: number;

  @ApiProperty({ type: 'integer', minimum: 1, description: 'GRANT_APPROVALS_REQUIRED', example: 2 })
  approvalsRequired: number;

  @ApiProperty({ type: [GrantApprovalView], description: 'Oldest first' })
  approvals: GrantApprovalView[];
}

export class ListGrantsQuery {
  @UserIdField({ required: false, description: 'Only grants releasing this person’s data', example: '42' })
  fromUserId?: string;

  @UserIdField({ required: false, description: 'Only grants to this delegate', example: '77' })
  toUserId?: string;
}

export class TranslateRequest {
  @UserIdField({ description: 'The person whose ciphertexts are in data', example: '42' })
  fromUserId: string;

  @UserIdField({
    description: 'The delegate under whose current key they come back; an active grant from fromUserId to toUserId is needed',
    example: '77',
  })
  toUserId: string;

  @JsonValueField({
    description: `Every ciphertext of fromUserId inside it is re-encrypted under toUserId’s current key.`,
    example: { will: EXAMPLE_CIPHERTEXT, accounts: [{ institution: 'RBC' }] },
  })
  data: unknown;
}

export class TranslateResponse {
  @ApiAnyJsonValue({
    description: '`data` with every ciphertext under the delegate’s current key, every other value as sent',
    example: { will: EXAMPLE_CIPHERTEXT, accounts: [{ institution: 'RBC' }] },
  })
  translatedData: unknown;
}
