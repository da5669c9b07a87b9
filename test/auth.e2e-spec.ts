import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { sign } from 'jsonwebtoken';
import { after, before, describe, it } from 'node:test';
import { awsStack, embeddedStack, Stack, STACKS } from './support/stacks';
import { TestIssuer } from './support/test-issuer';

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

for (const definition of STACKS) {
  describe(`authentication — ${definition.name}`, () => {
    let stack: Stack;
    before(async () => {
      stack = await definition.start();
      await stack
        .as(await stack.token())
        .post('/api/v1/keys')
        .send({ userId: '42' });
    });
    after(() => stack?.close());

    const encryptWith = (authorization?: string) => {
      const call = stack
        .http()
        .post('/api/v1/encrypt')
        .send({ userId: '42', data: ['x'] });
      return authorization === undefined ? call : call.set('Authorization', authorization);
    };

    it('accepts a valid access token', async () => {
      assert.equal((await encryptWith(`Bearer ${await stack.token()}`)).status, 200);
    });

    it('refuses a request without a token with 401 AUTH001', async () => {
      const response = await encryptWith();
      assert.equal(response.status, 401);
      assert.equal(response.body.code, 'AUTH001');
      assert.ok(response.body.requestId);
    });

    it('refuses garbage and a non-bearer scheme', async () => {
      assert.equal((await encryptWith('Bearer not.a.jwt')).body.code, 'AUTH001');
      assert.equal((await encryptWith(`Basic ${Buffer.from('a:b').toString('base64')}`)).body.code, 'AUTH001');
    });

    it('refuses alg none', async () => {
      const [header, payload] = (await stack.token()).split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const unsigned = `${base64url({ ...JSON.parse(Buffer.from(header, 'base64url').toString()), alg: 'none' })}.${base64url(claims)}.`;
      const response = await encryptWith(`Bearer ${unsigned}`);
      assert.equal(response.status, 401);
      assert.equal(response.body.code, 'AUTH001');
    });

    it('refuses HS256 signed with the public key (algorithm confusion)', async () => {
      const real = await stack.token();
      const [header, payload] = real.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString());
      // The attacker knows the public key the service verifies with; sign HMAC with it.
      const jwks =
        definition === embeddedStack
          ? (await stack.http().get('/.well-known/jwks.json')).body
          : await (await fetch((stack as any).pool.jwksUri)).json();
      const { createPublicKey } = await import('node:crypto');
      const pem = createPublicKey({ key: jwks.keys[0], format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
      const forged = sign(claims, pem, { algorithm: 'HS256', keyid: kid, noTimestamp: true });
      const response = await encryptWith(`Bearer ${forged}`);
      assert.equal(response.status, 401);
      assert.equal(response.body.code, 'AUTH001');
    });

    it('refuses a token signed by an unknown key (unknown kid) and one with a forged signature', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const [, payload] = (await stack.token()).split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const unknownKid = sign(claims, privateKey, { algorithm: 'RS256', keyid: 'attacker-key' });
      assert.equal((await encryptWith(`Bearer ${unknownKid}`)).body.code, 'AUTH001');
      const [header] = (await stack.token()).split('.');
      const reSigned = sign(claims, privateKey, { algorithm: 'RS256' }).split('.');
      const forged = `${header}.${reSigned[1]}.${reSigned[2]}`;
      assert.equal((await encryptWith(`Bearer ${forged}`)).body.code, 'AUTH001');
    });

    it('refuses a tampered payload', async () => {
      const [header, payload, signature] = (await stack.token(['encrypt'])).split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const elevated = base64url({ ...claims, scope: 'keys:delete keys:write encrypt decrypt', 'cognito:groups': ['keys:delete'] });
      assert.equal((await encryptWith(`Bearer ${header}.${elevated}.${signature}`)).body.code, 'AUTH001');
    });

    it('refuses a token without the route’s permission with 403 AUTH002', async () => {
      const response = await encryptWith(`Bearer ${await stack.token(['decrypt'])}`);
      assert.equal(response.status, 403);
      assert.equal(response.body.code, 'AUTH002');
      assert.match(response.body.message, /"encrypt"/);
    });
  });
}

