import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ROTATION_REASONS, RotationReason } from '../entities/user-key-history.entity';

export class KeyVersionSummary {
  @ApiProperty({ example: 1 })
  keyVersion: number;

  @ApiProperty({ enum: ['current', 'retired', 'destroyed'], example: 'retired' })
  status: 'current' | 'retired' | 'destroyed';

  @ApiProperty({ example: '2026-01-01T03:00:00.000Z' })
  createdAt: string;

  @ApiPropertyOptional({ example: '2026-04-01T03:00:00.000Z' })
  rotatedAt?: string;

  @ApiPropertyOptional({ enum: ROTATION_REASONS, example: 'scheduled' })
  rotationReason?: RotationReason;
}

export class KeyDetailsResponse {
  @ApiProperty({ example: '42' })
  userId: string;

  @ApiProperty({ example: 2 })
  keyVersion: number;

  @ApiProperty({ example: 'RSA-OAEP-256', description: 'RSA-OAEP with SHA-256 wraps an AES-256-GCM data key' })
  algorithm: string;

  @ApiProperty({ example: 2048 })
  modulusBits: number;

  @ApiProperty({ description: 'Current public key, SPKI PEM', example: '-----BEGIN PUBLIC KEY-----\nMIIBIjANBg...\n-----END PUBLIC KEY-----\n' })
  publicKey: string;

  @ApiProperty({ example: 'kms' })
  keyProvider: string;

  @ApiProperty({ example: '2026-04-01T03:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ example: '2026-04-01T03:00:00.000Z' })
  updatedAt: string;

  @ApiProperty({ type: [KeyVersionSummary], description: 'Every version, newest first' })
  versions: KeyVersionSummary[];
}

export class ShredReceiptResponse {
  @ApiProperty({ example: '42' })
  userId: string;

  @ApiProperty({ description: 'Key versions whose private keys were destroyed', example: 3 })
  versionsDestroyed: number;

  @ApiProperty({ example: '2026-11-25T10:00:00.000Z' })
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
