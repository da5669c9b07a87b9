import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IntegerField, PatternField } from '../../common/decorators/fields.decorator';
import { KEY_VERSIONS_PAGE_SIZE } from '../../common/limits';
import { USER_ID_PATTERN } from '../../common/user-id';
import { KEY_ALGORITHMS, KeyAlgorithm } from '../../envelope/ciphertexts';
import { ROTATION_REASONS, RotationReason } from '../../repositories/entities/user-key-history.entity';

const ALGORITHM = {
  enum: KEY_ALGORITHMS,
  description:
    "The key version's algorithm, which decides its ciphertext format: `X-Wing` (hybrid ML-KEM-768 + X25519, quantum-safe; ek2) or `RSA-OAEP-256` (RSA-OAEP with SHA-256; ek1). Either wraps AES-256-GCM data keys (docs/ciphertext-format.md)",
  example: 'X-Wing',
} as const;

const USER_ID = { type: 'string', pattern: USER_ID_PATTERN.source, example: '42' } as const;
const KEY_VERSION = { type: 'integer', minimum: 1 } as const;
const INSTANT = { type: 'string', format: 'date-time' } as const;

/** A page cursor of the versions list as this API hands it out (`nextVersionsCursor`). */
export const VERSIONS_CURSOR_PATTERN = /^[1-9][0-9]{0,8}$/;

/** GET /keys/{userId}: which page of the versions list. */
export class KeyDetailsQuery {
  @IntegerField({
    required: false,
    minimum: 1,
    maximum: KEY_VERSIONS_PAGE_SIZE.max,
    default: KEY_VERSIONS_PAGE_SIZE.default,
    description: 'Versions per page of `versions`, newest first',
  })
  versionsLimit?: number;

  @PatternField(VERSIONS_CURSOR_PATTERN, {
    required: false,
    minLength: 1,
    maxLength: 9,
    message: 'must be a nextVersionsCursor returned by this API',
    description: 'The `nextVersionsCursor` of the previous page: the versions older than those already listed',
    example: '101',
  })
  versionsCursor?: string;
}

export class KeyVersionSummary {
  @ApiProperty({ ...KEY_VERSION, example: 1 })
  keyVersion: number;

  @ApiProperty(ALGORITHM)
  algorithm: KeyAlgorithm;

  @ApiProperty({ enum: ['current', 'retired', 'destroyed'], example: 'retired' })
  status: 'current' | 'retired' | 'destroyed';

  @ApiProperty({ ...INSTANT, example: '2026-01-01T03:00:00.000Z' })
  createdAt: string;

  @ApiPropertyOptional({
    ...INSTANT,
    description: 'When a later version replaced it (retired and destroyed versions)',
    example: '2026-04-01T03:00:00.000Z',
  })
  rotatedAt?: string;

  @ApiPropertyOptional({
    enum: ROTATION_REASONS,
    description: 'Why a later version replaced it (retired and destroyed versions)',
    example: 'scheduled',
  })
  rotationReason?: RotationReason;
}

export class KeyDetailsResponse {
  @ApiProperty(USER_ID)
  userId: string;

  @ApiProperty({ ...KEY_VERSION, description: 'The current version: /encrypt uses it', example: 2 })
  keyVersion: number;

  @ApiProperty({ ...ALGORITHM, description: `The current version's algorithm (KEY_ALGORITHM when it was made). ${ALGORITHM.description}` })
  algorithm: KeyAlgorithm;

  @ApiPropertyOptional({
    type: 'integer',
    description: 'RSA modulus size of the current version (KEY_RSA_BITS when it was made); only when its algorithm is RSA-OAEP-256',
    example: 2048,
  })
  modulusBits?: number;

  @ApiProperty({
    description:
      'Current public key: for `X-Wing`, standard base64 (with padding) of its 1216 bytes (ML-KEM-768 encapsulation key, 1184, then X25519 public key, 32); for `RSA-OAEP-256`, SPKI PEM',
    example: 'hWq4f1Yc…(1624 characters)…Q7k=',
  })
  publicKey: string;

  @ApiProperty({ description: 'What seals the private keys: `kms` or `local`', example: 'kms' })
  keyProvider: string;

  @ApiProperty({ ...INSTANT, example: '2026-04-01T03:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ ...INSTANT, example: '2026-04-01T03:00:00.000Z' })
  updatedAt: string;

  @ApiProperty({
    type: [KeyVersionSummary],
    description: `One page of the versions, newest first (the current one first on the first page): at most versionsLimit (default ${KEY_VERSIONS_PAGE_SIZE.default}, at most ${KEY_VERSIONS_PAGE_SIZE.max})`,
  })
  versions: KeyVersionSummary[];

  @ApiProperty({
    nullable: true,
    type: String,
    pattern: VERSIONS_CURSOR_PATTERN.source,
    description: 'Pass as `versionsCursor` for the next, older page of versions; null on the last page',
    example: null,
  })
  nextVersionsCursor: string | null;
}

export class ShredReceiptResponse {
  @ApiProperty(USER_ID)
  userId: string;

  @ApiProperty({ type: 'integer', minimum: 0, description: 'Key versions whose private keys were destroyed', example: 3 })
  versionsDestroyed: number;

  @ApiProperty({ ...INSTANT, example: '2026-11-25T10:00:00.000Z' })
  destroyedAt: string;

  @ApiProperty({
    type: 'string',
    pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$',
    description:
      'Signed crypto-shred receipt: a compact JWS (EdDSA, Ed25519) whose payload names the user, every version destroyed with the SHA-256 of its sealed private key, the time, and the id and hash of the audit event that records the shredding. Verify it against /.well-known/receipt-keys.json (docs/compliance.md). A repeated DELETE of the same shredding answers with the same receipt.',
    example: 'eyJhbGciOiJFZERTQSIsInR5cCI6ImNyeXB0by1zaHJlZC1yZWNlaXB0K2p3cyIsImtpZCI6Ii4uLiJ9.eyJ0eXAiOiJjcnlwdG8tc2hyZWQifQ.c2lnbmF0dXJl',
  })
  receipt: string;
}
