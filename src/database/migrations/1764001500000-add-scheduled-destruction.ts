import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Scheduled destruction (docs/compliance.md, "The deletion window"): a DELETE /keys puts the
 * user's keys into pending deletion — `deletion_requested_at` and `destroys_at`, read with the key
 * row on every path that uses the key, so every use is refused at once — and the scheduled job
 * destroys them once `destroys_at` has passed by the database clock (the partial index is its
 * queue). A tombstone is never pending.
 */
export class AddScheduledDestruction1764001500000 implements MigrationInterface {
  name = 'AddScheduledDestruction1764001500000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE user_keys ADD COLUMN deletion_requested_at timestamptz, ADD COLUMN destroys_at timestamptz,
         ADD CONSTRAINT user_keys_pending_deletion CHECK ((deletion_requested_at IS NULL) = (destroys_at IS NULL) AND (destroys_at IS NULL OR is_active))`,
    );
    await queryRunner.query(`CREATE INDEX idx_user_keys_destroys_at ON user_keys (destroys_at) WHERE destroys_at IS NOT NULL`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
