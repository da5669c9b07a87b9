import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { JsonDocument } from '../../common/decorators/json-document.decorator';
import { IsStringArray, IsUserId } from '../../common/validation';
import { USER_ID_EXAMPLE, USER_ID_PATTERN } from '../../common/user-id';

export const MANUAL_ROTATION_REASONS = ['manual', 'compliance', 'compromise'] as const;
export type ManualRotationReason = (typeof MANUAL_ROTATION_REASONS)[number];

const CIPHERTEXT = 'ek1:1:…';

export class RotateRequest {
  @ApiProperty({ example: USER_ID_EXAMPLE, pattern: USER_ID_PATTERN.source })
  @IsUserId()
  userId: string;

  @ApiProperty({
    description:
      'Any JSON value. Every string in it that is a ciphertext of this user (any version still kept) is re-encrypted under the new version; every other value comes back unchanged. At most MAX_BATCH_ITEMS ciphertexts, nesting at most MAX_JSON_DEPTH (32) levels; the whole body holds at most MAX_JSON_NODES values and keys, no key longer than MAX_JSON_KEY_BYTES, no key twice in one object, and no integer beyond ±(2^53 − 1) (send such numbers as strings).',
    example: [{ name: CIPHERTEXT, account: { sin: CIPHERTEXT, branch: 'Toronto' }, balance: 1200 }],
  })
  @JsonDocument()
  data: unknown;

  @ApiPropertyOptional({ enum: MANUAL_ROTATION_REASONS, default: 'manual' })
  @IsOptional()
  @IsIn(MANUAL_ROTATION_REASONS)
  reason?: ManualRotationReason;
}

export class RotateResponse {
  @ApiProperty({ description: '`data` with every ciphertext re-encrypted under the new version', example: [{ name: 'ek1:2:…', account: { sin: 'ek1:2:…', branch: 'Toronto' }, balance: 1200 }] })
  rotatedData: unknown;

  @ApiProperty({ example: 2 })
  keyVersion: number;
}

export class RewrapRequest {
  @ApiProperty({ example: USER_ID_EXAMPLE, pattern: USER_ID_PATTERN.source })
  @IsUserId()
  userId: string;

  @ApiProperty({ description: 'Ciphertexts of any kept version of this user', type: [String], example: [CIPHERTEXT] })
  @IsStringArray()
  data: string[];
}

export class RewrapResponse {
  @ApiProperty({ description: 'The same plaintexts under the current version, same order', type: [String], example: ['ek1:2:…'] })
  rewrappedData: string[];
}
