import { MigrationInterface, QueryRunner } from 'typeorm';

/** Delegated-release grants (from one user's data to a delegate's key) and their approvals. */
export class CreateKeyGrants1764000400000 implements MigrationInterface {
  name = 'CreateKeyGrants1764000400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE key_grants (
        id uuid PRIMARY KEY,
        from_user_id bigint NOT NULL CHECK (from_user_id > 0),
        to_user_id bigint NOT NULL CHECK (to_user_id > 0),
        reason varchar(500) NOT NULL,
        created_by varchar(256) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        not_before timestamptz,
        expires_at timestamptz,
        revoked_at timestamptz,
        revoked_by varchar(256),
        CONSTRAINT key_grants_distinct_users CHECK (from_user_id <> to_user_id),
        CONSTRAINT key_grants_window CHECK (expires_at IS NULL OR not_before IS NULL OR expires_at > not_before)
      )`);
    await queryRunner.query(`CREATE INDEX idx_key_grants_users ON key_grants (from_user_id, to_user_id)`);
    await queryRunner.query(`
      CREATE TABLE key_grant_approvals (
        grant_id uuid NOT NULL REFERENCES key_grants (id),
        approver varchar(256) NOT NULL,
        approved_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (grant_id, approver)
      )`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
