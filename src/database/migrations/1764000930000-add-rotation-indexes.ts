import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes the scale bench (`npm run bench:scale`, docs/performance.md) showed missing:
 * - the scheduled rotation's claim of the next due key (`is_active AND created_at <= cutoff ORDER BY
 *   created_at LIMIT 1`) read and sorted every active key, once per key rotated: a partial index in
 *   `created_at` order makes it the first index entry;
 * - the retention purge of key history (`rotation_date < cutoff`) read the whole history table.
 * Plain CREATE INDEX (migrations run in one transaction): it blocks writes to the table while it
 * builds, about a second per million rows (docs/operations.md, upgrading).
 */
export class AddRotationIndexes1764000930000 implements MigrationInterface {
  name = 'AddRotationIndexes1764000930000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX idx_user_keys_rotation_due ON user_keys (created_at) WHERE is_active`);
    await queryRunner.query(`CREATE INDEX idx_user_key_history_rotation_date ON user_key_history (rotation_date)`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
