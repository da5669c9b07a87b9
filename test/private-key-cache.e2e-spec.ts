import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { checkedAgent } from './support/openapi-contract';
import { KmsFaultProxy } from './support/kms-fault-proxy';
import { awsStack, Stack } from './support/stacks';

describe('unsealed private key cache — PostgreSQL + KMS on moto_server', () => {
  let stack: Stack & { moto?: { endpoint: string } };
  let proxy: KmsFaultProxy;
  let replicaA: request.Agent;
  let replicaB: request.Agent;
  let uncached: request.Agent;
  let token: string;
  const call = (agent: request.Agent, path: string, body: object) =>
    agent.post(`/api/v1/${path}`).auth(token, { type: 'bearer' }).send(body);
  const kmsDecrypts = () => proxy.calls.filter((c) => c === 'Decrypt').length;

  before(async () => {
    stack = await awsStack.start();
    token = await stack.token();
    proxy = await new KmsFaultProxy(stack.moto!.endpoint).start();
    // Every answer of the replicas is checked against the document, as the stack's own are.
    const replica = async (overrides: Record<string, string>) =>
      checkedAgent(
        request.agent((await stack.startAnother({ KMS_ENDPOINT: proxy.endpoint, ...overrides })).getHttpServer()),
        stack.contract,
      );
    replicaA = await replica({});
    replicaB = await replica({});
    uncached = await replica({ PRIVATE_KEY_CACHE_SECONDS: '0' });
  });
  after(async () => {
    await stack?.close();
    await proxy?.stop();
  });

  it('makes no KMS call for repeated decrypts of a warm key version', async () => {
    await call(replicaA, 'keys', { userId: '501' });
    const data = (await call(replicaA, 'encrypt', { userId: '501', data: ['a', 'b'] })).body.encryptedData;
    const before = kmsDecrypts();
    for (let i = 0; i < 5; i++) {
      assert.deepEqual((await call(replicaA, 'decrypt', { userId: '501', data })).body.decryptedData, ['a', 'b']);
    }
    assert.equal(kmsDecrypts() - before, 1);
  });

  it('calls KMS for every decrypt when the cache is disabled', async () => {
    const data = (await call(uncached, 'encrypt', { userId: '501', data: ['c'] })).body.encryptedData;
    const before = kmsDecrypts();
    for (let i = 0; i < 3; i++) await call(uncached, 'decrypt', { userId: '501', data });
    assert.equal(kmsDecrypts() - before, 3);
  });

  it('never decrypts with a cached key after the key was destroyed through another replica', async () => {
    await call(replicaA, 'keys', { userId: '502' });
    const data = (await call(replicaA, 'encrypt', { userId: '502', data: ['shred me'] })).body.encryptedData;
    assert.equal((await call(replicaB, 'decrypt', { userId: '502', data })).status, 200); // B's cache is warm
    assert.equal((await replicaA.delete('/api/v1/keys/502').auth(token, { type: 'bearer' })).status, 200);
    const after = await call(replicaB, 'decrypt', { userId: '502', data });
    assert.equal(after.status, 404);
    assert.equal(after.body.code, 'KEY001');
  });

  it('never decrypts with a cached key whose version was purged', async () => {
    await call(replicaA, 'keys', { userId: '503' });
    const v1 = (await call(replicaA, 'encrypt', { userId: '503', data: ['old'] })).body.encryptedData;
    await call(replicaA, 'rotate', { userId: '503', data: [] });
    assert.equal((await call(replicaB, 'decrypt', { userId: '503', data: v1 })).status, 200); // warm on v1
    await stack.query(`DELETE FROM user_key_history WHERE user_id = 503`);
    const after = await call(replicaB, 'decrypt', { userId: '503', data: v1 });
    assert.equal(after.body.code, 'ENC002');
  });
});
