import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Canary rows (issue 25, M3): a canary is a row of decoy fields under one data key, at a key
 * version the operator may choose. Records that version and the fields' shapes (never their
 * plaintexts) for the operator's list; both null for canaries created before.
 */
export class AddCanaryRows1764000995000 implements MigrationInterface {
  name = 'AddCanaryRows1764000995000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE canaries ADD COLUMN key_version integer CHECK (key_version > 0), ADD COLUMN fields jsonb`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