describe('authentication — Cognito id tokens (moto)', () => {
  let stack: Stack & { pool?: { idToken(): Promise<string> } };
  before(async () => {
    stack = await awsStack.start();
  });
  after(() => stack?.close());

  it('refuses an id token from the trusted pool', async () => {
    const idToken = await stack.pool!.idToken();
    const response = await stack.as(idToken).post('/api/v1/encrypt').send({ userId: '1', data: [] });
    assert.equal(response.status, 401);
    assert.equal(response.body.code, 'AUTH001');
    assert.match(response.body.message, /access token/);
  });
});

describe('authentication — claims checked on the Cognito path (own JWKS)', () => {
  let issuer: TestIssuer;
  let stack: Stack;
  const call = (token: string, userId = '42') =>
    stack
      .as(token)
      .post('/api/v1/encrypt')
      .send({ userId, data: ['x'] });

  before(async () => {
    issuer = await new TestIssuer().start();
    stack = await embeddedStack.start({ ...issuer.env(), AUTH_USER_ID_CLAIM: 'custom:user_id' });
    for (const userId of ['42', '43']) {
      await stack.as(issuer.token()).post('/api/v1/keys').send({ userId });
    }
  });
  after(async () => {
    await stack?.close();
    await issuer?.stop();
  });

  it('takes permissions from scopes with a resource-server prefix', async () => {
    assert.equal((await call(issuer.token({ scope: 'pii-api/encrypt' }))).status, 200);
    assert.equal((await call(issuer.token({ scope: 'pii-api/decrypt' }))).body.code, 'AUTH002');
  });

  it('grants nothing for another resource server’s scope of the same name, nor for a bare name (AUTH_SCOPE_PREFIX)', async () => {
    for (const scope of ['other-api/encrypt', 'encrypt', 'pii-api-other/encrypt']) {
      const response = await call(issuer.token({ scope }));
      assert.equal(response.status, 403, scope);
      assert.equal(response.body.code, 'AUTH002');
    }
  });

  it('refuses a wrong issuer', async () => {
    const response = await call(issuer.token({}, { issuer: 'https://cognito-idp.ca-central-1.amazonaws.com/ca-central-1_Other' }));
    assert.equal(response.status, 401);
    assert.equal(response.body.code, 'AUTH001');
  });

  it('refuses an id token (token_use id)', async () => {
    const response = await call(issuer.token({ token_use: 'id' }));
    assert.equal(response.body.code, 'AUTH001');
    assert.match(response.body.message, /access token/);
  });

  it('refuses a token for a foreign client_id', async () => {
    const response = await call(issuer.token({ client_id: 'someone-elses-app' }));
    assert.equal(response.body.code, 'AUTH001');
    assert.match(response.body.message, /client/);
  });

  it('refuses an expired token, and one not valid yet, beyond the clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await call(issuer.token({ exp: now - 120 }));
    assert.equal(expired.status, 401);
    assert.match(expired.body.message, /expired/);
    const early = await call(issuer.token({ nbf: now + 600 }));
    assert.equal(early.status, 401);
    assert.match(early.body.message, /not valid yet/);
  });

  it('accepts a token that expired within the allowed clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await call(issuer.token({ exp: now - 5 }))).status, 200);
  });

  it('refuses a token without exp (it would never expire) with 401 AUTH001', async () => {
    const claims = { sub: 'svc-test', client_id: issuer.clientId, token_use: 'access', scope: 'pii-api/encrypt' };
    const endless = sign(claims, issuer.privateKey, { algorithm: 'RS256', keyid: issuer.kid, issuer: issuer.issuer });
    const response = await call(endless);
    assert.equal(response.status, 401);
    assert.equal(response.body.code, 'AUTH001');
    assert.match(response.body.message, /expiry/);
  });

  it('lets a token bound to a user act only on that user', async () => {
    const bound = issuer.token({ 'custom:user_id': '42' });
    assert.equal((await call(bound, '42')).status, 200);
    const other = await call(bound, '43');
    assert.equal(other.status, 403);
    assert.equal(other.body.code, 'AUTH002');
    const read = await stack
      .http()
      .get('/api/v1/keys/43')
      .auth(issuer.token({ 'custom:user_id': '42', scope: 'pii-api/keys:read' }), { type: 'bearer' });
    assert.equal(read.body.code, 'AUTH002');
  });
});
