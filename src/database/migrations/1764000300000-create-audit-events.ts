import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail (docs/audit.md): append-only `audit_events`. A trigger refuses UPDATE,
 * DELETE and TRUNCATE; the one exception is the retention purge, which deletes inside a
 * transaction that has run `SET LOCAL pii_api.audit_purge = 'on'`. This guards against
 * accidents and casual edits; the hash chain is what proves the rows were not changed.
 */
export class CreateAuditEvents1764000300000 implements MigrationInterface {
  name = 'CreateAuditEvents1764000300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE audit_events (
        id uuid PRIMARY KEY,
        chain_id uuid NOT NULL,
        seq bigint NOT NULL CHECK (seq > 0),
        occurred_at timestamptz NOT NULL,
        request_id varchar(128),
        actor_sub varchar(256),
        actor_client_id varchar(256),
        actor_username varchar(256),
        action varchar(32) NOT NULL,
        target_user_id bigint,
        key_versions integer[] NOT NULL DEFAULT '{}',
        item_count integer,
        outcome varchar(16) NOT NULL CHECK (outcome IN ('started', 'success', 'failure', 'denied')),
        error_code varchar(16),
        source_ip varchar(64),
        purpose varchar(200),
        details jsonb,
        prev_hash char(64) NOT NULL,
        hash char(64) NOT NULL,
        CONSTRAINT audit_events_chain_link UNIQUE (chain_id, seq)
      )`);
    await queryRunner.query(`CREATE INDEX idx_audit_events_time ON audit_events (occurred_at DESC, id DESC)`);
    await queryRunner.query(`CREATE INDEX idx_audit_events_user_time ON audit_events (target_user_id, occurred_at DESC)`);
    await queryRunner.query(`CREATE INDEX idx_audit_events_actor_time ON audit_events (actor_sub, occurred_at DESC)`);
    await queryRunner.query(`CREATE INDEX idx_audit_events_purges ON audit_events (chain_id) WHERE action = 'audit.purge'`);
    await queryRunner.query(`
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND current_setting('pii_api.audit_purge', true) = 'on' THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
      END
      $$`);
    await queryRunner.query(`
      CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`);
    await queryRunner.query(`
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
