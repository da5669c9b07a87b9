import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkedAgent } from './support/openapi-contract';
import { awsStack, Stack, STACKS } from './support/stacks';

const UNAUTHENTIC = (name: string) => `${name} failed authentication: tampered, or not encrypted for this user`;

for (const definition of STACKS) {
  describe(`canary ciphertexts — ${definition.name}`, () => {
    let stack: Stack;
    let admin: string;
    let operator: string;
    let reader: string;

    before(async () => {
      stack = await definition.start({ GRANT_APPROVALS_REQUIRED: '1' });
      admin = await stack.token();
      operator = await stack.identity('security-operator', ['canaries:write']);
      reader = await stack.identity('billing-service', ['encrypt', 'decrypt', 'rotate', 'translate', 'grants:write', 'grants:approve']);
      for (const userId of ['8001', '8002', '8003'])
        assert.equal((await stack.as(admin).post('/api/v1/keys').send({ userId })).status, 201);
    });
    after(() => stack?.close());

    async function plant(userId: string, count = 1): Promise<Array<{ id: string; ciphertext: string }>> {
      const response = await stack.as(operator).post('/api/v1/canaries').send({ userId, count, label: 'customers table' });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body.canaries;
    }
    const encrypt = async (userId: string, data: string[]) =>
      (await stack.as(reader).post('/api/v1/encrypt').send({ userId, data })).body.encryptedData as string[];
    const tripped = (canaryId: string) =>
      stack.query(
        `SELECT actor_sub, outcome, error_code, details FROM audit_events WHERE action = 'canary.tripped' AND details->>'canaryId' = $1`,
        [canaryId],
      );
    async function trippedCount(route: string): Promise<number> {
      const text = (await stack.http().get('/metrics')).text;
      const line = text.split('\n').find((l) => l.startsWith(`pii_api_canary_tripped_total{route="${route}"}`));
      return line ? Number(line.split(' ').pop()) : 0;
    }
    async function assertTripped(canaryId: string, route: string, before: number) {
      const events = await tripped(canaryId);
      assert.equal(events.length, 1, `one canary.tripped event for ${route}`);
      const sub = definition === awsStack ? events[0].actor_sub : 'billing-service';
      assert.deepEqual(events[0], { actor_sub: sub, outcome: 'denied', error_code: 'ENC002', details: { canaryId, route } });
      assert.equal(await trippedCount(route), before + 1);
    }

    it('creates canaries that look and parse like any ciphertext, only with canaries:write', async () => {
      const [canary] = await plant('8001');
      const [real] = await encrypt('8001', ['Jane Doe']);
      assert.match(canary.ciphertext, /^ek1:1:/);
      assert.equal(canary.ciphertext.split(':').length, real.split(':').length);
      assert.equal((await stack.as(reader).post('/api/v1/canaries').send({ userId: '8001' })).body.code, 'AUTH002');
      assert.equal((await stack.as(reader).get('/api/v1/canaries')).status, 403);
      const listed = await stack.as(operator).get('/api/v1/canaries');
      assert.equal(listed.status, 200);
      assert.ok(listed.body.canaries.some((c: { id: string; ciphertext?: string }) => c.id === canary.id && c.ciphertext === undefined));
    });

    it('refuses a /decrypt touching a canary exactly as a tampered item, and records who, where and which canary', async () => {
      const [canary] = await plant('8001');
      const real = await encrypt('8001', ['Jane Doe', '046 454 286']);
      const before = await trippedCount('POST /api/v1/decrypt');
      const response = await stack
        .as(reader)
        .post('/api/v1/decrypt')
        .send({ userId: '8001', data: [real[0], canary.ciphertext, real[1]] });
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC002');
      assert.equal(response.body.message, UNAUTHENTIC('data[1]'));
      assert.equal(response.body.details, undefined);
      assert.equal(JSON.stringify(response.body).includes(canary.id), false, 'the answer never names the canary');

      const tampered = `${real[1].slice(0, -4)}AAAA`;
      const refusedTampered = await stack
        .as(reader)
        .post('/api/v1/decrypt')
        .send({ userId: '8001', data: [real[0], tampered] });
      assert.deepEqual(Object.keys(refusedTampered.body).sort(), Object.keys(response.body).sort());
      await assertTripped(canary.id, 'POST /api/v1/decrypt', before);
    });

    it('leaves a clean batch unaffected while canaries are live', async () => {
      await plant('8001', 3);
      const real = await encrypt('8001', ['Jane Doe', '046 454 286']);
      const response = await stack.as(reader).post('/api/v1/decrypt').send({ userId: '8001', data: real });
      assert.equal(response.status, 200);
      assert.deepEqual(response.body.decryptedData, ['Jane Doe', '046 454 286']);
    });

    it('trips on /rotate and /rewrap', async () => {
      const [forRotate, forRewrap] = await plant('8002', 2);
      const real = await encrypt('8002', ['account 0012']);
      let before = await trippedCount('POST /api/v1/rotate');
      const rotate = await stack
        .as(reader)
        .post('/api/v1/rotate')
        .send({ userId: '8002', data: { name: real[0], notes: [forRotate.ciphertext] } });
      assert.equal(rotate.status, 400);
      assert.equal(rotate.body.code, 'ENC002');
      assert.equal(rotate.body.message, UNAUTHENTIC('data.notes[0]'));
      await assertTripped(forRotate.id, 'POST /api/v1/rotate', before);
      const [row] = await stack.query(`SELECT key_version FROM user_keys WHERE user_id = 8002`);
      assert.equal(row.key_version, 1, 'no key was rotated');

      before = await trippedCount('POST /api/v1/rewrap');
      const rewrap = await stack
        .as(reader)
        .post('/api/v1/rewrap')
        .send({ userId: '8002', data: [forRewrap.ciphertext] });
      assert.equal(rewrap.status, 400);
      assert.equal(rewrap.body.message, UNAUTHENTIC('data[0]'));
      await assertTripped(forRewrap.id, 'POST /api/v1/rewrap', before);
    });

    it('trips on /translate', async () => {
      const approver = await stack.identity('compliance-officer', ['grants:approve']);
      const grant = await stack
        .as(reader)
        .post('/api/v1/grants')
        .send({ fromUserId: '8003', toUserId: '8001', reason: 'Executor of the estate' });
      assert.equal(grant.status, 201, JSON.stringify(grant.body));
      assert.equal((await stack.as(approver).post(`/api/v1/grants/${grant.body.id}/approve`)).body.state, 'active');
      const [canary] = await plant('8003');
      const before = await trippedCount('POST /api/v1/translate');
      const response = await stack
        .as(reader)
        .post('/api/v1/translate')
        .send({ fromUserId: '8003', toUserId: '8001', data: { will: canary.ciphertext } });
      assert.equal(response.status, 400);
      assert.equal(response.body.message, UNAUTHENTIC('data.will'));
      await assertTripped(canary.id, 'POST /api/v1/translate', before);
    });

    it('keeps canaries across restarts and shares them with every replica; a retired canary decrypts like any other', async () => {
      const [canary] = await plant('8001');
      // A replica started now loads the live canaries from the database, as after a restart.
      const other = definition === awsStack ? await stack.startAnother() : undefined;
      if (other) {
        const url = await other.getUrl();
        const { default: request } = await import('supertest');
        const response = await checkedAgent(
          request.agent(url.replace('[::1]', '127.0.0.1')).auth(admin, { type: 'bearer' }),
          stack.contract,
        )
          .post('/api/v1/decrypt')
          .send({ userId: '8001', data: [canary.ciphertext] });
        assert.equal(response.body.code, 'ENC002');
        assert.equal((await tripped(canary.id)).length, 1);
      }
      const retired = await stack.as(operator).delete(`/api/v1/canaries/${canary.id}`);
      assert.deepEqual(retired.body, { id: canary.id, retired: true });
      assert.equal((await stack.as(operator).delete(`/api/v1/canaries/${canary.id}`)).body.code, 'CANARY001');
      assert.equal((await stack.as(operator).delete('/api/v1/canaries/not-a-uuid')).body.code, 'CANARY001');
      const decrypted = await stack
        .as(admin)
        .post('/api/v1/decrypt')
        .send({ userId: '8001', data: [canary.ciphertext] });
      assert.equal(decrypted.status, 200);
      assert.equal(typeof decrypted.body.decryptedData[0], 'string');
    });
  });
}
