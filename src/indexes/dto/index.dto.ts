import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, Max, Min, ValidateIf } from 'class-validator';
import { EnumField, PatternField, StringBatchField } from '../../common/decorators/fields.decorator';
import { INDEX_CARDINALITY, INDEX_MIN_COINCIDENCES, INDEX_NAME_PATTERN, INDEX_OUTPUT_BITS, LIMIT_DEFAULTS } from '../../common/limits';
import { EMAIL_LOCAL_PARTS, EmailLocalPart, Normalisation, NORMALISATIONS } from '../../envelope/blind-index';

export const INDEX_NAME_RULE = 'must be 1 to 63 lower-case letters, digits or underscores, starting with a letter';
const INDEX_NAME_SCHEMA = { type: 'string', pattern: INDEX_NAME_PATTERN.source, maxLength: 63, example: 'sin' } as const;
const INSTANT = { type: 'string', format: 'date-time' } as const;

/** The name of a blind index, e.g. `sin`: the body field of a definition, and the `index` of /encrypt. */
export const IndexNameField = (options: { description: string; required?: boolean; nullable?: boolean }) =>
  PatternField(INDEX_NAME_PATTERN, { ...options, message: INDEX_NAME_RULE, maxLength: 63, example: 'sin' });

/** An integer body field from `min` to `max` (a JSON number, never a string). */
function WholeNumberField(description: string, min: number, max: number, example: number) {
  const message = { message: (args: { property: string }) => `${args.property} must be an integer from ${min} to ${max}` };
  return applyDecorators(
    IsInt(message),
    Min(min, message),
    Max(max, message),
    ApiProperty({ type: 'integer', minimum: min, maximum: max, description, example }),
  );
}

export class DefineIndexRequest {
  @IndexNameField({ description: 'The index name, chosen by the platform: one per field it looks up (sin, email, account_number)' })
  name: string;

  @EnumField(NORMALISATIONS, {
    description:
      'How values are normalised before hashing (docs/blind-indexes.md): digits (every non-digit dropped), email (trimmed, domain lower-cased), text (NFKC, case-folded, whitespace collapsed)',
    example: 'digits',
  })
  normalisation: Normalisation;

  @EnumField(EMAIL_LOCAL_PARTS, {
    required: false,
    description: 'email only: keep the local part as written (exact, the default) or lower-case it too',
    example: 'exact',
  })
  emailLocalPart?: EmailLocalPart;

  @WholeNumberField('Bits of HMAC-SHA256 kept: the index is this many bits, base64url', INDEX_OUTPUT_BITS.min, INDEX_OUTPUT_BITS.max, 16)
  outputBits: number;

  @WholeNumberField(
    `Distinct values the field is expected to hold. With outputBits it sets the expected coincidences per lookup, cardinality / 2^outputBits, which must be at least ${INDEX_MIN_COINCIDENCES} unless exactMatch`,
    INDEX_CARDINALITY.min,
    INDEX_CARDINALITY.max,
    1_000_000,
  )
  expectedCardinality: number;

  @ValidateIf((_object, value) => value !== undefined)
  @IsBoolean({ message: 'exactMatch must be true or false' })
  @ApiPropertyOptional({
    type: 'boolean',
    default: false,
    description: 'Accept an output size that makes indexes unique for the cardinality: each index then names one value (IDX004 otherwise)',
  })
  exactMatch?: boolean;
}

export class ComputeIndexRequest {
  @StringBatchField({
    description: 'Values to index: at most MAX_BATCH_ITEMS items of at most MAX_ITEM_BYTES UTF-8 bytes each. Never stored or logged',
    example: ['046 454 286'],
    items: { maxLength: LIMIT_DEFAULTS.maxItemBytes, description: 'At most MAX_ITEM_BYTES UTF-8 bytes' },
    itemLimit: 'maxItemBytes',
  })
  data: string[];
}

export class PreviousIndexValues {
  @ApiProperty({ type: 'integer', minimum: 1, description: 'The key version being rotated away from', example: 1 })
  keyVersion: number;

