import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * KMS key migrations (docs/operations.md): which key every sealed key is being re-sealed under,
 * who started it, how many were re-sealed, and when it finished. At most one runs at a time;
 * replicas find the running one here after a restart and carry on.
 */
export class CreateKmsMigrations1764000800000 implements MigrationInterface {
  name = 'CreateKmsMigrations1764000800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE kms_migrations (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        target_key_id varchar(2048) NOT NULL,
        started_by varchar(256),
        started_at timestamptz NOT NULL DEFAULT now(),
        resealed bigint NOT NULL DEFAULT 0,
        finished_at timestamptz,
        outcome varchar(16) CHECK (outcome IN ('done', 'superseded')),
        CONSTRAINT kms_migrations_finished CHECK ((finished_at IS NULL) = (outcome IS NULL))
      )`);
    // At most one running: two replicas starting one at once race on this index, one insert wins.
    await queryRunner.query(`CREATE UNIQUE INDEX kms_migrations_one_running ON kms_migrations ((true)) WHERE finished_at IS NULL`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
