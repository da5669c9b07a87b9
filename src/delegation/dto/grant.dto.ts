import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsString, Length, Matches } from 'class-validator';
import { JsonDocument } from '../../common/decorators/json-document.decorator';
import { IsUserId } from '../../common/validation';
import { USER_ID_PATTERN } from '../../common/user-id';
import { GRANT_STATES, GrantState } from '../grant-state';

export class CreateGrantRequest {
  @ApiProperty({ description: 'The person whose data is released', example: '42', pattern: USER_ID_PATTERN.source })
  @IsUserId()
  fromUserId: string;

  @ApiProperty({ description: 'The delegate (executor, attorney) who receives it', example: '77', pattern: USER_ID_PATTERN.source })
  @IsUserId()
  toUserId: string;

  @ApiProperty({ description: 'Why the release is granted (kept with the grant and in the audit trail)', example: 'Executor of the estate, probate file 2026-1234', minLength: 3, maxLength: 500 })
  @IsString()
  @Length(3, 500)
  @Matches(/^[^\u0000-\u001f\u007f]+$/, { message: 'reason must not contain control characters' })
  reason: string;

  @ApiPropertyOptional({ description: 'The grant is not active before this time (ISO 8601)', example: '2026-12-01T00:00:00Z' })
  @IsOptional()
  @IsISO8601({ strict: true })
  notBefore?: string;

  @ApiPropertyOptional({ description: 'The grant ends at this time (ISO 8601)', example: '2027-06-01T00:00:00Z' })
  @IsOptional()
  @IsISO8601({ strict: true })
  expiresAt?: string;
}

export class GrantApprovalView {
  @ApiProperty({ example: 'compliance-officer-app' })
  approver: string;

  @ApiProperty({ example: '2026-11-25T10:00:00.000Z' })
  approvedAt: string;
}

export class GrantView {
  @ApiProperty({ example: '0b7d7a0e-1d7c-4b0f-9d3e-0b1c2d3e4f50' })
  id: string;

  @ApiProperty({ example: '42' })
  fromUserId: string;

  @ApiProperty({ example: '77' })
  toUserId: string;

  @ApiProperty({ example: 'Executor of the estate, probate file 2026-1234' })
  reason: string;

  @ApiProperty({ enum: GRANT_STATES, example: 'pending' })
  state: GrantState;

  @ApiProperty({ example: 'estate-service' })
  createdBy: string;

  @ApiProperty({ example: '2026-11-25T09:00:00.000Z' })
  createdAt: string;

  @ApiPropertyOptional({ example: '2026-12-01T00:00:00.000Z' })
  notBefore?: string;

  @ApiPropertyOptional({ example: '2027-06-01T00:00:00.000Z' })
  expiresAt?: string;

  @ApiPropertyOptional({ example: '2026-11-26T09:00:00.000Z' })
  revokedAt?: string;

  @ApiProperty({ description: 'Approvals that count (never the creator’s)', example: 1 })
  approvalsCounted: number;

  @ApiProperty({ example: 2 })
  approvalsRequired: number;

  @ApiProperty({ type: [GrantApprovalView] })
  approvals: GrantApprovalView[];
}

export class ListGrantsQuery {
  @ApiPropertyOptional({ example: '42' })
  @IsOptional()
  @IsUserId()
  fromUserId?: string;

  @ApiPropertyOptional({ example: '77' })
  @IsOptional()
  @IsUserId()
  toUserId?: string;
}

export class TranslateRequest {
  @ApiProperty({ example: '42', pattern: USER_ID_PATTERN.source })
  @IsUserId()
  fromUserId: string;

  @ApiProperty({ example: '77', pattern: USER_ID_PATTERN.source })
  @IsUserId()
  toUserId: string;

  @ApiProperty({
    description: 'Any JSON value; every ciphertext of fromUserId inside it is re-encrypted under toUserId’s current key, other values unchanged (same limits as /rotate)',
    example: { will: 'ek1:3:…', accounts: [{ number: 'ek1:3:…', institution: 'RBC' }] },
  })
  @JsonDocument()
  data: unknown;
}

export class TranslateResponse {
  @ApiProperty({ example: { will: 'ek1:1:…', accounts: [{ number: 'ek1:1:…', institution: 'RBC' }] } })
  translatedData: unknown;
}
