import { decode } from 'jsonwebtoken';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Stack, STACKS } from '../support/stacks';
import { RotationScheduler } from '../../src/rotation/rotation.scheduler';
import { actorOf, anotherCaller, AuditRow, auditRows, captureLogs, eventsOf, newRequestId, wholeTrail } from './support';

const MARKER = `PLAINTEXT-MARKER-${randomUUID()}`;
const PURPOSE = 'estate settlement: executor statement';
const RATE_LIMIT = 100;

for (const definition of STACKS) {
  describe(`audit trail: one event per operation — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    let logs: ReturnType<typeof captureLogs>;
    /** Everything secret the tests handled: none of it may reach the trail or a log line. */
    const secrets: string[] = [MARKER];
    const requestIds: string[] = [];

    async function call(method: 'get' | 'post' | 'delete', path: string, body?: object, bearer: string | null = token) {
      const requestId = newRequestId();
      requestIds.push(requestId);
      let pending = stack.http()[method](`/api/v1/${path}`).set('X-Request-Id', requestId);
      if (bearer) pending = pending.auth(bearer, { type: 'bearer' });
      const response = await (body ? pending.send(body) : pending);
      return { response, events: await eventsOf(stack, requestId) };
    }

    function assertActor(event: AuditRow, bearer = token) {
      const actor = actorOf(bearer);
      assert.equal(event.actor_sub, actor.sub);
      assert.equal(event.actor_client_id, actor.clientId);
      assert.equal(event.actor_username, actor.username);
      assert.match(event.source_ip ?? '', /127\.0\.0\.1/);
    }

    async function encrypt(userId: string, data: string[]): Promise<string[]> {
      const { response } = await call('post', 'encrypt', { userId, data });
      secrets.push(...response.body.encryptedData);
      return response.body.encryptedData;
    }

    before(async () => {
      logs = captureLogs();
      // Rotation runs only when a test calls it, and then finds every key due.
      stack = await definition.start({
        AUDIT_REQUIRE_PURPOSE: 'true',
        ROTATION_ENABLED: 'false',
        ROTATION_MAX_AGE_DAYS: '0',
        RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
      });
      token = await stack.token();
      secrets.push(token);
    });
    after(async () => {
      await stack?.close();
      logs?.restore();
    });

    it('records a key creation as a `started` event before it runs and a `success` event after', async () => {
      const { response, events } = await call('post', 'keys', { userId: '601' });
      assert.equal(response.status, 201);
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome]),
        [
          ['key.create', 'started'],
          ['key.create', 'success'],
        ],
      );
      const [started, done] = events;
      assert.equal(started.user_id, '601');
      assert.deepEqual(started.key_versions, []);
      assert.deepEqual(done.key_versions, [1]);
      assert.deepEqual(done.details, { created: true });
      for (const event of events) assertActor(event);
    });

    it('records a key lookup as exactly one event with the version shown', async () => {
      const { response, events } = await call('get', 'keys/601');
      assert.equal(response.status, 200);
      secrets.push(response.body.publicKey);
      assert.equal(events.length, 1);
      assert.equal(events[0].action, 'key.read');
      assert.equal(events[0].outcome, 'success');
      assert.equal(events[0].user_id, '601');
      assert.deepEqual(events[0].key_versions, [1]);
      assertActor(events[0]);
    });

    it('records an encrypt as one event with the item count and key version, and no data', async () => {
      const { response, events } = await call('post', 'encrypt', { userId: '601', data: [MARKER, 'second', 'third'] });
      assert.equal(response.status, 200);
      secrets.push(...response.body.encryptedData);
      assert.equal(events.length, 1);
      assert.deepEqual(
        {
          action: events[0].action,
          outcome: events[0].outcome,
          items: events[0].item_count,
          versions: events[0].key_versions,
          user: events[0].user_id,
        },
        { action: 'encrypt', outcome: 'success', items: 3, versions: [1], user: '601' },
      );
      assertActor(events[0]);
    });

    it('records a decrypt as one event with its stated purpose, item count and the versions named', async () => {
      const data = await encrypt('601', [MARKER, 'x']);
      const { response, events } = await call('post', 'decrypt', { userId: '601', data, purpose: PURPOSE });
      assert.equal(response.status, 200);
      assert.equal(events.length, 1);
      assert.deepEqual(
        {
          action: events[0].action,
          outcome: events[0].outcome,
          items: events[0].item_count,
          versions: events[0].key_versions,
          purpose: events[0].purpose,
        },
        { action: 'decrypt', outcome: 'success', items: 2, versions: [1], purpose: PURPOSE },
      );
      assertActor(events[0]);
    });

    it('refuses a decrypt without a purpose (AUDIT_REQUIRE_PURPOSE=true) with ENC001, recorded as a failure', async () => {
      const data = await encrypt('601', [MARKER]);
      const { response, events } = await call('post', 'decrypt', { userId: '601', data });
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC001');
      assert.match(response.body.message, /purpose is required/);
      assert.doesNotMatch(response.text, new RegExp(MARKER));
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome, e.error_code]),
        [['decrypt', 'failure', 'ENC001']],
      );
    });

    it('refuses a purpose that is too long or not printable with ENC001, and does not record it', async () => {
      const data = await encrypt('601', ['x']);
      for (const purpose of ['p'.repeat(201), 'line\nbreak', '   ']) {
        const { response, events } = await call('post', 'decrypt', { userId: '601', data, purpose });
        assert.equal(response.body.code, 'ENC001', JSON.stringify(purpose));
        assert.equal(events.length, 1);
        assert.equal(events[0].purpose, null);
      }
    });

    it('records a failed decrypt as one failure event with its error code', async () => {
      const [ciphertext] = await encrypt('601', [MARKER]);
      const fields = ciphertext.split(':');
      fields[5] = Buffer.alloc(16).toString('base64url');
      const { response, events } = await call('post', 'decrypt', { userId: '601', data: [fields.join(':')], purpose: PURPOSE });
      assert.equal(response.body.code, 'ENC002');
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome, e.error_code, e.item_count]),
        [['decrypt', 'failure', 'ENC002', 1]],
      );
    });

    it('records a rotation as started and success, with the versions read and written and the ciphertexts counted', async () => {
      const [a, b] = await encrypt('601', [MARKER, 'other']);
      const { response, events } = await call('post', 'rotate', {
        userId: '601',
        data: { a, nested: [b, 'not a ciphertext'] },
        reason: 'compliance',
      });
      assert.equal(response.status, 200);
      secrets.push(response.body.rotatedData.a, response.body.rotatedData.nested[0]);
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome]),
        [
          ['rotate', 'started'],
          ['rotate', 'success'],
        ],
      );
      assert.deepEqual(events[1].key_versions, [1, 2]);
      assert.equal(events[1].item_count, 2);
      assert.deepEqual(events[1].details, { reason: 'compliance' });
    });

    it('records a rewrap as one event with the old and current versions', async () => {
      const oldCiphertexts = secrets.filter((s) => /^ek[12]:1:/.test(s)).slice(0, 2);
      const { response, events } = await call('post', 'rewrap', { userId: '601', data: oldCiphertexts });
      assert.equal(response.status, 200);
      secrets.push(...response.body.rewrappedData);
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome, e.item_count]),
        [['rewrap', 'success', 2]],
      );
      assert.deepEqual(events[0].key_versions, [1, 2]);
    });

    it('records a deletion as started and success, with the versions destroyed', async () => {
      await call('post', 'keys', { userId: '602' });
      const { response, events } = await call('delete', 'keys/602');
      assert.equal(response.status, 200);
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome]),
        [
          ['key.delete', 'started'],
          ['key.delete', 'success'],
        ],
      );
      assert.deepEqual(events[1].details, { versionsDestroyed: 1 });
      assert.equal(events[1].user_id, '602');
    });

    it('records an operation that failed before changing anything, after its started event', async () => {
      const { response, events } = await call('delete', 'keys/603');
      assert.equal(response.body.code, 'KEY001');
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome, e.error_code]),
        [
          ['key.delete', 'started', null],
          ['key.delete', 'failure', 'KEY001'],
        ],
      );
    });

    it('records a request without a valid token as one authentication failure, naming the route and the user', async () => {
      const data = await encrypt('601', [MARKER]);
      const { response, events } = await call('post', 'decrypt', { userId: '601', data, purpose: PURPOSE }, null);
      assert.equal(response.status, 401);
      assert.equal(events.length, 1);
      assert.deepEqual(
        {
          action: events[0].action,
          outcome: events[0].outcome,
          code: events[0].error_code,
          user: events[0].user_id,
          sub: events[0].actor_sub,
          details: events[0].details,
        },
        {
          action: 'auth.failure',
          outcome: 'denied',
          code: 'AUTH001',
          user: '601',
          sub: null,
          details: { method: 'POST', route: '/api/v1/decrypt' },
        },
      );
      const forged = await call('get', 'keys/601', undefined, `${token.slice(0, -4)}AAAA`);
      assert.equal(forged.response.status, 401);
      assert.deepEqual(
        forged.events.map((e) => e.action),
        ['auth.failure'],
      );
    });

    it('records a token lacking the permission as one authorization failure with the caller', async () => {
      const encryptOnly = await stack.token(['encrypt']);
      secrets.push(encryptOnly);
      const { response, events } = await call('get', 'keys/601', undefined, encryptOnly);
      assert.equal(response.status, 403);
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome, e.error_code, e.user_id]),
        [['access.denied', 'denied', 'AUTH002', '601']],
      );
      assertActor(events[0], encryptOnly);
    });

    it('records a token revocation as started and success with the token id, never the token', async () => {
      const compromised = await anotherCaller(stack, 'compromised-service', ['keys:read']);
      secrets.push(compromised);
      const { jti } = decode(compromised) as { jti: string };
      const byToken = await call('post', 'tokens/revoke', { token: compromised });
      assert.equal(byToken.response.status, 200);
      assert.deepEqual(
        byToken.events.map((e) => [e.action, e.outcome]),
        [
          ['token.revoke', 'started'],
          ['token.revoke', 'success'],
        ],
      );
      assert.deepEqual(byToken.events[1].details, { tokenId: jti });
      const refused = await call('get', 'keys/601', undefined, compromised);
      assert.equal(refused.response.status, 401);
      assert.deepEqual(
        refused.events.map((e) => [e.action, e.error_code]),
        [['auth.failure', 'AUTH001']],
      );

      const byId = await call('post', 'tokens/revoke', { jti: 'a-leaked-token-id' });
      assert.equal(byId.response.status, 200);
      assert.deepEqual(
        byId.events.map((e) => [e.outcome, e.details]),
        [
          ['started', { tokenId: 'a-leaked-token-id' }],
          ['success', { tokenId: 'a-leaked-token-id' }],
        ],
      );
    });

    it('records a rate-limited request as one refusal naming the caller', async () => {
      const hasty = await anotherCaller(stack, 'hasty-service', ['keys:read']);
      secrets.push(hasty);
      let last = await call('get', 'keys/601', undefined, hasty);
      for (let sent = 1; last.response.status !== 429 && sent <= RATE_LIMIT * 2; sent++) {
        last = await call('get', 'keys/601', undefined, hasty);
      }
      assert.equal(last.response.status, 429);
      assert.equal(last.response.body.code, 'RATE001');
      assert.deepEqual(
        last.events.map((e) => [e.action, e.outcome, e.error_code, e.user_id]),
        [['rate.limited', 'denied', 'RATE001', '601']],
      );
      assertActor(last.events[0], hasty);
    });

    it('records reads of the trail itself', async () => {
      const query = await call('get', 'audit?limit=5');
      assert.deepEqual(
        query.events.map((e) => [e.action, e.outcome, e.item_count]),
        [['audit.query', 'success', 5]],
      );
      const report = await call('get', 'keys/601/access-report');
      assert.deepEqual(
        report.events.map((e) => [e.action, e.user_id]),
        [['audit.report', '601']],
      );
      const verify = await call('get', 'audit/verify');
      assert.deepEqual(
        verify.events.map((e) => [e.action, (e.details as { ok: boolean }).ok]),
        [['audit.verify', true]],
      );
    });

    it('records delegation operations too', async () => {
      const { response, events } = await call('get', 'grants?fromUserId=601');
      assert.equal(response.status, 200);
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome]),
        [['grant.list', 'success']],
      );
    });

    it('records a scheduled rotation run before it rotates anything, and each key it rotated', async () => {
      await call('post', 'keys', { userId: '604' });
      const { rotated } = await stack.app.get(RotationScheduler).run();
      assert.ok(rotated >= 1);
      const [started, ...done] = await auditRows(stack, `action = 'rotation.scheduled'`);
      assert.deepEqual([started.outcome, started.actor_sub, started.user_id], ['started', 'system', null]);
      assert.equal(done.length, rotated);
      assert.ok(done.every((event) => event.outcome === 'success' && event.actor_sub === 'system'));
      const forNewKey = done.find((event) => event.user_id === '604');
      assert.deepEqual(forNewKey?.key_versions, [1, 2]);
      assert.deepEqual(forNewKey?.details, { reason: 'scheduled' });
    });

    it('keeps no plaintext, ciphertext, key or token in the table', async () => {
      const trail = await wholeTrail(stack);
      assert.ok(trail.length > 0);
      for (const secret of secrets) assert.ok(!trail.includes(secret), `the trail holds ${secret.slice(0, 12)}…`);
      assert.doesNotMatch(trail, /ek[12]:\d+:|BEGIN (PUBLIC|PRIVATE) KEY|eyJ/);
    });

    it('logs every stored event as one JSON line with its hash, and nothing secret', async () => {
      const logged = logs.auditEvents();
      const loggedIds = new Set(logged.map((event) => event.requestId));
      for (const requestId of requestIds) assert.ok(loggedIds.has(requestId), `no audit line for ${requestId}`);
      const stored = await stack.query<{ id: string; hash: string }>(`SELECT id, hash FROM audit_events`);
      const loggedHashes = new Map(logged.map((event) => [event.id, event.hash]));
      for (const row of stored) assert.equal(loggedHashes.get(row.id), row.hash);
      const text = logs.text();
      for (const secret of secrets) assert.ok(!text.includes(secret), `a log line holds ${secret.slice(0, 12)}…`);
    });
  });
}
