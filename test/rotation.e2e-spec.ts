import assert from 'node:assert/strict';
import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it, mock } from 'node:test';
import request from 'supertest';
import { MANUAL_ROTATIONS_PER_DAY } from '../src/common/limits';
import { checkedAgent } from './support/openapi-contract';
import { KmsFaultProxy } from './support/kms-fault-proxy';
import { awsStack, Stack, STACKS } from './support/stacks';

for (const definition of STACKS) {
  describe(`rotation, rewrap and deletion — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    const post = (path: string, body: object) => stack.as(token).post(`/api/v1/${path}`).send(body);
    const createKey = (userId: string) => post('keys', { userId });
    const encrypt = async (userId: string, data: string[]): Promise<string[]> =>
      (await post('encrypt', { userId, data })).body.encryptedData;
    const decrypt = (userId: string, data: string[]) => post('decrypt', { userId, data });
    const currentVersion = async (userId: string) => (await stack.as(token).get(`/api/v1/keys/${userId}`)).body.keyVersion;

    before(async () => {
      stack = await definition.start();
      token = await stack.token();
    });
    after(() => stack?.close());

    it('re-encrypts every ciphertext in nested JSON under a new version and leaves every other value identical', async () => {
      await createKey('201');
      const [name, sin, account] = await encrypt('201', ['Jane Doe', '046 454 286', '0012-3456']);
      const data: any[] = [
        { name, account: { sin, number: account, branch: 'Toronto', balance: 1200.5, closed: false, notes: null } },
        'ek1: a look-alike note',
        'ek1:1:not:a:real:ciphertext',
        'ek2:1:not:a:real:ciphertext',
        42,
        [null, [name]],
      ];
      const response = await post('rotate', { userId: '201', data });
      assert.equal(response.status, 200);
      assert.equal(response.body.keyVersion, 2);
      const rotated = response.body.rotatedData;
      assert.deepEqual(
        { ...rotated[0], name: undefined, account: { ...rotated[0].account, sin: undefined, number: undefined } },
        { ...data[0], name: undefined, account: { ...data[0].account, sin: undefined, number: undefined } },
      );
      assert.deepEqual(rotated.slice(1, 5), data.slice(1, 5));
      assert.equal(rotated[5][0], null);
      const newCiphertexts = [rotated[0].name, rotated[0].account.sin, rotated[0].account.number, rotated[5][1][0]];
      // KEY_ALGORITHM's default, X-Wing: ek2 (test/hybrid-keys.e2e-spec.ts rotates RSA people to X-Wing).
      for (const c of newCiphertexts) assert.match(c, /^ek2:2:/);
      assert.deepEqual((await decrypt('201', newCiphertexts)).body.decryptedData, ['Jane Doe', '046 454 286', '0012-3456', 'Jane Doe']);
      // The old version stays decryptable until it is purged.
      assert.deepEqual((await decrypt('201', [name, sin])).body.decryptedData, ['Jane Doe', '046 454 286']);
      const history = await stack.query(`SELECT key_version, rotation_reason FROM user_key_history WHERE user_id = 201`);
      assert.deepEqual(history, [{ key_version: 1, rotation_reason: 'manual' }]);
    });

    it('encrypts new data under the new version right after a rotation', async () => {
      await createKey('202');
      await post('rotate', { userId: '202', data: [], reason: 'compliance' });
      const [fresh] = await encrypt('202', ['after rotation']);
      assert.match(fresh, /^ek2:2:/);
    });

    it('refuses a tampered ciphertext with ENC002 naming its JSON path, and creates no version', async () => {
      await createKey('203');
      const [a, b, c, d] = await encrypt('203', ['a', 'b', 'c', 'd']);
      const fields = d.split(':');
      const tag = Buffer.from(fields[5], 'base64url');
      tag[0] ^= 1;
      fields[5] = tag.toString('base64url');
      const data = [a, b, c, { account: { sin: fields.join(':') } }];
      const response = await post('rotate', { userId: '203', data });
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC002');
      assert.match(response.body.message, /^data\[3\]\.account\.sin failed authentication/);
      assert.equal(await currentVersion('203'), 1);
      assert.equal((await stack.query(`SELECT * FROM user_key_history WHERE user_id = 203`)).length, 0);
    });

    it('refuses another user’s ciphertext inside the document with ENC002', async () => {
      await createKey('204');
      await createKey('205');
      const [foreign] = await encrypt('205', ['not yours']);
      const response = await post('rotate', { userId: '204', data: { nested: [foreign] } });
      assert.equal(response.body.code, 'ENC002');
      assert.match(response.body.message, /data\.nested\[0\]/);
      assert.equal(await currentVersion('204'), 1);
    });

    it('refuses a bad reason, missing data and too many ciphertexts with ENC001', async () => {
      await createKey('206');
      assert.equal((await post('rotate', { userId: '206', data: [], reason: 'scheduled' })).body.code, 'ENC001');
      assert.equal((await post('rotate', { userId: '206' })).body.code, 'ENC001');
      const [one] = await encrypt('206', ['x']);
      const tooMany = await post('rotate', { userId: '206', data: Array.from({ length: 1001 }, () => one) });
      assert.equal(tooMany.status, 400);
      assert.match(tooMany.body.message, /more than 1000 ciphertexts/);
      assert.equal(await currentVersion('206'), 1);
    });

    it('lets 8 parallel rotations each succeed with its own version or get KEY002, never writing a version twice', async () => {
      await createKey('207');
      const originals = await encrypt('207', ['p1', 'p2']);
      const responses = await Promise.all(Array.from({ length: 8 }, () => post('rotate', { userId: '207', data: originals })));
      const succeeded = responses.filter((r) => r.status === 200);
      assert.ok(succeeded.length >= 1);
      for (const r of responses.filter((r) => r.status !== 200)) {
        assert.equal(r.status, 409);
        assert.equal(r.body.code, 'KEY002');
      }
      const versions = succeeded.map((r) => r.body.keyVersion);
      assert.equal(new Set(versions).size, versions.length, 'each success has its own version');
      const rows = await stack.query(
        `SELECT key_version FROM user_key_history WHERE user_id = 207 UNION ALL SELECT key_version FROM user_keys WHERE user_id = 207`,
      );
      const stored = rows.map((r) => r.key_version).sort((x, y) => x - y);
      assert.deepEqual(
        stored,
        Array.from({ length: succeeded.length + 1 }, (_, i) => i + 1),
      );
      for (const r of succeeded) {
        assert.deepEqual((await decrypt('207', r.body.rotatedData)).body.decryptedData, ['p1', 'p2']);
      }
    });

    it('rewraps ciphertexts of older versions under the current version without creating one', async () => {
      await createKey('208');
      const v1 = await encrypt('208', ['one', 'two']);
      await post('rotate', { userId: '208', data: [] });
      await post('rotate', { userId: '208', data: [] });
      const v3 = await encrypt('208', ['three']);
      const response = await post('rewrap', { userId: '208', data: [...v1, ...v3] });
      assert.equal(response.status, 200);
      for (const c of response.body.rewrappedData) assert.match(c, /^ek2:3:/);
      assert.deepEqual((await decrypt('208', response.body.rewrappedData)).body.decryptedData, ['one', 'two', 'three']);
      assert.equal(await currentVersion('208'), 3);
    });

    it('lists every version with creation and rotation dates and reasons', async () => {
      await createKey('209');
      await post('rotate', { userId: '209', data: [], reason: 'compromise' });
      const { body } = await stack.as(token).get('/api/v1/keys/209');
      assert.equal(body.keyVersion, 2);
      assert.deepEqual(
        body.versions.map((v: any) => [v.keyVersion, v.status, v.rotationReason]),
        [
          [2, 'current', undefined],
          [1, 'retired', 'compromise'],
        ],
      );
      assert.ok(Date.parse(body.versions[1].rotatedAt) >= Date.parse(body.versions[1].createdAt));
    });

    it('crypto-shreds every version: a receipt, then KEY001 on every route, and no sealed key left', async () => {
      await createKey('210');
      const v1 = await encrypt('210', ['gone']);
      await post('rotate', { userId: '210', data: [] });
      const receipt = await stack.as(token).delete('/api/v1/keys/210');
      assert.equal(receipt.status, 200);
      assert.equal(receipt.body.userId, '210');
      assert.equal(receipt.body.versionsDestroyed, 2);
      assert.ok(Date.parse(receipt.body.destroyedAt) > 0);

      const calls = [
        stack.as(token).get('/api/v1/keys/210'),
        post('encrypt', { userId: '210', data: ['x'] }),
        post('decrypt', { userId: '210', data: v1 }),
        post('rotate', { userId: '210', data: v1 }),
        post('rewrap', { userId: '210', data: v1 }),
      ];
      for (const response of await Promise.all(calls)) {
        assert.equal(response.status, 404);
        assert.equal(response.body.code, 'KEY001');
      }
      // A repeated DELETE of the same shredding answers with the same receipt (test/receipts.e2e-spec.ts).
      const repeated = await stack.as(token).delete('/api/v1/keys/210');
      assert.deepEqual({ status: repeated.status, body: repeated.body }, { status: 200, body: receipt.body });
      const [{ sealed }] = await stack.query(
        `SELECT count(*)::int AS sealed FROM (SELECT sealed_private_key FROM user_keys WHERE user_id = 210
           UNION ALL SELECT sealed_private_key FROM user_key_history WHERE user_id = 210) k WHERE sealed_private_key IS NOT NULL`,
      );
      assert.equal(sealed, 0);
    });

    it('gives a re-created key a version above every destroyed one, and old ciphertexts stay dead', async () => {
      await createKey('211');
      const old = await encrypt('211', ['before deletion']);
      await post('rotate', { userId: '211', data: [] });
      await stack.as(token).delete('/api/v1/keys/211');
      const recreated = await createKey('211');
      assert.equal(recreated.status, 201);
      assert.equal(recreated.body.keyVersion, 3);
      const response = await decrypt('211', old);
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC002');
    });

    it('fails a rotation whose database write breaks half-way and keeps the previous version current', async () => {
      await createKey('212');
      const v1 = await encrypt('212', ['still here']);
      await stack.query(`
        CREATE FUNCTION refuse_history() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure'; END $$`);
      await stack.query(`CREATE TRIGGER refuse_history BEFORE INSERT ON user_key_history FOR EACH ROW EXECUTE FUNCTION refuse_history()`);
      try {
        const response = await post('rotate', { userId: '212', data: v1 });
        assert.equal(response.status, 500);
        assert.equal(response.body.code, 'SYS001');
      } finally {
        await stack.query(`DROP TRIGGER refuse_history ON user_key_history`);
        await stack.query(`DROP FUNCTION refuse_history()`);
      }
      assert.equal(await currentVersion('212'), 1);
      assert.deepEqual((await decrypt('212', v1)).body.decryptedData, ['still here']);
      assert.equal((await post('rotate', { userId: '212', data: v1 })).body.keyVersion, 2);
    });

    it('purges history past HISTORY_RETENTION_DAYS; purged versions no longer decrypt', async () => {
      await createKey('213');
      const v1 = await encrypt('213', ['old']);
      await post('rotate', { userId: '213', data: [] });
      await stack.query(`UPDATE user_key_history SET rotation_date = now() - interval '2556 days' WHERE user_id = 213`);
      const { RotationScheduler } = await import('../src/rotation/rotation.scheduler');
      const result = await stack.app.get(RotationScheduler).run();
      assert.ok(result.purged >= 1);
      assert.equal((await stack.query(`SELECT * FROM user_key_history WHERE user_id = 213`)).length, 0);
      assert.equal((await decrypt('213', v1)).body.code, 'ENC002');
      assert.equal(await currentVersion('213'), 2);
    });
  });
}

