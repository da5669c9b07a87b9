import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The retention purge through one function only (docs/audit.md, storage; security review L2).
 * Before, the append-only trigger let through any DELETE in a transaction that had run
 * `SET LOCAL pii_api.audit_purge = 'on'`, a setting any connection may set, for rows of any age.
 *
 * Now:
 * - `audit_purge_chain_prefix(chain, through_seq, retention_days)` is `SECURITY DEFINER`, owned by
 *   the role `pii_audit_purger` (NOLOGIN, created here if missing; it holds only `SELECT, DELETE`
 *   on `audit_events`). It deletes a chain's prefix (seq ≤ through_seq) and refuses, undoing the
 *   delete, when a retention below 1 day (the minimum of AUDIT_RETENTION_DAYS) is asked for or
 *   when any row of the prefix is younger than `retention_days` by the database's clock.
 * - The trigger lets a DELETE through only when the current role is `pii_audit_purger`, which it
 *   is only inside that function: a plain DELETE is refused, whatever the session has set.
 * - EXECUTE is revoked from PUBLIC and granted to the role running this migration, with grant
 *   option, so that the schema's owner can grant it to a separate service role.
 *
 * The migrating role needs CREATEROLE once (or an administrator creates `pii_audit_purger`
 * first). When it is not a superuser it briefly makes itself a member of `pii_audit_purger` and
 * gives that role CREATE on the schema, which PostgreSQL requires to hand the function over, and
 * takes both back.
 */
export class CreateAuditPurgeFunction1764000960000 implements MigrationInterface {
  name = 'CreateAuditPurgeFunction1764000960000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pii_audit_purger') THEN
          CREATE ROLE pii_audit_purger NOLOGIN;
        END IF;
      EXCEPTION
        -- Another database of the same server created it meanwhile.
        WHEN duplicate_object OR unique_violation THEN NULL;
        WHEN insufficient_privilege THEN
          RAISE EXCEPTION 'creating the role pii_audit_purger needs CREATEROLE: create it (NOLOGIN) as an administrator and run the migration again (docs/operations.md, database roles)';
      END
      $$`);
    await queryRunner.query(`
      CREATE FUNCTION audit_purge_chain_prefix(p_chain_id uuid, p_through_seq bigint, p_retention_days integer)
      RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE
        deleted bigint;
        newest timestamptz;
      BEGIN
        IF p_retention_days IS NULL OR p_retention_days < 1 THEN
          RAISE EXCEPTION 'audit purge refused: a retention of % day(s) is below the minimum of 1 day', p_retention_days;
        END IF;
        WITH gone AS (
          DELETE FROM audit_events WHERE chain_id = p_chain_id AND seq <= p_through_seq RETURNING occurred_at
        )
        SELECT count(*), max(occurred_at) INTO deleted, newest FROM gone;
        IF newest >= now() - make_interval(days => p_retention_days) THEN
          RAISE EXCEPTION 'audit purge refused: chain % holds events younger than % day(s) up to seq %',
            p_chain_id, p_retention_days, p_through_seq;
        END IF;
        RETURN deleted;
      END
      $$`);
    const [{ schema }] = await queryRunner.query(`SELECT current_schema() AS schema`);
    const fn = 'audit_purge_chain_prefix(uuid, bigint, integer)';
    await queryRunner.query(`ALTER FUNCTION ${fn} SET search_path = pg_catalog, ${quoteIdent(schema)}`);
    await queryRunner.query(`GRANT SELECT, DELETE ON audit_events TO pii_audit_purger`);
    await queryRunner.query(`REVOKE ALL ON FUNCTION ${fn} FROM PUBLIC`);
    await queryRunner.query(`
      DO $$
      DECLARE
        superuser boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
        member boolean := pg_has_role(current_user, 'pii_audit_purger', 'MEMBER');
        can_create boolean := has_schema_privilege('pii_audit_purger', current_schema(), 'CREATE');
        me text := current_user;
      BEGIN
        IF NOT has_schema_privilege('pii_audit_purger', current_schema(), 'USAGE') THEN
          EXECUTE format('GRANT USAGE ON SCHEMA %I TO pii_audit_purger', current_schema());
        END IF;
        IF NOT superuser AND NOT member THEN
          EXECUTE format('GRANT pii_audit_purger TO %I', me);
        END IF;
        IF NOT superuser AND NOT can_create THEN
          EXECUTE format('GRANT CREATE ON SCHEMA %I TO pii_audit_purger', current_schema());
        END IF;
        ALTER FUNCTION ${fn} OWNER TO pii_audit_purger;
        -- As a member of the new owner (or a superuser): this role keeps EXECUTE, which the hand-over took.
        EXECUTE format('GRANT EXECUTE ON FUNCTION ${fn} TO %I WITH GRANT OPTION', me);
        IF NOT superuser AND NOT can_create THEN
          EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM pii_audit_purger', current_schema());
        END IF;
        IF NOT superuser AND NOT member THEN
          EXECUTE format('REVOKE pii_audit_purger FROM %I', me);
        END IF;
      END
      $$`);
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- Only audit_purge_chain_prefix runs as pii_audit_purger (SECURITY DEFINER).
        IF TG_OP = 'DELETE' AND current_user = 'pii_audit_purger' THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
      END
      $$`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
