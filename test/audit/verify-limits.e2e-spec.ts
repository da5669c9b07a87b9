import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AuditService } from '../../src/audit/audit.service';
import { ApiError } from '../../src/common/api-error';
import { FULL_VERIFY_LOCK_ID } from '../../src/repositories/audit-event.repository';
import { checkedAgent } from '../support/openapi-contract';
import { awsStack, embeddedStack, Stack, STACKS, urlOf } from '../support/stacks';

/** A short AUDIT_VERIFY_TIMEOUT_MS, for the verifications meant to be stopped. */
const SHORT_TIMEOUT_MS = 1500;

for (const definition of STACKS) {
  describe(`full audit verification: one at a time, bounded in time — ${definition.name}`, () => {
    let stack: Stack;
    let auditor: string;
    /** PostgreSQL: a connection of the test's own, standing for another replica or an administrator. */
    let blocker: Client | undefined;
    // On PostgreSQL the app's own bound is long, so that a verification the test holds up is not stopped; a replica with the short one is.
    const VERIFY_TIMEOUT_MS = definition === awsStack ? 20_000 : SHORT_TIMEOUT_MS;
    const fullVerify = (agent: request.Agent = stack.http()) =>
      agent.get('/api/v1/audit/verify?full=true').auth(auditor, { type: 'bearer' });
    const isRefusal = (code: string) => (error: unknown) => error instanceof ApiError && error.code === code;

    before(async () => {
      stack = await definition.start({ AUDIT_VERIFY_TIMEOUT_MS: String(VERIFY_TIMEOUT_MS) });
      auditor = await stack.token(['audit:read']);
      const token = await stack.token();
      await stack.as(token).post('/api/v1/keys').send({ userId: '721' }).expect(201);
      await stack
        .as(token)
        .post('/api/v1/encrypt')
        .send({ userId: '721', data: ['a', 'b'] })
        .expect(200);
    });
    after(async () => {
      await blocker?.end();
      await stack?.close();
    });

    it('answers the first of two full verifications started together in one process, and refuses the second with AUDIT001', async () => {
      const service = stack.app.get(AuditService);
      const [first, second] = await Promise.allSettled([service.verify({ full: true }), service.verify({ full: true })]);
      assert.equal(first.status, 'fulfilled');
      assert.equal(first.value.ok, true);
      assert.equal(first.value.mode, 'full');
      assert.equal(second.status, 'rejected');
      assert.ok(isRefusal('AUDIT001')(second.reason));
      assert.equal((second.reason as ApiError).headers['Retry-After'], String(Math.ceil(VERIFY_TIMEOUT_MS / 1000)));
      // Nothing is left held: the next one runs.
      assert.equal((await fullVerify().expect(200)).body.ok, true);
    });

    if (definition === embeddedStack) {
      it('stops a full verification still running after AUDIT_VERIFY_TIMEOUT_MS with AUDIT002, and the next one succeeds', async () => {
        // PGlite serves one transaction at a time: holding one keeps the verification waiting past its deadline.
        const holder = stack.app.get(DataSource).createQueryRunner();
        await holder.connect();
        await holder.startTransaction();
        await holder.query('SELECT 1');
        const walk = stack.app.get(AuditService).verify({ full: true });
        try {
          await sleep(VERIFY_TIMEOUT_MS + 200);
        } finally {
          await holder.commitTransaction();
          await holder.release();
        }
        await assert.rejects(walk, isRefusal('AUDIT002'));
        const next = await fullVerify().expect(200);
        assert.equal(next.body.ok, true);
      });
    }

    if (definition === awsStack) {
      /** The blocker, connected (PostgreSQL only). */
      let sql: Client;
      let secondReplica: request.Agent;
      const waitingOn = async (table: string) => {
        for (;;) {
          const [{ waiting }] = await stack.query<{ waiting: string }>(
            `SELECT count(*) AS waiting FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = $1 AND NOT l.granted`,
            [table],
          );
          if (Number(waiting) > 0) return;
          await sleep(20);
        }
      };

      before(async () => {
        sql = blocker = new Client({ connectionString: stack.env.DATABASE_URL });
        await sql.connect();
        secondReplica = checkedAgent(request.agent(urlOf(await stack.startAnother())), stack.contract);
      });

      it('refuses a full verification in any replica with 429 AUDIT001 and Retry-After while one runs, and answers the running one', async () => {
        // The first verification takes the cluster-wide lock, then waits on the checkpoints table the test holds.
        await sql.query('BEGIN');
        await sql.query('LOCK TABLE audit_checkpoints IN ACCESS EXCLUSIVE MODE');
        const first = fullVerify().then((response) => response);
        try {
          await waitingOn('audit_checkpoints');
          for (const agent of [stack.http(), secondReplica]) {
            const refused = await fullVerify(agent).expect(429);
            assert.equal(refused.body.code, 'AUDIT001');
            assert.equal(refused.headers['retry-after'], String(Math.ceil(VERIFY_TIMEOUT_MS / 1000)));
          }
        } finally {
          await sql.query('COMMIT');
        }
        const answered = await first;
        assert.equal(answered.status, 200);
        assert.equal(answered.body.ok, true);
        assert.equal(answered.body.mode, 'full');
        // The incremental verification is not held back by the single-flight.
        assert.equal((await secondReplica.get('/api/v1/audit/verify').auth(auditor, { type: 'bearer' }).expect(200)).body.ok, true);
      });

      it('refuses a full verification while another session holds the verification lock, and runs it once released', async () => {
        await sql.query('SELECT pg_advisory_lock($1::bigint)', [FULL_VERIFY_LOCK_ID]);
        try {
          assert.equal((await fullVerify().expect(429)).body.code, 'AUDIT001');
        } finally {
          await sql.query('SELECT pg_advisory_unlock($1::bigint)', [FULL_VERIFY_LOCK_ID]);
        }
        assert.equal((await fullVerify().expect(200)).body.ok, true);
      });

      it('stops a full verification whose statement waits past AUDIT_VERIFY_TIMEOUT_MS with 503 AUDIT002, and the next one succeeds', async () => {
        const bounded = checkedAgent(
          request.agent(urlOf(await stack.startAnother({ AUDIT_VERIFY_TIMEOUT_MS: String(SHORT_TIMEOUT_MS) }))),
          stack.contract,
        );
        await sql.query('BEGIN');
        await sql.query('LOCK TABLE audit_checkpoints IN ACCESS EXCLUSIVE MODE');
        try {
          const stopped = await fullVerify(bounded).expect(503);
          assert.equal(stopped.body.code, 'AUDIT002');
        } finally {
          await sql.query('COMMIT');
        }
        // The lock went with the stopped transaction: the next one runs, in this replica and the others.
        assert.equal((await fullVerify(bounded).expect(200)).body.ok, true);
        assert.equal((await fullVerify(secondReplica).expect(200)).body.ok, true);
      });
    }
  });
}
