import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Blind indexes (docs/blind-indexes.md): each index's definition, and its keys, one row per
 * version. A key's sealed bytes are deleted when a rotation finishes (`destroyed_at` set), like a
 * crypto-shredded user key; the row stays so version numbers are never reused.
 */
export class CreateBlindIndexes1764000600000 implements MigrationInterface {
  name = 'CreateBlindIndexes1764000600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE blind_indexes (
        name varchar(63) PRIMARY KEY,
        normalisation varchar(16) NOT NULL CHECK (normalisation IN ('digits', 'email', 'text')),
        email_local_part varchar(16) CHECK (email_local_part IN ('exact', 'lowercase')),
        output_bits integer NOT NULL CHECK (output_bits BETWEEN 1 AND 256),
        expected_cardinality bigint NOT NULL CHECK (expected_cardinality >= 2),
        exact_match boolean NOT NULL DEFAULT false,
        current_version integer NOT NULL CHECK (current_version >= 1),
        created_by varchar(256),
        created_at timestamptz NOT NULL DEFAULT now(),
        rotation_started_at timestamptz
      )`);
    await queryRunner.query(`
      CREATE TABLE blind_index_keys (
        index_name varchar(63) NOT NULL REFERENCES blind_indexes (name),
        key_version integer NOT NULL CHECK (key_version >= 1),
        sealed_key bytea,
        key_provider varchar(16) NOT NULL,
        kms_key_id varchar(2048),
        created_at timestamptz NOT NULL DEFAULT now(),
        destroyed_at timestamptz,
        PRIMARY KEY (index_name, key_version),
        CONSTRAINT blind_index_keys_destroyed CHECK ((sealed_key IS NULL) = (destroyed_at IS NOT NULL))
      )`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
