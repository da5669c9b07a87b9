import assert from 'node:assert/strict';
import { Logger } from '@nestjs/common';
import { after, before, describe, it, mock } from 'node:test';
import { Permission } from '../src/common/permissions';
import { embeddedStack, Stack, STACKS } from './support/stacks';

const MARKER = 'PLAINTEXT-MARKER-7f3a';

for (const definition of STACKS) {
  describe(`delegated release — ${definition.name}`, () => {
    let stack: Stack;
    let admin: string;
    const as = (token: string) => ({
      post: (path: string, body: object = {}) => stack.as(token).post(`/api/v1/${path}`).send(body),
      del: (path: string) => stack.as(token).delete(`/api/v1/${path}`),
      get: (path: string) => stack.as(token).get(`/api/v1/${path}`),
    });
    const caller = (name: string, permissions: Permission[]) => stack.identity(name, permissions);

    let creator: string;
    let approverA: string;
    let approverB: string;

    before(async () => {
      stack = await definition.start();
      admin = await stack.token();
      creator = await caller('estate-service', ['grants:write', 'grants:approve']);
      approverA = await caller('compliance-officer', ['grants:approve', 'keys:read']);
      approverB = await caller('legal-reviewer', ['grants:approve', 'encrypt']);
      for (const userId of ['42', '77', '99']) await as(admin).post('keys', { userId });
    });
    after(() => stack?.close());

    const newGrant = async (body: object = {}) => {
      const response = await as(creator).post('grants', { fromUserId: '42', toUserId: '77', reason: 'Executor of the estate', ...body });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body;
    };

    it('releases a person’s data to the delegate after two approvals: the delegate decrypts it, the person cannot', async () => {
      const grant = await newGrant();
      assert.equal(grant.state, 'pending');
      assert.equal(grant.approvalsRequired, 2);
      assert.equal((await as(approverA).post(`grants/${grant.id}/approve`)).body.state, 'pending');
      const approved = await as(approverB).post(`grants/${grant.id}/approve`);
      assert.equal(approved.status, 200);
      assert.equal(approved.body.state, 'active');
      assert.equal(approved.body.approvalsCounted, 2);

      const [will, account] = (await as(admin).post('encrypt', { userId: '42', data: [MARKER, 'account 0012'] })).body.encryptedData;
      const data = { will, accounts: [{ number: account, institution: 'RBC' }], note: 'ek1: look-alike', amount: 5 };
      const translated = await as(admin).post('translate', { fromUserId: '42', toUserId: '77', data });
      assert.equal(translated.status, 200);
      assert.doesNotMatch(translated.text, new RegExp(MARKER));
      const out = translated.body.translatedData;
      assert.deepEqual(
        { ...out, will: 0, accounts: [{ ...out.accounts[0], number: 0 }] },
        { ...data, will: 0, accounts: [{ ...data.accounts[0], number: 0 }] },
      );
      const asDelegate = await as(admin).post('decrypt', { userId: '77', data: [out.will, out.accounts[0].number] });
      assert.deepEqual(asDelegate.body.decryptedData, [MARKER, 'account 0012']);
      const asPerson = await as(admin).post('decrypt', { userId: '42', data: [out.will] });
      assert.equal(asPerson.body.code, 'ENC002');
    });

    it('lists grants with their state, filtered by users', async () => {
      const listed = await as(approverA).get('grants?fromUserId=42&toUserId=77');
      assert.equal(listed.status, 200);
      assert.ok(listed.body.length >= 1);
      assert.ok(listed.body.every((g: any) => g.fromUserId === '42' && g.toUserId === '77'));
      assert.equal((await as(approverA).get('grants?fromUserId=4x')).body.code, 'ENC001');
    });
  });
}

