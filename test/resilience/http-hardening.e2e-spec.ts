import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { embeddedStack, Stack, STACKS } from '../support/stacks';

describe('CORS only for the origins in CORS_ORIGINS — embedded stack', () => {
  let stack: Stack;
  before(async () => {
    stack = await embeddedStack.start({ CORS_ORIGINS: 'https://app.example.com' });
  });
  after(() => stack?.close());

  it('answers a preflight from a listed origin, exposing the request id and Retry-After', async () => {
    const preflight = await stack
      .http()
      .options('/api/v1/encrypt')
      .set('Origin', 'https://app.example.com')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(preflight.headers['access-control-allow-headers'], /Authorization/);
    const simple = await stack.http().get('/health/live').set('Origin', 'https://app.example.com').expect(200);
    assert.match(simple.headers['access-control-expose-headers'], /X-Request-Id/);
    assert.match(simple.headers['access-control-expose-headers'], /Retry-After/);
  });

  it('gives no CORS header to any other origin', async () => {
    const response = await stack.http().get('/health/live').set('Origin', 'https://evil.example').expect(200);
    assert.equal(response.headers['access-control-allow-origin'], undefined);
  });
});

/** Refused tokens counted against one client IP before it gets 429. */
const IP_LIMIT = 5;

for (const definition of STACKS) {
  describe(`TRUST_PROXY=1: one load balancer in front of the service — ${definition.name}`, () => {
    let stack: Stack;
    before(async () => {
      stack = await definition.start({ TRUST_PROXY: '1', RATE_LIMIT_PER_MINUTE: String(IP_LIMIT) });
    });
    after(() => stack?.close());

    // The test's own connection plays the load balancer: it appends the client it saw as the last X-Forwarded-For entry.
    it("records as the audit event's source IP the entry the load balancer appended, not the caller's own left-most entry", async () => {
      const token = await stack.token();
      const requestId = randomUUID();
      await stack
        .as(token)
        .post('/api/v1/keys')
        .set('X-Request-Id', requestId)
        .set('X-Forwarded-For', '198.51.100.66, 203.0.113.10')
        .send({ userId: '7101' })
        .expect(201);
      const { body } = await stack.as(token).get('/api/v1/audit').query({ userId: '7101', action: 'key.create' }).expect(200);
      const event = body.events.find((candidate: { requestId: string }) => candidate.requestId === requestId);
      assert.ok(event, 'the audit event of the key creation');
      assert.equal(event.sourceIp, '203.0.113.10');
    });

    it('counts an unauthenticated client by that entry: a new spoofed left-most entry buys no fresh count, another client has its own', async () => {
      const refusedToken = (forwardedFor: string) =>
        stack.http().get('/api/v1/keys/7101').auth('not-a-token', { type: 'bearer' }).set('X-Forwarded-For', forwardedFor);
      const statuses: number[] = [];
      for (let i = 0; i <= IP_LIMIT && statuses.at(-1) !== 429; i++) {
        statuses.push((await refusedToken(`198.51.100.${i}, 203.0.113.20`)).status);
      }
      assert.deepEqual(statuses, [...Array(IP_LIMIT).fill(401), 429]);
      const limited = await refusedToken('198.51.100.200, 203.0.113.20');
      assert.equal(limited.status, 429);
      assert.equal(limited.body.code, 'RATE001');
      assert.equal(
        (await refusedToken('198.51.100.0, 203.0.113.21')).status,
        401,
        'a client behind the same load balancer with its own count',
      );
    });
  });
}
