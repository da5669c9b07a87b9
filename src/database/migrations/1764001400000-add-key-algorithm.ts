import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Quantum-safe keys (issue 27): each key version records its algorithm, `RSA-OAEP-256` (ek1,
 * PKCS#8 sealed) or `X-Wing` (ek2, the 32-byte seed sealed). Every version made before is RSA.
 */
export class AddKeyAlgorithm1764001400000 implements MigrationInterface {
  name = 'AddKeyAlgorithm1764001400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['user_keys', 'user_key_history']) {
      await queryRunner.query(
        `ALTER TABLE ${table} ADD COLUMN algorithm varchar(16) NOT NULL DEFAULT 'RSA-OAEP-256'
           CONSTRAINT ${table}_algorithm_known CHECK (algorithm IN ('RSA-OAEP-256', 'X-Wing'))`,
      );
    }
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
