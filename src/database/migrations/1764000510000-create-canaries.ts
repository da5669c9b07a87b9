import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Canary ciphertexts: real ciphertexts of a user, planted among real rows, that no legitimate
 * caller ever decrypts. Recognised by their wrapped data key, which no other ciphertext shares.
 */
export class CreateCanaries1764000510000 implements MigrationInterface {
  name = 'CreateCanaries1764000510000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE canaries (
        id uuid PRIMARY KEY,
        user_id bigint NOT NULL CHECK (user_id > 0),
        wrapped_key bytea NOT NULL UNIQUE,
        label varchar(200),
        created_by varchar(256) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz
      )`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
