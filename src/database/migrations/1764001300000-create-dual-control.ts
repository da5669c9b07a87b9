import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The two-person rule (README "Two-person rule"): requests for destructive actions and their
 * approvals. And the mass-destruction breaker: one row for the whole cluster (tripped or not,
 * since when it counts) and the times of recent crypto-shreds made through DELETE /keys, counted
 * in the destroying transaction under that row's lock.
 */
export class CreateDualControl1764001300000 implements MigrationInterface {
  name = 'CreateDualControl1764001300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE approval_requests (
        id uuid PRIMARY KEY,
        action varchar(64) NOT NULL,
        target varchar(2048) NOT NULL,
        requested_by varchar(256) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        used_by varchar(256),
        CONSTRAINT approval_requests_window CHECK (expires_at > created_at),
        CONSTRAINT approval_requests_used CHECK ((used_at IS NULL) = (used_by IS NULL))
      )`);
    await queryRunner.query(`CREATE INDEX idx_approval_requests_created ON approval_requests (created_at DESC)`);
    await queryRunner.query(`
      CREATE TABLE approval_request_approvals (
        request_id uuid NOT NULL REFERENCES approval_requests (id),
        approver varchar(256) NOT NULL,
        approved_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (request_id, approver)
      )`);
    await queryRunner.query(`
      CREATE TABLE shred_breaker (
        id smallint PRIMARY KEY CHECK (id = 1),
        trip integer NOT NULL DEFAULT 0 CHECK (trip >= 0),
        tripped_at timestamptz,
        counted_since timestamptz NOT NULL DEFAULT '-infinity',
        lifted_at timestamptz,
        lifted_by varchar(256),
        approved_by varchar(256)
      )`);
    await queryRunner.query(`INSERT INTO shred_breaker (id) VALUES (1)`);
    await queryRunner.query(`
      CREATE TABLE shred_breaker_destructions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        destroyed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX idx_shred_breaker_destructions_at ON shred_breaker_destructions (destroyed_at)`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
