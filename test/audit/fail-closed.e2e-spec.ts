import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import request from 'supertest';
import { checkedAgent } from '../support/openapi-contract';
import { ADMIN_DATABASE_URL } from '../support/postgres';
import { Environment, Stack, STACKS, urlOf } from '../support/stacks';
import { captureLogs, eventsOf, newRequestId } from './support';

const MARKER = `PLAINTEXT-MARKER-${randomUUID()}`;

/**
 * Makes the audit table refuse the application's inserts, the way each database allows: on
 * PostgreSQL the application connects as a role of its own whose INSERT privilege on
 * audit_events is revoked; on PGlite (a single user) a trigger raises on INSERT.
 */
interface AuditOutage {
  /** An application (with `overrides`) subject to the outage, and a token it accepts. */
  app(overrides?: Environment): Promise<{ http: request.Agent; token: string }>;
  begin(): Promise<void>;
  end(): Promise<void>;
  dispose(): Promise<void>;
}

async function postgresOutage(stack: Stack): Promise<AuditOutage> {
  const role = `pii_app_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE ROLE ${role} LOGIN`);
  await stack.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
  await stack.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
  const url = new URL(stack.env.DATABASE_URL);
  url.username = role;
  return {
    async app(overrides = {}) {
      const app = await stack.startAnother({ DATABASE_URL: url.toString(), MIGRATIONS_RUN: 'false', ...overrides });
      return { http: checkedAgent(request.agent(urlOf(app)), stack.contract), token: await stack.token() };
    },
    begin: () => stack.query(`REVOKE INSERT ON audit_events FROM ${role}`).then(() => undefined),
    end: () => stack.query(`GRANT INSERT ON audit_events TO ${role}`).then(() => undefined),
    // The role can be dropped once the stack has dropped its database.
    dispose: () => admin(`DROP ROLE IF EXISTS ${role}`),
  };
}

function pgliteOutage(stack: Stack, definition: { start(overrides?: Environment): Promise<Stack> }): AuditOutage {
  const stacks = [stack];
  const onAll = async (sql: string) => {
    for (const each of stacks) await each.query(sql);
  };
  return {
    async app(overrides = {}) {
      // An embedded database belongs to one application: another application needs its own.
      const target = Object.keys(overrides).length ? await definition.start(overrides) : stack;
      if (target !== stack) stacks.push(target);
      return { http: target.http(), token: await target.token() };
    },
    begin: () =>
      onAll(`CREATE OR REPLACE FUNCTION refuse_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit outage'; END $$;
             CREATE TRIGGER audit_outage BEFORE INSERT ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_insert()`),
    end: () => onAll(`DROP TRIGGER audit_outage ON audit_events`),
    dispose: async () => {
      for (const another of stacks.slice(1)) await another.close();
    },
  };
}

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
  describe(`audit trail fails closed — ${definition.name}`, () => {
    let stack: Stack;
    let outage: AuditOutage;
    let app: request.Agent;
    let token: string;
    let ciphertexts: string[];
    let logs: ReturnType<typeof captureLogs>;

    const decrypt = (agent: request.Agent, requestId: string, data = ciphertexts, bearer = token) =>
      agent.post('/api/v1/decrypt').auth(bearer, { type: 'bearer' }).set('X-Request-Id', requestId).send({ userId: '801', data });

    before(async () => {
      logs = captureLogs();
      stack = await definition.start();
      outage = stack.env.DATABASE_URL ? await postgresOutage(stack) : pgliteOutage(stack, definition);
      ({ http: app, token } = await outage.app());
      await app.post('/api/v1/keys').auth(token, { type: 'bearer' }).send({ userId: '801' });
      ciphertexts = (
        await app
          .post('/api/v1/encrypt')
          .auth(token, { type: 'bearer' })
          .send({ userId: '801', data: [MARKER] })
      ).body.encryptedData;
    });
    after(async () => {
      await stack?.close();
      await outage?.dispose();
      logs?.restore();
    });

    it('answers a decrypt whose event cannot be stored with 503 SYS002 and no plaintext', async () => {
      await outage.begin();
      try {
        const requestId = newRequestId();
        const response = await decrypt(app, requestId);
        assert.equal(response.status, 503);
        assert.equal(response.body.code, 'SYS002');
        assert.match(response.body.message, /audit trail is unavailable/);
        assert.doesNotMatch(response.text, new RegExp(MARKER));
        assert.equal((await eventsOf(stack, requestId)).length, 0);
        assert.match(logs.text(), /Audit trail write failed \(QueryFailedError\): 1 operation\(s\) refused with SYS002/);
      } finally {
        await outage.end();
      }
    });

    it('does not create a key when its started event cannot be stored', async () => {
      await outage.begin();
      try {
        const response = await app.post('/api/v1/keys').auth(token, { type: 'bearer' }).send({ userId: '802' });
        assert.equal(response.status, 503);
        assert.equal(response.body.code, 'SYS002');
        assert.equal((await stack.query(`SELECT * FROM user_keys WHERE user_id = 802`)).length, 0);
      } finally {
        await outage.end();
      }
    });

    it('still refuses a request without a token with 401 while the trail is down', async () => {
      await outage.begin();
      try {
        const response = await app.post('/api/v1/decrypt').send({ userId: '801', data: ciphertexts });
        assert.equal(response.status, 401);
      } finally {
        await outage.end();
      }
    });

    it('recovers by itself once the table is writable again, continuing an intact chain', async () => {
      const requestId = newRequestId();
      const response = await decrypt(app, requestId);
      assert.equal(response.status, 200);
      assert.deepEqual(response.body.decryptedData, [MARKER]);
      assert.deepEqual(
        (await eventsOf(stack, requestId)).map((e) => [e.action, e.outcome]),
        [['decrypt', 'success']],
      );
      const auditor = await stack.token(['audit:read']);
      const verify = await stack.as(auditor).get('/api/v1/audit/verify');
      assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
    });

    it('with AUDIT_FAIL_OPEN=true lets the decrypt through and logs the lost event loudly', async () => {
      const failOpen = await outage.app({ AUDIT_FAIL_OPEN: 'true' });
      const post = (path: string, body: object) =>
        failOpen.http.post(`/api/v1/${path}`).auth(failOpen.token, { type: 'bearer' }).send(body);
      await post('keys', { userId: '801' });
      const data = (await post('encrypt', { userId: '801', data: [MARKER] })).body.encryptedData;
      await outage.begin();
      try {
        const requestId = newRequestId();
        const response = await decrypt(failOpen.http, requestId, data, failOpen.token);
        assert.equal(response.status, 200);
        assert.deepEqual(response.body.decryptedData, [MARKER]);
        const lost = logs
          .text()
          .split('\n')
          .filter((line) => line.includes('AUDIT EVENT NOT STORED') && line.includes(requestId));
        assert.equal(lost.length, 1);
        assert.ok(!logs.text().includes(MARKER));
      } finally {
        await outage.end();
      }
    });
  });
}
