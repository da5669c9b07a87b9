import type { KeyAlgorithm } from '../../envelope/ciphertexts';
import { Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

export const ROTATION_REASONS = ['scheduled', 'manual', 'compliance', 'compromise'] as const;
export type RotationReason = (typeof ROTATION_REASONS)[number];

/** A retired key version (table `user_key_history`), kept so older ciphertext still decrypts. */
@Entity({ name: 'user_key_history' })
@Unique('user_key_history_version_unique', ['userId', 'keyVersion'])
@Index('idx_user_key_history_user_rotation', ['userId', 'rotationDate'])
export class UserKeyHistory {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ name: 'user_id', type: 'bigint' })
  userId: string;

  @Column({ name: 'key_version', type: 'integer' })
  keyVersion: number;

  /** The version's algorithm: `RSA-OAEP-256` (ek1) or `X-Wing` (ek2). */
  @Column({ name: 'algorithm', type: 'varchar', length: 16 })
  algorithm: KeyAlgorithm;

  @Column({ name: 'key_value', type: 'text', nullable: true })
  publicKey: string | null;

  @Column({ name: 'sealed_private_key', type: 'bytea', nullable: true, select: false })
  sealedPrivateKey: Buffer | null;

  @Column({ name: 'key_provider', type: 'varchar', length: 16 })
  keyProvider: string;

  @Column({ name: 'kms_key_id', type: 'varchar', length: 2048, nullable: true })
  kmsKeyId: string | null;

  /** When this version was created (it was current from then until rotationDate). */
  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'rotation_date', type: 'timestamptz' })
  rotationDate: Date;

  @Column({ name: 'rotation_reason', type: 'varchar', length: 16 })
  rotationReason: RotationReason;
}
