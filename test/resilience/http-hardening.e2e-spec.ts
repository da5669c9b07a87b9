import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { embeddedStack, Stack } from '../support/stacks';

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
