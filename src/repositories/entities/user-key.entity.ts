import type { KeyAlgorithm } from '../../envelope/ciphertexts';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** The current key of a user (table `user_keys`, docs/architecture.md). bigint ids are decimal strings. */
@Entity({ name: 'user_keys' })
@Index('idx_user_keys_active_user', ['isActive', 'userId'])
export class UserKey {
  @PrimaryColumn({ name: 'user_id', type: 'bigint' })
  userId: string;

  /** The current public key as published: SPKI PEM (RSA-OAEP-256) or base64 of 1216 bytes (X-Wing); null once crypto-shredded. */
  @Column({ name: 'key', type: 'text', nullable: true })
  publicKey: string | null;

  @Column({ name: 'key_version', type: 'integer' })
  keyVersion: number;

  /** The version's algorithm: `RSA-OAEP-256` (ek1) or `X-Wing` (ek2). */
  @Column({ name: 'algorithm', type: 'varchar', length: 16 })
  algorithm: KeyAlgorithm;

  /** The private key sealed by the key provider (PKCS#8 DER for RSA, the 32-byte seed for X-Wing); never stored unsealed. */
  @Column({ name: 'sealed_private_key', type: 'bytea', nullable: true, select: false })
  sealedPrivateKey: Buffer | null;

  @Column({ name: 'key_provider', type: 'varchar', length: 16 })
  keyProvider: string;

  @Column({ name: 'kms_key_id', type: 'varchar', length: 2048, nullable: true })
  kmsKeyId: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'is_active', type: 'boolean' })
  isActive: boolean;

  /** When a DELETE /keys put the key into pending deletion; null when not pending. */
  @Column({ name: 'deletion_requested_at', type: 'timestamptz', nullable: true })
  deletionRequestedAt: Date | null;

  /** Pending deletion: every use is refused (KEY005), and the scheduled job destroys the keys once this has passed. */
  @Column({ name: 'destroys_at', type: 'timestamptz', nullable: true })
  destroysAt: Date | null;
}
