import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { checkedAgent } from './support/openapi-contract';
import { ReplyHoldingProxy } from './support/reply-holding-proxy';
import { awsStack, embeddedStack, Stack } from './support/stacks';
import { RedisServer } from './resilience/support/redis-server';

/** Requests of one replica, as one caller. */
type Replica = (method: 'post' | 'delete' | 'get', path: string, body?: object) => request.Test;

const versionOf = (ciphertext: string) => Number(ciphertext.split(':')[1]);

/**
 * Issue 30 D2: after a crypto-shred and a re-creation of a user, no replica may keep encrypting
 * under the destroyed version (which nothing can ever decrypt again).
 */
async function shredAndRecreateThroughA(a: Replica, b: Replica, userId: string): Promise<void> {
  await a('post', 'keys', { userId }).expect(201);
  const before = (await b('post', 'encrypt', { userId, data: ['before the shred'] }).expect(200)).body.encryptedData;
  assert.equal(versionOf(before[0]), 1);

  await a('delete', `keys/${userId}`).expect(200);
  const whileShredded = await b('post', 'encrypt', { userId, data: ['x'] });
  assert.equal(whileShredded.status, 404, 'B refuses to encrypt for a shredded user');
  assert.equal(whileShredded.body.code, 'KEY001');

  assert.equal((await a('post', 'keys', { userId }).expect(201)).body.keyVersion, 2);
  const after = (await b('post', 'encrypt', { userId, data: ['after the re-creation'] }).expect(200)).body.encryptedData;
  assert.equal(versionOf(after[0]), 2, 'B encrypts under the new key');
  assert.deepEqual((await a('post', 'decrypt', { userId, data: after }).expect(200)).body.decryptedData, ['after the re-creation']);
  const old = await a('post', 'decrypt', { userId, data: before });
  assert.equal(old.status, 400, 'the destroyed version decrypts nowhere');
  assert.equal(old.body.code, 'ENC002');
}

describe('re-created keys on two replicas — PostgreSQL + KMS on moto_server, without and with Redis', { timeout: 300_000 }, () => {
  let stack: Stack;
  let redis: RedisServer;
  let proxy: ReplyHoldingProxy;
  let token: string;
  /** Two replicas without Redis: the stack's app and another. */
  let plainA: Replica;
  let plainB: Replica;
  /** Two replicas sharing Redis; B reaches PostgreSQL through `proxy`. */
  let redisA: Replica;
  let redisB: Replica;

  const replica = (app: { getHttpServer(): unknown }): Replica => {
    const agent = checkedAgent(request.agent(app.getHttpServer() as never), stack.contract);
    return (method, path, body) => agent[method](`/api/v1/${path}`).auth(token, { type: 'bearer' }).send(body);
  };

  before(async () => {
    [stack, redis, proxy] = await Promise.all([awsStack.start(), RedisServer.start(), ReplyHoldingProxy.start()]);
    token = await stack.token();
    plainA = replica(stack.app);
    plainB = replica(await stack.startAnother());
    redisA = replica(await stack.startAnother({ REDIS_URL: redis.url }));
    redisB = replica(await stack.startAnother({ REDIS_URL: redis.url, DATABASE_URL: proxy.through(stack.env.DATABASE_URL) }));
  });
  after(async () => {
    await stack?.close();
    await Promise.all([redis?.stop(), proxy?.stop()]);
  });

  it('without Redis: once A shreds and re-creates a user, B encrypts under the new key, which A decrypts', async () => {
    await shredAndRecreateThroughA(plainA, plainB, '601');
  });

  it('with Redis: once A shreds and re-creates a user, B encrypts under the new key, which A decrypts', async () => {
    await shredAndRecreateThroughA(redisA, redisB, '602');
  });

  it('with Redis: a cache fill that read the key just before a shred does not put the destroyed key back in Redis', async () => {
    await redisA('post', 'keys', { userId: '603' }).expect(201);
    const { publicKey } = (await redisA('get', 'keys/603').expect(200)).body;
    // B's database read of the public key runs, and its answer is held until A has shredded and re-created the user.
    proxy.holdReplyMatching(new RegExp(publicKey.slice(0, 40).replace(/[+/]/g, '\\$&')));
    const racing = redisB('post', 'encrypt', { userId: '603', data: ['racing'] }).then((response) => response);
    await proxy.holdingReply();
    await redisA('delete', 'keys/603').expect(200);
    await redisA('post', 'keys', { userId: '603' }).expect(201);
    proxy.release();
    assert.equal((await racing).status, 200);

    for (const [name, app] of [
      ['A', redisA],
      ['B', redisB],
    ] as const) {
      const encrypted = (await app('post', 'encrypt', { userId: '603', data: [`after, on ${name}`] }).expect(200)).body.encryptedData;
      assert.equal(versionOf(encrypted[0]), 2, `${name} encrypts under the new key`);
      assert.deepEqual((await redisA('post', 'decrypt', { userId: '603', data: encrypted }).expect(200)).body.decryptedData, [
        `after, on ${name}`,
      ]);
    }
  });

  for (const redisUsed of [false, true]) {
    it(`${redisUsed ? 'with' : 'without'} Redis: /translate on B re-encrypts for a delegate re-created on A under the delegate's new key`, async () => {
      const [a, b] = redisUsed ? [redisA, redisB] : [plainA, plainB];
      const [from, to] = redisUsed ? ['612', '613'] : ['610', '611'];
      for (const userId of [from, to]) await a('post', 'keys', { userId }).expect(201);
      const creator = await stack.identity(`grant-creator-${from}`, ['grants:write']);
      const approvers = await Promise.all([1, 2].map((n) => stack.identity(`grant-approver-${from}-${n}`, ['grants:approve'])));
      const grant = (
        await stack.as(creator).post('/api/v1/grants').send({ fromUserId: from, toUserId: to, reason: 'Executor' }).expect(201)
      ).body;
      for (const approver of approvers) await stack.as(approver).post(`/api/v1/grants/${grant.id}/approve`).expect(200);
      const data = (await a('post', 'encrypt', { userId: from, data: ['for the delegate'] }).expect(200)).body.encryptedData;
      const first = (await b('post', 'translate', { fromUserId: from, toUserId: to, data }).expect(200)).body.translatedData;
      assert.equal(versionOf(first[0]), 1);

      await a('delete', `keys/${to}`).expect(200);
      await a('post', 'keys', { userId: to }).expect(201);
      const translated = (await b('post', 'translate', { fromUserId: from, toUserId: to, data }).expect(200)).body.translatedData;
      assert.equal(versionOf(translated[0]), 2, "under the delegate's new key");
      assert.deepEqual((await a('post', 'decrypt', { userId: to, data: translated }).expect(200)).body.decryptedData, ['for the delegate']);
    });
  }
});

describe('re-created keys — embedded (PGlite, one process)', () => {
  let stack: Stack;
  let token: string;
  const call = (method: 'post' | 'delete' | 'get', path: string, body?: object) => stack.as(token)[method](`/api/v1/${path}`).send(body);

  before(async () => {
    stack = await embeddedStack.start();
    token = await stack.token();
  });
  after(async () => {
    await stack?.close();
  });

  it('after a shred and a re-creation, encrypts under the new key, which decrypts; the destroyed version does not', async () => {
    await shredAndRecreateThroughA(call, call, '620');
  });
});