describe('rotation under a KMS failure — PostgreSQL + KMS on moto_server', () => {
  let stack: Stack & { moto?: { endpoint: string } };
  let proxy: KmsFaultProxy;
  let faulty: request.Agent;
  let token: string;

  before(async () => {
    stack = await awsStack.start();
    token = await stack.token();
    proxy = await new KmsFaultProxy(stack.moto!.endpoint).start();
    const app = await stack.startAnother({ KMS_ENDPOINT: proxy.endpoint });
    faulty = checkedAgent(request.agent(app.getHttpServer()), stack.contract);
  });
  after(async () => {
    await stack?.close();
    await proxy?.stop();
  });

  it('keeps the previous version current and usable when KMS fails between unsealing and sealing', async () => {
    const call = (path: string, body: object) => faulty.post(`/api/v1/${path}`).auth(token, { type: 'bearer' }).send(body);
    await call('keys', { userId: '301' });
    const v1 = (await call('encrypt', { userId: '301', data: ['survives'] })).body.encryptedData;
    proxy.failing.add('Encrypt');
    proxy.calls.length = 0;
    const failed = await call('rotate', { userId: '301', data: v1 });
    assert.equal(failed.status, 503);
    assert.equal(failed.body.code, 'SYS002');
    assert.ok(proxy.calls.includes('Decrypt'), 'the old key was unsealed first');
    assert.ok(proxy.calls.includes('Encrypt'), 'sealing the new key failed');
    proxy.failing.clear();
    const key = await faulty.get('/api/v1/keys/301').auth(token, { type: 'bearer' });
    assert.equal(key.body.keyVersion, 1);
    assert.deepEqual((await call('decrypt', { userId: '301', data: v1 })).body.decryptedData, ['survives']);
    const retried = await call('rotate', { userId: '301', data: v1 });
    assert.equal(retried.body.keyVersion, 2);
  });
});

