import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it, mock } from 'node:test';
import { sign } from 'jsonwebtoken';
import { JWKS_MAX_AGE_MS, JWKS_REFETCH_INTERVAL_MS, JwksClock } from '../../src/auth/jwks-signing-keys';
import { awsStack, embeddedStack, Stack } from '../support/stacks';
import { TestIssuer } from '../support/test-issuer';

/** Forged tokens per flood: more than the old limiter's 10 JWKS requests a minute. */
const FLOOD = 40;

/*
 * H2: a flood of tokens with made-up kids used to spend the JWKS rate limiter, after which the
 * real kid (a fresh pod's first lookup, or any pod's refresh after 10 minutes) was refused too.
 * The service's Cognito path trusts TestIssuer here, on both stacks; the JWKS source's clock is
 * moved instead of waiting.
 */
for (const definition of [embeddedStack, awsStack]) {
  describe(`JWKS signing keys: forged kids cannot lock out real tokens — ${definition.name}`, { timeout: 120_000 }, () => {
    let issuer: TestIssuer;
    let stack: Stack;
    let now = Date.now();
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

    before(async () => {
      issuer = await new TestIssuer().start();
      stack = await definition.start(issuer.env());
      mock.method(stack.app.get(JwksClock), 'now', () => now);
    });
    after(async () => {
      mock.restoreAll();
      await stack?.close();
      await issuer?.stop();
    });

    const encrypt = (token: string) =>
      stack
        .as(token)
        .post('/api/v1/encrypt')
        .send({ userId: '42', data: ['x'] });

    /** A token shaped like the issuer's, signed by someone else's key under a random kid. */
    const forged = () =>
      sign({ sub: 'svc-test', client_id: issuer.clientId, token_use: 'access', scope: 'pii-api/encrypt' }, attacker, {
        algorithm: 'RS256',
        keyid: randomUUID(),
        issuer: issuer.issuer,
        expiresIn: 300,
      });

    const flood = async () => {
      const responses = await Promise.all(Array.from({ length: FLOOD }, () => encrypt(forged())));
      for (const response of responses) {
        assert.equal(response.status, 401);
        assert.equal(response.body.code, 'AUTH001');
        assert.match(response.body.message, /unknown key/);
      }
    };

    const unknownKidsCounted = async () => {
      const text = (await stack.http().get('/metrics').expect(200)).text;
      return Number(/^pii_api_jwks_unknown_kid_total (\d+)$/m.exec(text)?.[1]);
    };

    it('refuses a flood of random kids on a freshly started app with 401 AUTH001, fetching the JWKS once, then accepts a real token at once', async () => {
      await flood();
      assert.equal(issuer.jwksFetches, 1, 'one JWKS fetch for the whole flood');
      assert.equal((await stack.as(issuer.token()).post('/api/v1/keys').send({ userId: '42' })).status, 201);
      assert.equal((await encrypt(issuer.token())).status, 200);
      assert.equal(issuer.jwksFetches, 1, 'the real kid came from the set already held');
    });

    it('is ready from the key set it holds, without fetching the JWKS for the probe', async () => {
      const ready = await stack.http().get('/health/ready').expect(200);
      assert.equal(ready.body.details.signingKeys.status, 'up');
      assert.equal(issuer.jwksFetches, 1);
    });

    it('counts every refused unknown kid in pii_api_jwks_unknown_kid_total', async () => {
      assert.equal(await unknownKidsCounted(), FLOOD);
    });

    it('accepts a real token after the key set has aged, even while the JWKS is down and another flood comes', async () => {
      now += JWKS_MAX_AGE_MS + 1_000;
      issuer.jwksAvailable = false;
      assert.equal((await encrypt(issuer.token())).status, 200);
      await flood();
      assert.equal((await encrypt(issuer.token())).status, 200);
      assert.equal(issuer.jwksFetches, 2, 'one background refresh (it failed); the flood fetched nothing');
      assert.equal(await unknownKidsCounted(), 2 * FLOOD);
    });

    it('accepts a token signed with a new key the issuer rotated to, on the next allowed refetch, and still the old one while published', async () => {
      issuer.jwksAvailable = true;
      const old = { kid: issuer.kid, key: issuer.privateKey };
      issuer.rotate();
      assert.notEqual(issuer.kid, old.kid);
      now += JWKS_REFETCH_INTERVAL_MS;
      assert.equal((await encrypt(issuer.token())).status, 200);
      assert.equal(issuer.jwksFetches, 3, 'one refetch found the new kid');
      assert.equal((await encrypt(issuer.token({}, { keyid: old.kid }, old.key))).status, 200);
      assert.equal(issuer.jwksFetches, 3);
    });

    it('refuses a key the issuer no longer publishes once the aged set is refreshed (served only while the refresh runs)', async () => {
      const retired = { kid: issuer.kid, key: issuer.privateKey };
      issuer.rotate({ dropOld: true });
      now += JWKS_MAX_AGE_MS + 1_000;
      assert.equal(
        (await encrypt(issuer.token({}, { keyid: retired.kid }, retired.key))).status,
        200,
        'served from the held set, which starts the refresh',
      );
      const refused = await encrypt(issuer.token({}, { keyid: retired.kid }, retired.key));
      assert.equal(refused.status, 401);
      assert.equal(refused.body.code, 'AUTH001');
      assert.equal((await encrypt(issuer.token())).status, 200);
      assert.equal(issuer.jwksFetches, 4);
    });
  });
}
