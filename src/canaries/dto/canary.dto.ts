import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IntegerField, PatternField, UserIdField } from '../../common/decorators/fields.decorator';
import { GRANT_REASON_PATTERN, MAX_CANARIES_PER_REQUEST } from '../../common/limits';
import { USER_ID_PATTERN } from '../../common/user-id';
import { UUID_PATTERN } from '../../common/uuid';
import { EXAMPLE_CIPHERTEXT } from '../../crypto/dto/batch.dto';

const CANARY_ID = {
  type: 'string',
  format: 'uuid',
  pattern: UUID_PATTERN.source,
  example: '5f0c1d8e-8a34-4b6e-9a52-0d6f3f9b2c11',
} as const;
const LABEL_MAX = 200;

export class CreateCanariesRequest {
  @UserIdField({ description: 'The person whose rows the canaries are planted among; they are encrypted under this person’s current key' })
  userId: string;

  @IntegerField({
    required: false,
    minimum: 1,
    maximum: MAX_CANARIES_PER_REQUEST,
    default: 1,
    description: 'How many canaries to create',
    example: 3,
  })
  count?: number;

  @PatternField(GRANT_REASON_PATTERN, {
    required: false,
    nullable: true,
    maxLength: LABEL_MAX,
    message: `must be 3 to ${LABEL_MAX} characters without control characters`,
    description: 'A note for operators: where the canaries are planted (never shown to the caller that trips one)',
    example: 'customers table, staging copy of 2026-11',
  })
  label?: string | null;
}

export class CanaryView {
  @ApiProperty(CANARY_ID)
  id: string;

  @ApiProperty({ type: 'string', pattern: USER_ID_PATTERN.source, example: '42' })
  userId: string;

  @ApiPropertyOptional({ type: 'string', nullable: true, example: 'customers table, staging copy of 2026-11' })
  label: string | null;

  @ApiProperty({ type: 'string', description: 'The caller (token sub) that created it', example: 'security-operator' })
  createdBy: string;

  @ApiProperty({ type: 'string', format: 'date-time', example: '2026-11-25T10:00:00.000Z' })
  createdAt: string;
}

export class CreatedCanary extends CanaryView {
  @ApiProperty({
    type: 'string',
    description:
      'The canary: an ek1 ciphertext of this user like any other. Plant it among real rows; any /decrypt, /rotate, /rewrap or /translate that touches it is refused with ENC002 and recorded as canary.tripped',
    example: EXAMPLE_CIPHERTEXT,
  })
  ciphertext: string;
}

export class CreateCanariesResponse {
  @ApiProperty({ type: [CreatedCanary] })
  canaries: CreatedCanary[];
}

export class ListCanariesResponse {
  @ApiProperty({ type: [CanaryView], description: 'Live canaries, newest first (their ciphertexts are not shown again)' })
  canaries: CanaryView[];
}

export class RetiredCanary {
  @ApiProperty(CANARY_ID)
  id: string;

  @ApiProperty({ type: 'boolean', example: true })
  retired: true;
}
