import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateKeyTables1764000000000 implements MigrationInterface {
  name = 'CreateKeyTables1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE user_keys (
        user_id bigint PRIMARY KEY CHECK (user_id > 0),
        key text,
        key_version integer NOT NULL CHECK (key_version > 0),
        sealed_private_key bytea,
        key_provider varchar(16) NOT NULL,
        kms_key_id varchar(2048),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        is_active boolean NOT NULL DEFAULT true,
        CONSTRAINT user_keys_active_has_key CHECK (NOT is_active OR (key IS NOT NULL AND sealed_private_key IS NOT NULL))
      )`);
    await queryRunner.query(`CREATE INDEX idx_user_keys_active_user ON user_keys (is_active, user_id)`);
    await queryRunner.query(`
      CREATE TABLE user_key_history (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES user_keys (user_id),
        key_version integer NOT NULL CHECK (key_version > 0),
        key_value text,
        sealed_private_key bytea,
        key_provider varchar(16) NOT NULL,
        kms_key_id varchar(2048),
        created_at timestamptz NOT NULL,
        rotation_date timestamptz NOT NULL DEFAULT now(),
        rotation_reason varchar(16) NOT NULL
          CHECK (rotation_reason IN ('scheduled', 'manual', 'compliance', 'compromise')),
        CONSTRAINT user_key_history_version_unique UNIQUE (user_id, key_version)
      )`);
    await queryRunner.query(`CREATE INDEX idx_user_key_history_user_rotation ON user_key_history (user_id, rotation_date)`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
