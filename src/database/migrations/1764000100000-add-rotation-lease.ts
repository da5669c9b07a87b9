import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A rotation lease on the current key row: a rotation claims it for a bounded time, so a
 * second rotation of the same user is refused (KEY002) instead of waiting, and a crashed
 * rotation frees the user when the lease expires.
 */
export class AddRotationLease1764000100000 implements MigrationInterface {
  name = 'AddRotationLease1764000100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE user_keys ADD COLUMN rotation_lease_id uuid, ADD COLUMN rotation_lease_until timestamptz`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
