import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ValidateBy, ValidateIf } from 'class-validator';
import { IntegerField, PatternField, UserIdField } from '../../common/decorators/fields.decorator';
import {
  CANARY_FIELD_LENGTH,
  GRANT_REASON_PATTERN,
  MAX_CANARIES_PER_REQUEST,
  MAX_CANARY_FIELDS,
  MAX_CANARY_TEMPLATE_LENGTH,
} from '../../common/limits';
import { MAX_KEY_VERSION } from '../../envelope/ciphertext-format';
import { USER_ID_PATTERN } from '../../common/user-id';
import { UUID_PATTERN } from '../../common/uuid';
import { EXAMPLE_CIPHERTEXT } from '../../crypto/dto/batch.dto';
import { checkDecoyFields, DECOY_SHAPE_DESCRIPTION, DECOY_SHAPES, type DecoyShape, LENGTH_SHAPES, TEMPLATE_PATTERN } from '../decoy-fields';

const CANARY_ID = {
  type: 'string',
  format: 'uuid',
  pattern: UUID_PATTERN.source,
  example: '5f0c1d8e-8a34-4b6e-9a52-0d6f3f9b2c11',
} as const;
const LABEL_MAX = 200;

/** One field of a canary row: what its decoy plaintext looks like (never the plaintext itself). */
export class CanaryFieldShape {
  @ApiProperty({ enum: [...DECOY_SHAPES], description: `The field's shape: ${DECOY_SHAPE_DESCRIPTION}`, example: 'sin' })
  shape: DecoyShape;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: CANARY_FIELD_LENGTH.min,
    maximum: CANARY_FIELD_LENGTH.max,
    description: `Characters, for the shapes ${Object.keys(LENGTH_SHAPES).join(', ')} only (each has a default)`,
    example: 40,
  })
  length?: number;

  @ApiPropertyOptional({
    type: 'string',
    minLength: 1,
    maxLength: MAX_CANARY_TEMPLATE_LENGTH,
    pattern: TEMPLATE_PATTERN.source,
    description:
      'For the shape `template` only (and required by it): `#` a digit, `A` an upper-case letter, `a` a lower-case letter, `*` a letter or digit, `\\` makes the next character literal (write a literal A, a, #, * or \\ as `\\A`, `\\a`, `\\#`, `\\*`, `\\\\`), any other character is itself',
    example: 'CHQ-#####-###-#######',
  })
  template?: string;
}

/** `fields` of POST /canaries: checked by checkDecoyFields, which names the first offending field. */
function CanaryFieldsField(): PropertyDecorator {
  return applyDecorators(
    ValidateIf((_object, value) => value !== undefined),
    ValidateBy({
      name: 'isCanaryFieldList',
      validator: {
        validate: (value: unknown) => checkDecoyFields(value) === undefined,
        defaultMessage: (args) => checkDecoyFields(args?.value)!,
      },
    }),
    ApiPropertyOptional({
      type: [CanaryFieldShape],
      minItems: 1,
      maxItems: MAX_CANARY_FIELDS,
      description:
        'The fields of each canary row, in order: one decoy value of each shape, all encrypted together under one data key, as /encrypt does with the fields of a real row. ' +
        'Name the shapes of the columns the row is planted in, so that each ciphertext is as long as a real value there. Default: one field `alphanumeric` (8 to 32 characters), as before canary rows',
      example: [
        { shape: 'name' },
        { shape: 'sin' },
        { shape: 'account-number', length: 12 },
        { shape: 'date' },
        { shape: 'text', length: 40 },
      ],
    }),
  );
}

export class CreateCanariesRequest {
  @UserIdField({
    description:
      'The person whose rows the canaries are planted among; they are encrypted under this person’s key (the current version unless `keyVersion` says otherwise)',
  })
  userId: string;

  @IntegerField({
    required: false,
    minimum: 1,
    maximum: MAX_CANARIES_PER_REQUEST,
    default: 1,
    description: 'How many canary rows to create, each under its own data key (as rows encrypted by separate /encrypt calls)',
    example: 3,
  })
  count?: number;

  @CanaryFieldsField()
  fields?: CanaryFieldShape[];

  @IntegerField({
    required: false,
    minimum: 1,
    maximum: MAX_KEY_VERSION,
    description:
      'The person’s key version to encrypt under: the current one (the default) or an older one whose keys are still held, so the canaries carry the version of the rows around them (404 CANARY002 otherwise)',
    example: 2,
  })
  keyVersion?: number;

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

  @ApiProperty({
    type: 'integer',
    nullable: true,
    minimum: 1,
    description: 'The key version its fields are encrypted under (null for canaries created before canary rows)',
    example: 1,
  })
  keyVersion: number | null;

  @ApiProperty({
    type: [CanaryFieldShape],
    nullable: true,
    description: 'The shapes of its fields, in order (null for canaries created before canary rows: one `alphanumeric` field)',
  })
  fields: CanaryFieldShape[] | null;
}

export class CreatedCanary extends CanaryView {
  @ApiProperty({
    type: [String],
    description:
      'The canary row: one ek1 ciphertext of this user per requested field, in order, all under one data key like the fields of a real row from one /encrypt call. ' +
      'Plant them together as one row; any /decrypt, /rotate, /rewrap or /translate that touches any of them is refused with ENC002 and recorded as canary.tripped',
    example: [EXAMPLE_CIPHERTEXT],
  })
  ciphertexts: string[];

  @ApiProperty({
    type: 'string',
    deprecated: true,
    description: 'The first of `ciphertexts` (the whole canary when it has one field, as before canary rows)',
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
