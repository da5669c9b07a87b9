import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Stack, STACKS } from '../support/stacks';
import { TestIssuer } from '../support/test-issuer';

/*
 * The security review's reproductions (a token bound to person 42 reaching other people's grants
 * and audit trail), each now refused, and AUTH_BOUND_CLIENT_IDS (a person's app whose tokens must
 * be bound). The authorization matrix (authorization-matrix.e2e-spec.ts) holds every route to its
 * rule; these are the findings as the reviewer made them.
 */
const CLAIM = 'custom:user_id';
const PERSON_APP = 'person-facing-app';
const reason = 'Executor of the estate, probate file 2026-1234';

for (const definition of STACKS) {
  describe(`person binding: the security review's reproductions — ${definition.name}`, () => {
    let issuer: TestIssuer;
    let stack: Stack;
    let admin: string;
    let bound42: string;
    let othersGrant: string;
    const scopes = (...permissions: string[]) => permissions.map((permission) => `pii-api/${permission}`).join(' ');

    before(async () => {
      issuer = await new TestIssuer().start();
      stack = await definition.start({
        ...issuer.env(),
        COGNITO_CLIENT_IDS: `${issuer.clientId},${PERSON_APP}`,
        AUTH_USER_ID_CLAIM: CLAIM,
        AUTH_BOUND_CLIENT_IDS: PERSON_APP,
      });
      admin = issuer.token({
        sub: 'operator',
        scope: scopes('keys:write', 'encrypt', 'grants:write', 'audit:read', 'canaries:write', 'tokens:revoke', 'translate'),
      });
      bound42 = issuer.token({
        sub: 'person-42-session',
        scope: scopes('audit:read', 'grants:write', 'grants:approve', 'translate', 'canaries:write', 'tokens:revoke', 'encrypt'),
        [CLAIM]: '42',
      });
      for (const userId of ['42', '77', '78']) await stack.as(admin).post('/api/v1/keys').send({ userId }).expect(201);
      await stack
        .as(admin)
        .post('/api/v1/encrypt')
        .send({ userId: '77', data: ['x'] })
        .expect(200);
      const created = await stack.as(admin).post('/api/v1/grants').send({ fromUserId: '77', toUserId: '78', reason }).expect(201);
      othersGrant = created.body.id;
    });
    after(async () => {
      await stack?.close();
      await issuer?.stop();
    });

    const refused = (response: { status: number; body: { code?: string } }) => {
      assert.equal(response.status, 403, JSON.stringify(response.body));
      assert.equal(response.body.code, 'AUTH002');
    };

    it('refuses the grant list without a filter, and lists only the bound person’s grants with it', async () => {
      refused(await stack.as(bound42).get('/api/v1/grants'));
      refused(await stack.as(bound42).get('/api/v1/grants').query({ fromUserId: '77' }));
      const own = await stack.as(bound42).get('/api/v1/grants').query({ fromUserId: '42' }).expect(200);
      assert.deepEqual(own.body, []);
    });

    it('refuses another person’s audit trail and the unfiltered trail, and shows the bound person’s own', async () => {
      refused(await stack.as(bound42).get('/api/v1/audit').query({ userId: '77' }));
      refused(await stack.as(bound42).get('/api/v1/audit'));
      refused(await stack.as(bound42).get('/api/v1/keys/77/access-report'));
      const own = await stack.as(bound42).get('/api/v1/audit').query({ userId: '42' }).expect(200);
      assert.ok(own.body.events.length > 0);
      assert.ok(own.body.events.every((event: { userId: string | null }) => event.userId === '42'));
    });

    it('refuses to revoke or approve a grant between two other people, and the grant stays as it was', async () => {
      refused(await stack.as(bound42).delete(`/api/v1/grants/${othersGrant}`));
      refused(await stack.as(bound42).post(`/api/v1/grants/${othersGrant}/approve`));
      const [grant] = (await stack.as(admin).get('/api/v1/grants').query({ fromUserId: '77' }).expect(200)).body;
      assert.equal(grant.id, othersGrant);
      assert.equal(grant.state, 'pending');
      assert.deepEqual(grant.approvals, []);
    });

    it('refuses a grant id that names no grant as it refuses another person’s (existence is not revealed)', async () => {
      const unknown = await stack.as(bound42).delete('/api/v1/grants/0b7d7a0e-1d7c-4b0f-9d3e-0b1c2d3e4f50');
      refused(unknown);
      assert.equal(unknown.body.message, (await stack.as(bound42).delete(`/api/v1/grants/${othersGrant}`)).body.message);
    });

    it('refuses /translate between two other people', async () => {
      refused(await stack.as(bound42).post('/api/v1/translate').send({ fromUserId: '77', toUserId: '78', data: [] }));
    });

    it('refuses the operator routes (canaries, token revocation) to a bound token', async () => {
      refused(await stack.as(bound42).get('/api/v1/canaries'));
      refused(await stack.as(bound42).delete('/api/v1/canaries/5f0c1d8e-8a34-4b6e-9a52-0d6f3f9b2c11'));
      refused(await stack.as(bound42).post('/api/v1/tokens/revoke').send({ jti: '5f0c1d8e-8a34-4b6e-9a52-0d6f3f9b2c11' }));
    });

    it('refuses a token of a client in AUTH_BOUND_CLIENT_IDS that carries no binding claim, with 401 AUTH001', async () => {
      const unbound = issuer.token({ client_id: PERSON_APP, scope: scopes('encrypt') });
      const response = await stack
        .as(unbound)
        .post('/api/v1/encrypt')
        .send({ userId: '42', data: ['x'] });
      assert.equal(response.status, 401);
      assert.equal(response.body.code, 'AUTH001');
      assert.match(response.body.message, /bound to one person/);
      const bound = issuer.token({ client_id: PERSON_APP, scope: scopes('encrypt'), [CLAIM]: '42' });
      await stack
        .as(bound)
        .post('/api/v1/encrypt')
        .send({ userId: '42', data: ['x'] })
        .expect(200);
    });
  });
}
