import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkedAgent } from './support/openapi-contract';
import { awsStack, Stack, STACKS } from './support/stacks';

const UNAUTHENTIC = (name: string) => `${name} failed authentication: tampered, or not encrypted for this user`;

/** `ek2:<keyVersion>:<encapsulation>` (ek1: `<wrappedKey>`): what the fields of one /encrypt call share, and what a thief compares. */
const keyPrefix = (ciphertext: string) => ciphertext.split(':').slice(0, 3).join(':');
/** The AES-GCM ciphertext's bytes: exactly as many as the plaintext's UTF-8 bytes, visible to anyone holding the row. */
const bodyBytes = (ciphertext: string) => Buffer.from(ciphertext.split(':')[4], 'base64url').length;

/** A row of the shapes the tests plant, and a real row of the same columns. */
const ROW_SHAPES = [
  { shape: 'name' },
  { shape: 'sin' },
  { shape: 'account-number', length: 12 },
  { shape: 'date' },
  { shape: 'text', length: 40 },
];
const REAL_ROW = ['Jane Doe', '046 454 286', '000123456789', '1980-04-01', 'Called about the renewal of the policy a'];

/** The SIN check digit (Luhn), which a real SIN passes. */
function luhnValid(digits: string): boolean {
  const sum = [...digits.replace(/ /g, '')].reduce((total, digit, index) => {
    const product = index % 2 === 1 ? Number(digit) * 2 : Number(digit);
    return total + (product > 9 ? product - 9 : product);
  }, 0);
  return sum % 10 === 0;
}

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
      for (const userId of ['8001', '8002', '8003', '8004', '8005'])
        assert.equal((await stack.as(admin).post('/api/v1/keys').send({ userId })).status, 201);
    });
    after(() => stack?.close());

    type Planted = { id: string; ciphertext: string; ciphertexts: string[]; keyVersion: number; fields: object[] };
    async function plant(userId: string, count = 1, more: object = {}): Promise<Planted[]> {
      const response = await stack
        .as(operator)
        .post('/api/v1/canaries')
        .send({ userId, count, label: 'customers table', ...more });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body.canaries;
    }
    const decrypt = (userId: string, data: string[], as = reader) => stack.as(as).post('/api/v1/decrypt').send({ userId, data });
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
      // Under the person's X-Wing key (KEY_ALGORITHM's default); test/hybrid-keys.e2e-spec.ts plants them under RSA versions too.
      assert.match(canary.ciphertext, /^ek2:1:/);
      assert.equal(canary.ciphertext.split(':').length, real.split(':').length);
      // Without `fields`, a canary is a one-field row, as every canary was before canary rows.
      assert.deepEqual(canary.ciphertexts, [canary.ciphertext]);
      assert.deepEqual([canary.keyVersion, canary.fields], [1, [{ shape: 'alphanumeric' }]]);
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

    it('plants a canary row whose fields share one wrapped key, exactly like a real row from one /encrypt call', async () => {
      const [first, second] = await plant('8004', 2, { fields: ROW_SHAPES });
      const real = await encrypt('8004', REAL_ROW);
      for (const row of [first, second, { ciphertexts: real }]) {
        assert.equal(row.ciphertexts.length, ROW_SHAPES.length);
        assert.equal(new Set(row.ciphertexts.map(keyPrefix)).size, 1, 'every field of the row names the same ek2:<v>:<encapsulation>');
        assert.equal(new Set(row.ciphertexts.map((c) => c.split(':')[3])).size, ROW_SHAPES.length, 'each field has its own IV');
        assert.match(row.ciphertexts[0], /^ek2:1:/);
      }
      assert.equal(
        new Set([first, second, { ciphertexts: real }].map((row) => keyPrefix(row.ciphertexts[0]))).size,
        3,
        'each row has its own data key',
      );
      assert.equal(first.ciphertext, first.ciphertexts[0]);
      assert.deepEqual([first.keyVersion, first.fields], [1, ROW_SHAPES]);
      // What a thief sees of a plaintext is its length: the canary's fields are as long as the real row's.
      for (const index of [1, 2, 3, 4]) {
        assert.equal(bodyBytes(first.ciphertexts[index]), bodyBytes(real[index]), `field ${index} (${ROW_SHAPES[index].shape})`);
      }
      const listed = (await stack.as(operator).get('/api/v1/canaries')).body.canaries.find((c: { id: string }) => c.id === second.id);
      assert.deepEqual([listed.keyVersion, listed.fields, listed.ciphertexts], [1, ROW_SHAPES, undefined]);
    });

    it('fills a canary row with values of the requested shapes, which show if it is ever decrypted (here: after retiring it)', async () => {
      const fields = [
        ...ROW_SHAPES,
        { shape: 'email' },
        { shape: 'phone' },
        { shape: 'postal-code' },
        { shape: 'template', template: 'C\\A-####-AA' },
      ];
      const [row] = await plant('8005', 1, { fields });
      assert.equal((await stack.as(operator).delete(`/api/v1/canaries/${row.id}`)).status, 200);
      const response = await decrypt('8005', row.ciphertexts);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const [name, sin, account, date, text, email, phone, postal, template] = response.body.decryptedData as string[];
      assert.match(name, /^[A-Z][A-Za-z']+ [A-Z][A-Za-z' ]+$/);
      assert.match(sin, /^[0-9]{3} [0-9]{3} [0-9]{3}$/);
      assert.ok(luhnValid(sin), `${sin} has a valid check digit`);
      assert.match(account, /^[0-9]{12}$/);
      assert.equal(new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10), date);
      assert.match(text, /^[A-Z][a-z ]{39}$/);
      assert.match(email, /^[a-z]+\.[a-z]+[0-9]*@[a-z]+\.[a-z]+$/);
      assert.match(phone, /^\([2-9][0-9]{2}\) [2-9][0-9]{2}-[0-9]{4}$/);
      assert.match(postal, /^[A-Z][0-9][A-Z] [0-9][A-Z][0-9]$/);
      assert.match(template, /^CA-[0-9]{4}-[A-Z]{2}$/);

      const [other] = await plant('8005', 1, { fields });
      assert.equal((await stack.as(operator).delete(`/api/v1/canaries/${other.id}`)).status, 200);
      const again = (await decrypt('8005', other.ciphertexts)).body.decryptedData as string[];
      assert.notDeepEqual(again, response.body.decryptedData, 'another row, other values');

      const refused = await stack
        .as(operator)
        .post('/api/v1/canaries')
        .send({ userId: '8005', fields: [{ shape: 'sin' }, { shape: 'ssn' }] });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.code, 'ENC001');
      assert.match(refused.body.message, /^fields\[1\]\.shape must be one of name, /);
    });

    it('trips on whichever field of a canary row is decrypted, naming the row', async () => {
      const [row] = await plant('8004', 1, { fields: ROW_SHAPES });
      const real = await encrypt('8004', REAL_ROW);
      for (let index = 0; index < row.ciphertexts.length; index++) {
        const before = await trippedCount('POST /api/v1/decrypt');
        const response = await decrypt('8004', [real[0], row.ciphertexts[index]]);
        assert.equal(response.status, 400);
        assert.equal(response.body.message, UNAUTHENTIC('data[1]'));
        const events = await tripped(row.id);
        assert.equal(events.length, index + 1, `field ${index} recorded as canary.tripped`);
        assert.deepEqual(events[index].details, { canaryId: row.id, route: 'POST /api/v1/decrypt' });
        assert.equal(await trippedCount('POST /api/v1/decrypt'), before + 1);
      }
    });

    it('plants at an older key version still held, to match the rows around it, and refuses a version not held', async () => {
      const [atOne] = await encrypt('8005', ['Jane Doe']);
      const rotated = await stack
        .as(reader)
        .post('/api/v1/rotate')
        .send({ userId: '8005', data: { note: 'rotate' } });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      const current = rotated.body.keyVersion as number;
      assert.ok(current >= 2);

      const [old] = await plant('8005', 1, { fields: ROW_SHAPES, keyVersion: 1 });
      assert.equal(old.keyVersion, 1);
      for (const ciphertext of old.ciphertexts) assert.equal(ciphertext.split(':')[1], atOne.split(':')[1], 'the version of the real row');
      const [now] = await plant('8005', 1, { fields: ROW_SHAPES });
      assert.equal(now.keyVersion, current);
      assert.match(now.ciphertext, new RegExp(`^ek2:${current}:`));

      const before = await trippedCount('POST /api/v1/decrypt');
      assert.equal((await decrypt('8005', [atOne, old.ciphertexts[2]])).body.message, UNAUTHENTIC('data[1]'));
      await assertTripped(old.id, 'POST /api/v1/decrypt', before);

      for (const keyVersion of [current + 1, 99]) {
        const refused = await stack.as(operator).post('/api/v1/canaries').send({ userId: '8005', keyVersion });
        assert.equal(refused.status, 404);
        assert.equal(refused.body.code, 'CANARY002');
      }
      const noKey = await stack.as(operator).post('/api/v1/canaries').send({ userId: '8099', keyVersion: 1 });
      assert.equal(noKey.body.code, 'KEY001');

      // Retired, the old-version row decrypts with version 1's key like the real row beside it.
      assert.equal((await stack.as(operator).delete(`/api/v1/canaries/${old.id}`)).status, 200);
      const decrypted = await decrypt('8005', [atOne, ...old.ciphertexts]);
      assert.equal(decrypted.status, 200, JSON.stringify(decrypted.body));
      assert.equal(decrypted.body.decryptedData[0], 'Jane Doe');
    });
  });
}