describe('scheduled rotation — two replicas sharing PostgreSQL', () => {
  const EVERY_TWO_SECONDS = { ROTATION_CRON: '*/2 * * * * *' };
  const loggedErrors: unknown[][] = [];
  let stack: Stack;

  before(async () => {
    mock.method(Logger.prototype, 'error', (...args: unknown[]) => loggedErrors.push(args));
    stack = await awsStack.start(EVERY_TWO_SECONDS);
    await stack.startAnother(EVERY_TWO_SECONDS);
  });
  after(async () => {
    await stack?.close();
    mock.restoreAll();
  });

  it('rotates each due key exactly once with reason scheduled, leaves others alone, and logs no error', async () => {
    const token = await stack.token();
    for (const userId of ['401', '402', '403']) {
      await stack.as(token).post('/api/v1/keys').send({ userId });
    }
    // Make two keys older than ROTATION_MAX_AGE_DAYS (90).
    await stack.query(`UPDATE user_keys SET created_at = now() - interval '100 days' WHERE user_id IN (401, 402)`);
    const deadline = Date.now() + 30_000;
    let rotated: Array<{ user_id: string; key_version: number; rotation_reason: string }> = [];
    while (Date.now() < deadline && rotated.length < 2) {
      await new Promise((r) => setTimeout(r, 500));
      rotated = await stack.query(`SELECT user_id, key_version, rotation_reason FROM user_key_history ORDER BY user_id, key_version`);
    }
    // Let both replicas tick at least twice more: nothing may be rotated again.
    await new Promise((r) => setTimeout(r, 4500));
    rotated = await stack.query(`SELECT user_id, key_version, rotation_reason FROM user_key_history ORDER BY user_id, key_version`);
    assert.deepEqual(rotated, [
      { user_id: '401', key_version: 1, rotation_reason: 'scheduled' },
      { user_id: '402', key_version: 1, rotation_reason: 'scheduled' },
    ]);
    const current = await stack.query(`SELECT user_id, key_version FROM user_keys ORDER BY user_id`);
    assert.deepEqual(current, [
      { user_id: '401', key_version: 2 },
      { user_id: '402', key_version: 2 },
      { user_id: '403', key_version: 1 },
    ]);
    assert.deepEqual(loggedErrors, []);
  });

  it('shares due keys between replicas that run the job at the same moment', async () => {
    const { RotationScheduler } = await import('../src/rotation/rotation.scheduler');
    const token = await stack.token();
    const users = Array.from({ length: 6 }, (_, i) => String(410 + i));
    for (const userId of users) await stack.as(token).post('/api/v1/keys').send({ userId });
    await stack.query(`UPDATE user_keys SET created_at = now() - interval '100 days' WHERE user_id BETWEEN 410 AND 415`);
    const replica = await stack.startAnother({ ROTATION_ENABLED: 'false' });
    const runs = await Promise.all([stack.app.get(RotationScheduler).run(), replica.get(RotationScheduler).run()]);
    // The first replica's own 2-second schedule may be mid-run too and finish some of the keys a
    // moment later: wait (bounded) until every due key has been rotated, then check each was once.
    const historyOf = () =>
      stack.query(`SELECT user_id, count(*)::int AS n FROM user_key_history WHERE user_id BETWEEN 410 AND 415 GROUP BY user_id`);
    let history = await historyOf();
    for (let tries = 0; history.length < 6 && tries < 50; tries++) {
      await new Promise((r) => setTimeout(r, 200));
      history = await historyOf();
    }
    assert.equal(history.length, 6);
    assert.ok(history.every((row) => row.n === 1));
    assert.ok(runs.reduce((sum, run) => sum + run.rotated, 0) <= 6);
    assert.deepEqual(loggedErrors, []);
  });
});

