import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The answers of committed /rotate calls, so that a retry with the same X-Request-Id (after a
 * lost answer, a client timeout, an error after the commit) gets the same answer instead of a
 * second rotation. Written in the rotation's own transaction; kept ROTATION_REPLAY_HOURS (the
 * scheduled job deletes expired rows). `rotated_data` is the answer's JSON text as sent: only
 * ciphertexts and the values the caller sent around them, never plaintext or key material.
 */
export class CreateRotationResults1764000980000 implements MigrationInterface {
  name = 'CreateRotationResults1764000980000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE rotation_results (
        caller varchar(256) NOT NULL,
        request_id varchar(128) NOT NULL,
        user_id bigint NOT NULL CHECK (user_id > 0),
        request_sha256 char(64) NOT NULL,
        key_version integer NOT NULL CHECK (key_version > 0),
        rotated_data text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (caller, request_id, user_id)
      )`);
    await queryRunner.query(`CREATE INDEX idx_rotation_results_expires_at ON rotation_results (expires_at)`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