describe('delegated release refusals — embedded stack', () => {
  const logged: string[] = [];
  let stack: Stack;
  let admin: string;
  let creator: string;
  let approverA: string;
  let approverB: string;
  const call = (token: string, method: 'post' | 'delete' | 'get', path: string, body?: object) =>
    stack.as(token)[method](`/api/v1/${path}`).send(body);
  const translate = (data: unknown) => call(admin, 'post', 'translate', { fromUserId: '42', toUserId: '77', data });

  before(async () => {
    for (const level of ['log', 'error', 'warn', 'debug', 'verbose'] as const) {
      mock.method(Logger.prototype, level, (...args: unknown[]) => logged.push(JSON.stringify(args)));
    }
    stack = await embeddedStack.start({ LOG_LEVEL: 'debug' });
    admin = await stack.token();
    creator = await stack.identity('estate-service', ['grants:write', 'grants:approve']);
    approverA = await stack.identity('compliance-officer', ['grants:approve']);
    approverB = await stack.identity('legal-reviewer', ['grants:approve']);
    for (const userId of ['42', '77', '99']) await call(admin, 'post', 'keys', { userId });
  });
  after(async () => {
    await stack?.close();
    mock.restoreAll();
  });

  const grant = async (body: object = {}) =>
    (await call(creator, 'post', 'grants', { fromUserId: '42', toUserId: '77', reason: 'Power of attorney', ...body })).body;
  const approveTwice = async (id: string) => {
    await call(approverA, 'post', `grants/${id}/approve`);
    return (await call(approverB, 'post', `grants/${id}/approve`)).body;
  };
  const sample = async () => (await call(admin, 'post', 'encrypt', { userId: '42', data: [MARKER] })).body.encryptedData;

  it('refuses translate with no grant at all, saying why', async () => {
    const response = await translate(await sample());
    assert.equal(response.status, 403);
    assert.equal(response.body.code, 'AUTH002');
    assert.match(response.body.message, /No grant releases user 42's data to user 77/);
  });

  it('refuses translate before approval, and does not count the creator or a repeated approval', async () => {
    const { id } = await grant();
    const own = await call(creator, 'post', `grants/${id}/approve`);
    assert.equal(own.status, 403);
    assert.equal(own.body.code, 'AUTH002');
    await call(approverA, 'post', `grants/${id}/approve`);
    const again = await call(approverA, 'post', `grants/${id}/approve`);
    assert.equal(again.status, 200);
    assert.equal(again.body.approvalsCounted, 1);
    assert.equal(again.body.state, 'pending');
    const response = await translate(await sample());
    assert.equal(response.body.code, 'AUTH002');
    assert.match(response.body.message, /1 of 2 required approvals/);
    await call(creator, 'delete', `grants/${id}`);
  });

  it('refuses translate after revocation', async () => {
    const { id } = await grant();
    await approveTwice(id);
    assert.equal((await translate(await sample())).status, 200);
    const revoked = await call(creator, 'delete', `grants/${id}`);
    assert.equal(revoked.body.state, 'revoked');
    const response = await translate(await sample());
    assert.equal(response.body.code, 'AUTH002');
    assert.match(response.body.message, /revoked/);
    assert.equal((await call(approverA, 'post', `grants/${id}/approve`)).body.code, 'GRANT002');
  });

  it('refuses translate before notBefore and after expiry', async () => {
    const future = await grant({ notBefore: new Date(Date.now() + 3_600_000).toISOString() });
    assert.equal((await approveTwice(future.id)).state, 'scheduled');
    assert.match((await translate(await sample())).body.message, /notBefore/);
    await call(creator, 'delete', `grants/${future.id}`);

    const expiring = await grant({ expiresAt: new Date(Date.now() + 1500).toISOString() });
    assert.equal((await approveTwice(expiring.id)).state, 'active');
    await new Promise((r) => setTimeout(r, 1600));
    const response = await translate(await sample());
    assert.equal(response.body.code, 'AUTH002');
    assert.match(response.body.message, /expired/);
  });

  it('refuses a third user’s ciphertext inside data with ENC002 and its path, translating nothing', async () => {
    const { id } = await grant();
    await approveTwice(id);
    const [mine] = await sample();
    const [foreign] = (await call(admin, 'post', 'encrypt', { userId: '99', data: ['third party'] })).body.encryptedData;
    const response = await translate({ items: [mine, { deep: foreign }] });
    assert.equal(response.status, 400);
    assert.equal(response.body.code, 'ENC002');
    assert.match(response.body.message, /^data\.items\[1\]\.deep failed authentication/);
    assert.doesNotMatch(response.text, new RegExp(MARKER));
    await call(creator, 'delete', `grants/${id}`);
  });

  it('answers KEY001 when the delegate has no key', async () => {
    const created = await call(creator, 'post', 'grants', { fromUserId: '42', toUserId: '1234', reason: 'Executor' });
    await approveTwice(created.body.id);
    const response = await call(admin, 'post', 'translate', { fromUserId: '42', toUserId: '1234', data: await sample() });
    assert.equal(response.status, 404);
    assert.equal(response.body.code, 'KEY001');
  });

  it('validates grants: distinct users, a reason, ordered dates, known ids', async () => {
    const bad = [
      { fromUserId: '42', toUserId: '42', reason: 'self' },
      { fromUserId: '42', toUserId: '77' },
      { fromUserId: '42', toUserId: '77', reason: 'x'.repeat(501) },
      { fromUserId: '42', toUserId: '77', reason: 'ok reason', expiresAt: '2020-01-01T00:00:00Z' },
      { fromUserId: '42', toUserId: '77', reason: 'ok reason', notBefore: 'tomorrow' },
    ];
    for (const body of bad) {
      const response = await call(creator, 'post', 'grants', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.code, 'ENC001');
    }
    assert.equal((await call(approverA, 'post', 'grants/00000000-0000-4000-8000-000000000000/approve')).body.code, 'GRANT001');
    assert.equal((await call(approverA, 'post', 'grants/not-a-uuid/approve')).body.code, 'GRANT001');
  });

  it('answers 404 GRANT001, not a server error, when revoking or approving an id that is not a UUID', async () => {
    for (const id of ['0', '000000000000000000000000000000000000', '-'.repeat(36)]) {
      for (const response of [await call(creator, 'delete', `grants/${id}`), await call(approverA, 'post', `grants/${id}/approve`)]) {
        assert.equal(response.status, 404, `${id}: ${JSON.stringify(response.body)}`);
        assert.equal(response.body.code, 'GRANT001');
      }
    }
  });

  it('logs the grant events and translations without any plaintext', () => {
    const all = logged.join('\n');
    assert.match(all, /grant [0-9a-f-]{36} approved by compliance-officer/);
    assert.match(all, /translated 1 item\(s\) from user 42 to user 77/);
    assert.doesNotMatch(all, new RegExp(MARKER));
  });

  it('needs the grant permissions', async () => {
    assert.equal((await call(approverA, 'post', 'grants', { fromUserId: '42', toUserId: '77', reason: 'x y z' })).body.code, 'AUTH002');
    assert.equal((await call(creator, 'post', 'translate', { fromUserId: '42', toUserId: '77', data: [] })).body.code, 'AUTH002');
  });
});

for (const definition of STACKS) {
  describe(`translate finds the active grant among any number of pending ones — ${definition.name}`, () => {
    let stack: Stack;
    let admin: string;

    before(async () => {
      stack = await definition.start();
      admin = await stack.token();
      for (const userId of ['142', '177']) await stack.as(admin).post('/api/v1/keys').send({ userId });
    });
    after(() => stack?.close());

    it('translates under the active grant when 501 newer pending grants of the same pair exist, and explains a refusal by the newest', async () => {
      const creator = await stack.identity('estate-service', ['grants:write']);
      const approvers = [
        await stack.identity('compliance-officer', ['grants:approve']),
        await stack.identity('legal-reviewer', ['grants:approve']),
      ];
      const grant = await stack
        .as(creator)
        .post('/api/v1/grants')
        .send({ fromUserId: '142', toUserId: '177', reason: 'Executor of the estate' });
      assert.equal(grant.status, 201);
      for (const approver of approvers) await stack.as(approver).post(`/api/v1/grants/${grant.body.id}/approve`).expect(200);
      // 501 pending grants of the same pair, all newer than the active one.
      await stack.query(
        `INSERT INTO key_grants (id, from_user_id, to_user_id, reason, created_by, created_at)
         SELECT gen_random_uuid(), 142, 177, 'pending flood', 'someone-else', now() + make_interval(secs => v)
           FROM generate_series(1, 501) v`,
      );
      const [secret] = (
        await stack
          .as(admin)
          .post('/api/v1/encrypt')
          .send({ userId: '142', data: [MARKER] })
      ).body.encryptedData;
      const translated = await stack.as(admin).post('/api/v1/translate').send({ fromUserId: '142', toUserId: '177', data: { secret } });
      assert.equal(translated.status, 200, JSON.stringify(translated.body));
      const delegate = await stack
        .as(admin)
        .post('/api/v1/decrypt')
        .send({ userId: '177', data: [translated.body.translatedData.secret] });
      assert.deepEqual(delegate.body.decryptedData, [MARKER]);

      await stack.as(creator).delete(`/api/v1/grants/${grant.body.id}`).expect(200);
      const refused = await stack.as(admin).post('/api/v1/translate').send({ fromUserId: '142', toUserId: '177', data: { secret } });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'AUTH002');
      assert.match(refused.body.message, /No active grant: the grant has 0 of 2 required approvals/);
    });
  });
}
