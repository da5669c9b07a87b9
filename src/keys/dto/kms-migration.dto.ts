import { ApiExtraModels, ApiProperty, getSchemaPath } from '@nestjs/swagger';

const INSTANT = { type: 'string', format: 'date-time' } as const;

export class KmsMigrationRecord {
  @ApiProperty({ type: 'integer', example: 3 })
  id: number;

  @ApiProperty({ description: 'The key every sealed key is re-sealed under (KMS key ARN, or local:<fingerprint>)' })
  targetKeyId: string;

  @ApiProperty({ type: 'string', nullable: true, description: 'The caller (token sub) who started it' })
  startedBy: string | null;

  @ApiProperty(INSTANT)
  startedAt: string;

  @ApiProperty({ type: 'integer', description: 'Sealed keys re-sealed so far, by every replica' })
  resealed: number;

  @ApiProperty({ ...INSTANT, nullable: true })
  finishedAt: string | null;

  // OpenAPI 3.0: a nullable enum lists null among its values, or a running migration's null fails it.
  @ApiProperty({ type: 'string', enum: ['done', 'superseded', null], nullable: true, description: 'null while running' })
  outcome: 'done' | 'superseded' | null;
}

export class KmsMigrationRemaining {
  @ApiProperty({ type: 'integer', description: "Users' current keys" })
  userKeys: number;

  @ApiProperty({ type: 'integer', description: "Users' retired key versions still kept" })
  userKeyHistory: number;

  @ApiProperty({ type: 'integer' })
  blindIndexKeys: number;

  @ApiProperty({ type: 'integer' })
  receiptSigningKeys: number;

  @ApiProperty({ type: 'integer' })
  total: number;
}

@ApiExtraModels(KmsMigrationRecord)
export class KmsMigrationStatusResponse {
  @ApiProperty({ description: 'The key new seals go under, as this replica resolves KMS_KEY_ID' })
  currentKeyId: string;

  // OpenAPI 3.0 ignores `nullable` beside a $ref: null is its own alternative.
  @ApiProperty({
    description: 'The latest migration; null when none ever ran',
    anyOf: [{ $ref: getSchemaPath(KmsMigrationRecord) }, { type: 'string', nullable: true, enum: [null] }],
  })
  migration: KmsMigrationRecord | null;

  @ApiProperty({ type: KmsMigrationRemaining, description: 'Sealed keys still under another key than currentKeyId' })
  remaining: KmsMigrationRemaining;

  @ApiProperty({ description: 'Nothing is sealed under an old key any more: the old keys may be disabled (docs/operations.md)' })
  complete: boolean;
}

export class StartKmsMigrationResponse extends KmsMigrationStatusResponse {
  @ApiProperty({ description: 'false: a migration to this key was already running, and is the one shown' })
  started: boolean;
}
