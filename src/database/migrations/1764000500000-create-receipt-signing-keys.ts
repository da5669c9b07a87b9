import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The service's own key pairs for signing crypto-shred receipts (Ed25519, private half sealed by
 * the key provider), at most one of them current; and the receipt kept with each tombstone, so a
 * repeated DELETE answers with the same receipt.
 */
export class CreateReceiptSigningKeys1764000500000 implements MigrationInterface {
  name = 'CreateReceiptSigningKeys1764000500000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE receipt_signing_keys (
        kid varchar(64) PRIMARY KEY,
        public_jwk jsonb NOT NULL,
        sealed_private_key bytea NOT NULL,
        key_provider varchar(16) NOT NULL,
        kms_key_id varchar(2048),
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz
      )`);
    // At most one current key: replicas starting together race on this index, one insert wins.
    await queryRunner.query(
      `CREATE UNIQUE INDEX receipt_signing_keys_one_current ON receipt_signing_keys ((true)) WHERE retired_at IS NULL`,
    );
    await queryRunner.query(`ALTER TABLE user_keys ADD COLUMN shred_receipt text`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
