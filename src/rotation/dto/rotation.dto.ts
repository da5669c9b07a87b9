import { ApiProperty } from '@nestjs/swagger';
import { ApiAnyJsonValue, EnumField, JsonValueField, UserIdField } from '../../common/decorators/fields.decorator';
import { ApiCiphertexts, CiphertextBatchField, EXAMPLE_CIPHERTEXT } from '../../crypto/dto/batch.dto';

export const MANUAL_ROTATION_REASONS = ['manual', 'compliance', 'compromise'] as const;
export type ManualRotationReason = (typeof MANUAL_ROTATION_REASONS)[number];

export class RotateRequest {
  @UserIdField({ description: 'The end user whose key is rotated' })
  userId: string;

  @JsonValueField({
    description: `Every string in it that is a ciphertext of this user (any version still kept) is re-encrypted under the new version.`,
    example: { name: EXAMPLE_CIPHERTEXT, account: { branch: 'Toronto' }, balance: 1200 },
  })
  data: unknown;

  @EnumField(MANUAL_ROTATION_REASONS, {
    required: false,
    nullable: true,
    default: 'manual',
    description: 'Recorded with the retired version; null or absent means manual',
  })
  reason?: ManualRotationReason | null;
}

export class RotateResponse {
  @ApiAnyJsonValue({
    description: '`data` with every ciphertext re-encrypted under the new version, every other value as sent',
    example: { name: EXAMPLE_CIPHERTEXT.replace('ek1:1:', 'ek1:2:'), account: { branch: 'Toronto' }, balance: 1200 },
  })
  rotatedData: unknown;

  @ApiProperty({ type: 'integer', minimum: 1, description: 'The new current version', example: 2 })
  keyVersion: number;

  @ApiProperty({
    type: 'boolean',
    description:
      'true: this answers a retry (same caller, X-Request-Id, user and body) of a rotation that had already committed; no new version was created',
    example: false,
  })
  replayed: boolean;

  @ApiProperty({
    type: 'boolean',
    description:
      'false: the rotation committed but its success audit event could not be stored (it was logged in full instead; docs/audit.md). ' +
      'The rotated data is valid: store it. A retry with the same X-Request-Id records a success event with details.replayed',
    example: true,
  })
  auditEventStored: boolean;
}

export class RewrapRequest {
  @UserIdField({ description: 'The end user whose ciphertexts they are' })
  userId: string;

  @CiphertextBatchField('Ciphertexts of any kept version of this user')
  data: string[];
}

export class RewrapResponse {
  @ApiCiphertexts('The same plaintexts under the current version, same order')
  rewrappedData: string[];
}