  @ApiProperty({ type: [String], description: 'One index per item under the previous key, same order', example: ['Qk8'] })
  indexes: string[];
}

/** One index per item, under the current key and, while a rotation is in progress, the previous key. */
export class BlindIndexAnswer {
  @ApiProperty(INDEX_NAME_SCHEMA)
  index: string;

  @ApiProperty({ type: 'integer', minimum: 1, description: 'The current key version', example: 2 })
  keyVersion: number;

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 256, example: 16 })
  outputBits: number;

  @ApiProperty({ type: [String], description: 'One index per item, same order: base64url of the truncated HMAC-SHA256', example: ['mB4'] })
  indexes: string[];

  @ApiPropertyOptional({
    type: PreviousIndexValues,
    description: 'Present while a rotation is in progress: query rows indexed under either version until re-indexing is done',
  })
  previous?: PreviousIndexValues;
}

export class IndexKeyVersion {
  @ApiProperty({ type: 'integer', minimum: 1, example: 1 })
  keyVersion: number;

  @ApiProperty({ enum: ['current', 'previous', 'destroyed'], example: 'current' })
  status: 'current' | 'previous' | 'destroyed';

  @ApiProperty({ ...INSTANT, example: '2026-01-01T00:00:00.000Z' })
  createdAt: string;

  @ApiPropertyOptional({ ...INSTANT, description: 'When the rotation that retired it finished and its key was destroyed' })
  destroyedAt?: string;
}

export class IndexPlanResponse {
  @ApiProperty({ type: 'number', description: 'expectedCardinality / 2^outputBits: values expected to share one index', example: 15.26 })
  expectedCoincidences: number;

  @ApiProperty({
    type: 'object',
    nullable: true,
    properties: { min: { type: 'integer' }, max: { type: 'integer' } },
    description: `Sizes keeping at least ${INDEX_MIN_COINCIDENCES} values per index (max) with fewer than √cardinality candidates per lookup (min); null when none does`,
    example: { min: 10, max: 18 },
  })
  recommendedBits: { min: number; max: number } | null;

  @ApiProperty({
    type: 'boolean',
    description: 'The size makes (almost) every index name one value (allowed only with exactMatch)',
    example: false,
  })
  unique: boolean;
}

export class IndexDescription {
  @ApiProperty(INDEX_NAME_SCHEMA)
  name: string;

  @ApiProperty({ enum: NORMALISATIONS, example: 'digits' })
  normalisation: Normalisation;

  @ApiPropertyOptional({ enum: EMAIL_LOCAL_PARTS, example: 'exact' })
  emailLocalPart?: EmailLocalPart;

  @ApiProperty({ type: 'integer', example: 16 })
  outputBits: number;

  @ApiProperty({ type: 'integer', example: 1_000_000 })
  expectedCardinality: number;

  @ApiProperty({ type: 'boolean', example: false })
  exactMatch: boolean;

  @ApiProperty({ type: 'integer', minimum: 1, example: 1 })
  currentVersion: number;

  @ApiProperty({
    type: 'boolean',
    description: 'A rotation was started and not finished: answers carry the previous version too',
    example: false,
  })
  rotationInProgress: boolean;

  @ApiProperty({ type: IndexPlanResponse })
  plan: IndexPlanResponse;

  @ApiProperty({ type: [IndexKeyVersion] })
  versions: IndexKeyVersion[];

  @ApiProperty({ ...INSTANT, example: '2026-01-01T00:00:00.000Z' })
  createdAt: string;
}

export class DefineIndexResponse extends IndexDescription {
  @ApiProperty({ type: 'boolean', description: 'false: the index already existed with this very definition', example: true })
  created: boolean;
}

export class IndexList {
  @ApiProperty({ type: [IndexDescription] })
  indexes: IndexDescription[];
}

export class FinishRotationResponse extends IndexDescription {
  @ApiProperty({ type: [Number], description: 'Key versions destroyed: their indexes can never be computed again', example: [1] })
  versionsDestroyed: number[];
}
