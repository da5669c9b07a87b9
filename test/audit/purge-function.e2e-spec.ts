import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AuditRetention } from '../../src/audit/audit-retention.service';
import { AuditStore } from '../../src/audit/audit-store.service';
import { ADMIN_DATABASE_URL } from '../support/postgres';
import { awsStack, Stack, STACKS } from '../support/stacks';
import { sealLegacyEvents } from './support';

const OLD = ['2015-06-01T00:00:00.000Z', '2015-06-02T00:00:00.000Z'];

async function admin(sql: string): Promise<void> {
  const client = new Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

for (const definition of STACKS) {
  describe(`audit retention purge only through the database's purge function — ${definition.name}`, () => {
    let stack: Stack;
    /** Roles made by a test, dropped once the stack's database is. */
    const roles: string[] = [];
    const seqsOf = async (chainId: string) =>
      (await stack.query<{ seq: string }>(`SELECT seq FROM audit_events WHERE chain_id = $1 ORDER BY seq`, [chainId])).map((r) => r.seq);
    /** A chain of events at `times`, sealed as the service seals them, stored through the audit store. */
    const storeChain = async (times: string[]) => {
      const chainId = randomUUID();
      await stack.app.get(AuditStore).insert(sealLegacyEvents(chainId, '731', times));
      return chainId;
    };
    const verifyFull = async () =>
      (
        await stack
          .as(await stack.token(['audit:read']))
          .get('/api/v1/audit/verify?full=true')
          .expect(200)
      ).body;

    before(async () => {
      stack = await definition.start();
    });
    after(async () => {
      await stack?.close();
      for (const role of roles) await admin(`DROP ROLE IF EXISTS ${role}`);
    });

    it('purges events past AUDIT_RETENTION_DAYS through a SECURITY DEFINER function owned by pii_audit_purger', async () => {
      const [fn] = await stack.query<{ definer: boolean; owner: string }>(
        `SELECT p.prosecdef AS definer, r.rolname AS owner FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
          WHERE p.proname = 'audit_purge_chain_prefix'`,
      );
      assert.deepEqual(fn, { definer: true, owner: 'pii_audit_purger' });
      const now = new Date().toISOString();
      const chainId = await storeChain([...OLD, now]);
      await stack.app.get(AuditRetention).purgeExpired();
      assert.deepEqual(await seqsOf(chainId), ['3']);
      const result = await verifyFull();
      assert.equal(result.ok, true, JSON.stringify(result.brokenLink));
    });

    it('refuses a plain DELETE on the service’s own connection, also with the old pii_api.audit_purge setting on', async () => {
      const chainId = await storeChain(OLD);
      await assert.rejects(stack.query(`DELETE FROM audit_events WHERE chain_id = $1`, [chainId]), /append-only: DELETE refused/);
      const runner = stack.app.get(DataSource).createQueryRunner();
      await runner.connect();
      try {
        await runner.startTransaction();
        await runner.query(`SET LOCAL pii_api.audit_purge = 'on'`);
        await assert.rejects(runner.query(`DELETE FROM audit_events WHERE chain_id = $1`, [chainId]), /append-only: DELETE refused/);
      } finally {
        await runner.rollbackTransaction();
        await runner.release();
      }
      assert.deepEqual(await seqsOf(chainId), ['1', '2']);
      await stack.app.get(AuditRetention).purgeExpired(); // leaves the trail as it found it: verifiable
    });

    it('refuses, through the function, events younger than the retention asked for and a retention under 1 day', async () => {
      const now = new Date().toISOString();
      const chainId = await storeChain([...OLD, now]);
      await assert.rejects(
        stack.query(`SELECT audit_purge_chain_prefix($1, 3, 1)`, [chainId]),
        /audit purge refused: chain .* holds events younger than 1 day/,
      );
      await assert.rejects(stack.query(`SELECT audit_purge_chain_prefix($1, 2, 0)`, [chainId]), /below the minimum of 1 day/);
      await assert.rejects(stack.query(`SELECT audit_purge_chain_prefix($1, 2, NULL)`, [chainId]), /below the minimum of 1 day/);
      assert.deepEqual(await seqsOf(chainId), ['1', '2', '3']);
      // Asked to purge up to now, the service purges only what is past AUDIT_RETENTION_DAYS.
      await stack.app.get(AuditRetention).purgeBefore(new Date(Date.now() + 60_000));
      assert.deepEqual(await seqsOf(chainId), ['3']);
      const result = await verifyFull();
      assert.equal(result.ok, true, JSON.stringify(result.brokenLink));
    });

    if (definition === awsStack) {
      it('as a service role that owns nothing, with the grants docs/audit.md lists, purges through the function and cannot delete or disable the trigger', async () => {
        const role = `pii_service_${randomBytes(4).toString('hex')}`;
        await admin(`CREATE ROLE ${role} LOGIN`);
        roles.push(role);
        {
          // The grants of docs/audit.md (storage), made by the schema's owner.
          await stack.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
          await stack.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
          await stack.query(`REVOKE UPDATE, DELETE ON audit_events FROM ${role}`);
          await stack.query(`REVOKE DELETE ON audit_checkpoints FROM ${role}`);
          await stack.query(`GRANT EXECUTE ON FUNCTION audit_purge_chain_prefix(uuid, bigint, integer) TO ${role}`);
          const url = new URL(stack.env.DATABASE_URL);
          url.username = role;
          const service = await stack.startAnother({ DATABASE_URL: url.toString(), MIGRATIONS_RUN: 'false' });
          const asService = new Client({ connectionString: url.toString() });
          await asService.connect();
          try {
            const chainId = randomUUID();
            await service.get(AuditStore).insert(sealLegacyEvents(chainId, '731', OLD));
            await assert.rejects(asService.query(`DELETE FROM audit_events WHERE chain_id = $1`, [chainId]), /permission denied/);
            await assert.rejects(asService.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`), /must be owner/);
            await assert.rejects(asService.query(`SET ROLE pii_audit_purger`), /permission denied/);
            await service.get(AuditRetention).purgeExpired();
            assert.deepEqual(await seqsOf(chainId), []);
            const result = await verifyFull();
            assert.equal(result.ok, true, JSON.stringify(result.brokenLink));
          } finally {
            await asService.end();
          }
        }
      });
    }
  });
}