for (const definition of STACKS) {
  describe(`rotation answered once committed, retried by X-Request-Id, limited per person — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    const rotate = (body: object, requestId?: string, bearer = token) => {
      const call = stack.as(bearer).post('/api/v1/rotate');
      return (requestId ? call.set('X-Request-Id', requestId) : call).send(body);
    };
    const post = (path: string, body: object) => stack.as(token).post(`/api/v1/${path}`).send(body);
    const encrypt = async (userId: string, data: string[]): Promise<string[]> =>
      (await post('encrypt', { userId, data })).body.encryptedData;
    const decrypted = async (userId: string, data: string[]) => (await post('decrypt', { userId, data })).body.decryptedData;
    const versionCount = async (userId: string) => (await stack.as(token).get(`/api/v1/keys/${userId}`)).body.versions.length;
    const newRequestId = () => `rotate-test-${randomUUID()}`;

    before(async () => {
      stack = await definition.start();
      token = await stack.token();
    });
    after(() => stack?.close());

    it('answers a /rotate retried with the same X-Request-Id with the identical rotatedData and keyVersion, and creates no second version', async () => {
      await post('keys', { userId: '251' });
      const [name, sin] = await encrypt('251', ['Jane Doe', '046 454 286']);
      const body = { userId: '251', data: { name, account: { sin, branch: 'Toronto' } }, reason: 'compliance' };
      const requestId = newRequestId();
      const first = await rotate(body, requestId);
      assert.equal(first.status, 200);
      assert.equal(first.body.keyVersion, 2);
      assert.equal(first.body.replayed, false);
      assert.equal(first.body.auditEventStored, true);
      // The same JSON value with its keys in another order is the same request.
      const retried = await rotate({ reason: 'compliance', data: { account: { branch: 'Toronto', sin }, name }, userId: '251' }, requestId);
      assert.equal(retried.status, 200);
      assert.deepEqual(retried.body.rotatedData, first.body.rotatedData);
      assert.equal(retried.body.keyVersion, 2);
      assert.equal(retried.body.replayed, true);
      assert.equal(await versionCount('251'), 2);
      assert.deepEqual(await decrypted('251', [retried.body.rotatedData.name, retried.body.rotatedData.account.sin]), [
        'Jane Doe',
        '046 454 286',
      ]);
      // The retry's audit event says it repeated the committed rotation.
      const events = await stack.query(
        `SELECT outcome, details FROM audit_events WHERE request_id = $1 AND action = 'rotate' AND outcome = 'success' ORDER BY occurred_at, seq`,
        [requestId],
      );
      assert.deepEqual(
        events.map((e) => e.details),
        [{ reason: 'compliance' }, { reason: 'compliance', replayed: true }],
      );
      // Without the same id it is a new rotation.
      assert.equal((await rotate(body, newRequestId())).body.keyVersion, 3);
    });

    it('refuses the same X-Request-Id with another body with 422 KEY004 and rotates nothing', async () => {
      await post('keys', { userId: '252' });
      const [a, b] = await encrypt('252', ['a', 'b']);
      const requestId = newRequestId();
      assert.equal((await rotate({ userId: '252', data: [a] }, requestId)).status, 200);
      const refused = await rotate({ userId: '252', data: [b] }, requestId);
      assert.equal(refused.status, 422);
      assert.equal(refused.body.code, 'KEY004');
      assert.match(refused.body.message, /another body/);
      const otherReason = await rotate({ userId: '252', data: [a], reason: 'compromise' }, requestId);
      assert.equal(otherReason.body.code, 'KEY004');
      assert.equal(await versionCount('252'), 2);
    });

    it('keeps each caller’s X-Request-Id apart: another caller’s request with the same id is its own rotation', async () => {
      await post('keys', { userId: '253' });
      const requestId = newRequestId();
      const other = await stack.identity('another-rotating-service', ['rotate', 'keys:read']);
      assert.equal((await rotate({ userId: '253', data: [] }, requestId)).body.keyVersion, 2);
      const theirs = await rotate({ userId: '253', data: [] }, requestId, other);
      assert.equal(theirs.status, 200);
      assert.equal(theirs.body.keyVersion, 3);
      assert.equal(theirs.body.replayed, false);
    });

    it('answers a committed rotation whose success audit event cannot be stored with its rotated data (auditEventStored: false); they decrypt, and a retry records the event', async () => {
      await post('keys', { userId: '254' });
      const [secret] = await encrypt('254', ['kept through an audit outage']);
      await stack.query(`
        CREATE FUNCTION refuse_rotate_success() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected audit outage'; END $$`);
      await stack.query(`
        CREATE TRIGGER refuse_rotate_success BEFORE INSERT ON audit_events FOR EACH ROW
        WHEN (NEW.action = 'rotate' AND NEW.outcome = 'success' AND NEW.target_user_id = 254) EXECUTE FUNCTION refuse_rotate_success()`);
      const requestId = newRequestId();
      let answered: request.Response;
      try {
        answered = await rotate({ userId: '254', data: { secret } }, requestId);
      } finally {
        await stack.query(`DROP TRIGGER refuse_rotate_success ON audit_events`);
        await stack.query(`DROP FUNCTION refuse_rotate_success()`);
      }
      assert.equal(answered.status, 200);
      assert.equal(answered.body.keyVersion, 2);
      assert.equal(answered.body.auditEventStored, false);
      assert.match(answered.body.rotatedData.secret, /^ek2:2:/);
      assert.deepEqual(await decrypted('254', [answered.body.rotatedData.secret]), ['kept through an audit outage']);
      const outcomes = async () =>
        (await stack.query(`SELECT outcome FROM audit_events WHERE request_id = $1 ORDER BY occurred_at, seq`, [requestId])).map(
          (e) => e.outcome,
        );
      assert.deepEqual(await outcomes(), ['started']);
      // Once the trail takes events again, the retry answers the same and records the success.
      const retried = await rotate({ userId: '254', data: { secret } }, requestId);
      assert.deepEqual(
        { status: retried.status, body: retried.body },
        { status: 200, body: { ...answered.body, replayed: true, auditEventStored: true } },
      );
      assert.deepEqual(await outcomes(), ['started', 'started', 'success']);
      assert.equal(await versionCount('254'), 2);
    });

    it('answers a committed rotation as one when its rotation lease cannot be released; the lease then only delays the next rotation', async () => {
      await post('keys', { userId: '255' });
      const [secret] = await encrypt('255', ['kept through a lost lease release']);
      await stack.query(`
        CREATE FUNCTION refuse_lease_release() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure releasing the lease'; END $$`);
      await stack.query(`
        CREATE TRIGGER refuse_lease_release BEFORE UPDATE ON user_keys FOR EACH ROW
        WHEN (OLD.user_id = 255 AND OLD.rotation_lease_id IS NOT NULL AND NEW.rotation_lease_id IS NULL) EXECUTE FUNCTION refuse_lease_release()`);
      let answered: request.Response;
      try {
        answered = await rotate({ userId: '255', data: [secret] }, newRequestId());
      } finally {
        await stack.query(`DROP TRIGGER refuse_lease_release ON user_keys`);
        await stack.query(`DROP FUNCTION refuse_lease_release()`);
      }
      assert.equal(answered.status, 200);
      assert.equal(answered.body.keyVersion, 2);
      assert.deepEqual(await decrypted('255', answered.body.rotatedData), ['kept through a lost lease release']);
      // The lease was left to expire by itself: until then another rotation is refused, nothing else.
      assert.equal((await rotate({ userId: '255', data: [] })).body.code, 'KEY002');
      await stack.query(`UPDATE user_keys SET rotation_lease_until = now() - interval '1 second' WHERE user_id = 255`);
      assert.equal((await rotate({ userId: '255', data: [] })).body.keyVersion, 3);
    });

    it('refuses the 11th rotation of one person by /rotate within 24 hours with 429 KEY003 and Retry-After, creating no version (with or without ciphertexts); the scheduled job’s do not count', async () => {
      await post('keys', { userId: '256' });
      // Versions the scheduled job made count for nothing.
      await stack.query(`UPDATE user_keys SET created_at = now() - interval '100 days' WHERE user_id = 256`);
      const { RotationScheduler } = await import('../src/rotation/rotation.scheduler');
      await stack.app.get(RotationScheduler).run();
      for (let i = 0; i < MANUAL_ROTATIONS_PER_DAY; i++) {
        assert.equal((await rotate({ userId: '256', data: [] })).status, 200, `rotation ${i + 1}`);
      }
      const versions = await versionCount('256');
      assert.equal(versions, MANUAL_ROTATIONS_PER_DAY + 2);
      const [ciphertext] = await encrypt('256', ['x']);
      for (const data of [[], [ciphertext]]) {
        const refused = await rotate({ userId: '256', data });
        assert.equal(refused.status, 429);
        assert.equal(refused.body.code, 'KEY003');
        const wait = Number(refused.headers['retry-after']);
        assert.ok(wait > 0 && wait <= 86_400, `Retry-After ${refused.headers['retry-after']}`);
      }
      assert.equal(await versionCount('256'), versions);
      // Once the oldest of them is more than a day old, one more rotation is possible.
      await stack.query(
        `UPDATE user_key_history SET rotation_date = now() - interval '25 hours'
          WHERE user_id = 256 AND key_version = (SELECT min(key_version) FROM user_key_history WHERE user_id = 256 AND rotation_reason = 'manual')`,
      );
      assert.equal((await rotate({ userId: '256', data: [] })).status, 200);
      assert.equal((await rotate({ userId: '256', data: [] })).body.code, 'KEY003');
    });
  });
}
