import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { decode } from 'jsonwebtoken';
import request from 'supertest';
import type { Permission } from '../../src/common/permissions';
import { checkedAgent } from '../support/openapi-contract';
import { waitFor } from '../support/processes';
import { awsStack, Stack, urlOf } from '../support/stacks';
import { ClusterNode, RedisCluster } from './support/redis-cluster';

const LIMIT = 20;
const BUDGET = 3;
const randomUserId = () => String(1_000_000_000 + randomInt(2 ** 47));
/** The slot of the keys every replica shares (RedisConnection.sharedKey): key epoch, public-key cache, denylist. */
const shared = (name: string) => `pii-api:{shared}:${name}`;
/** The key version of a public-key cache entry as stored (JSON), undefined for none. */
const cachedVersion = (stored: unknown) =>
  typeof stored === 'string' ? (JSON.parse(stored) as { keyVersion?: number }).keyVersion : undefined;

describe(
  'Redis cluster (REDIS_CLUSTER=true, three primaries) shared by two replicas on PostgreSQL + KMS: cache, rate limit, denylist, decrypt budget; a primary killed and back',
  { timeout: 300_000 },
  () => {
    let cluster: RedisCluster;
    let stack: Stack;
    let replica: NestExpressApplication;
    /** The two replicas' URLs. */
    let apps: [string, string];

    const as = (url: string, token: string) => checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), stack.contract);
    const anonymous = (url: string) => checkedAgent(request.agent(url), stack.contract);
    const caller = (permissions: readonly Permission[]) => stack.identity(`caller-${randomUUID()}`, permissions);
    const redisStatus = async (url: string) => (await anonymous(url).get('/health/ready')).body.details?.redis?.status;
    const metric = async (url: string, name: string, labels: Record<string, string>) => {
      const { text } = await anonymous(url).get('/metrics').expect(200);
      const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
      const line = text
        .split('\n')
        .find((candidate: string) => candidate.startsWith(`${name}{`) && wanted.every((pair) => candidate.includes(pair)));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };

    async function createKey(userId: string, secret: string): Promise<string[]> {
      const admin = await caller(['keys:write', 'encrypt']);
      await as(apps[0], admin).post('/api/v1/keys').send({ userId }).expect(201);
      return (
        await as(apps[0], admin)
          .post('/api/v1/encrypt')
          .send({ userId, data: [secret] })
          .expect(200)
      ).body.encryptedData;
    }

    before(async () => {
      cluster = await RedisCluster.start(3);
      stack = await awsStack.start({
        REDIS_URL: cluster.url,
        REDIS_CLUSTER: 'true',
        REDIS_TIMEOUT_MS: '200',
        CIRCUIT_BREAKER_RESET_MS: '500',
        RATE_LIMIT_PER_MINUTE: String(LIMIT),
        DECRYPT_SUBJECT_BUDGET: String(BUDGET),
        DECRYPT_SUBJECT_WINDOW_SECONDS: '3600',
      });
      replica = await stack.startAnother();
      apps = [stack.url, urlOf(replica)];
      for (const url of apps) await waitFor('Redis cluster up for the replica', async () => assert.equal(await redisStatus(url), 'up'));
    });

    after(async () => {
      await stack?.close();
      await cluster?.stop();
    });

    it('encrypts on one replica and decrypts on the other; the public key is cached in the shared slot, where the other replica finds it', async () => {
      const userId = randomUserId();
      const ciphertexts = await createKey(userId, 'cluster secret');
      assert.equal(cachedVersion(await cluster.commandFor(shared(`public-key:${userId}`), 'GET', shared(`public-key:${userId}`))), 1);

      const user = await caller(['encrypt', 'decrypt']);
      const hits = await metric(apps[1], 'pii_api_cache_lookups_total', { cache: 'public_key', result: 'hit' });
      await as(apps[1], user)
        .post('/api/v1/encrypt')
        .send({ userId, data: ['x'] })
        .expect(200);
      assert.equal(await metric(apps[1], 'pii_api_cache_lookups_total', { cache: 'public_key', result: 'hit' }), hits + 1);
      const decrypted = await as(apps[1], user).post('/api/v1/decrypt').send({ userId, data: ciphertexts }).expect(200);
      assert.deepEqual(decrypted.body.decryptedData, ['cluster secret']);
    });

    it("counts one rate limit per caller across both replicas (429 RATE001 on either), the callers' counts spread over all three primaries", async () => {
      const userId = randomUserId();
      await createKey(userId, 'rate');
      const busy = await caller(['keys:read']);
      for (let i = 0; i < LIMIT; i++)
        await as(apps[i % 2], busy)
          .get(`/api/v1/keys/${userId}`)
          .expect(200);
      for (const url of apps) {
        const refused = await as(url, busy).get(`/api/v1/keys/${userId}`);
        assert.equal(refused.status, 429);
        assert.equal(refused.body.code, 'RATE001');
        assert.match(refused.headers['retry-after'], /^[1-9]\d*$/);
      }

      // New callers, one request each, until every primary holds some caller's count (each lands
      // on a primary with chance 1/3: forty callers all missing one primary is ~1e-7).
      const holding = async () => Promise.all(cluster.nodes.map(async (node) => (await node.keys('pii-api:rate:*')).length));
      for (let i = 0; i < 40 && (await holding()).includes(0); i++) {
        await as(apps[i % 2], await caller(['keys:read']))
          .get(`/api/v1/keys/${userId}`)
          .expect(200);
      }
      const counts = await holding();
      assert.ok(
        counts.every((count) => count > 0),
        `rate-limit keys per primary: ${counts.join(', ')}`,
      );
    });

    it('refuses a token on both replicas once it is revoked on one; the denylist entry is in the shared slot', async () => {
      const userId = randomUserId();
      await createKey(userId, 'revocation');
      const admin = await caller(['tokens:revoke']);
      const victim = await caller(['keys:read']);
      await as(apps[1], victim).get(`/api/v1/keys/${userId}`).expect(200);

      await as(apps[0], admin).post('/api/v1/tokens/revoke').send({ token: victim }).expect(200);
      const { jti } = decode(victim) as { jti: string };
      assert.equal(await cluster.commandFor(shared(`revoked-token:${jti}`), 'EXISTS', shared(`revoked-token:${jti}`)), 1);
      for (const url of apps) {
        const refused = await as(url, victim).get(`/api/v1/keys/${userId}`);
        assert.equal(refused.status, 401);
        assert.equal(refused.body.message, 'Token has been revoked');
      }
    });

    it('enforces one decrypt budget per caller across both replicas: RATE002 past it, on either', async () => {
      const people = Array.from({ length: BUDGET + 1 }, randomUserId);
      const ciphertexts = new Map<string, string[]>();
      for (const userId of people) ciphertexts.set(userId, await createKey(userId, `secret of ${userId}`));
      const reader = await caller(['decrypt']);
      for (const [i, userId] of people.slice(0, BUDGET).entries()) {
        await as(apps[i % 2], reader)
          .post('/api/v1/decrypt')
          .send({ userId, data: ciphertexts.get(userId) })
          .expect(200);
      }
      for (const url of apps) {
        const refused = await as(url, reader)
          .post('/api/v1/decrypt')
          .send({ userId: people[BUDGET], data: ciphertexts.get(people[BUDGET]) });
        assert.equal(refused.status, 429);
        assert.equal(refused.body.code, 'RATE002');
      }
    });

    it('survives the kill of the primary holding the shared slot: serves from the database, reports redis degraded, forgets no revocation, and recovers when the primary is back', async () => {
      const userId = randomUserId();
      const ciphertexts = await createKey(userId, 'outage secret');
      const user = await caller(['encrypt', 'decrypt']);
      const admin = await caller(['tokens:revoke']);
      const victim = await caller(['keys:read']);
      await as(apps[1], victim).get(`/api/v1/keys/${userId}`).expect(200);
      const owner: ClusterNode = await cluster.ownerOf(shared('public-key-epoch'));

      await owner.kill();
      for (const url of apps) {
        await as(url, user)
          .post('/api/v1/encrypt')
          .send({ userId, data: ['during the outage'] })
          .expect(200);
        const decrypted = await as(url, user).post('/api/v1/decrypt').send({ userId, data: ciphertexts }).expect(200);
        assert.deepEqual(decrypted.body.decryptedData, ['outage secret']);
        const ready = await anonymous(url).get('/health/ready').expect(200);
        assert.equal(ready.body.status, 'degraded');
        assert.equal(ready.body.details.redis.status, 'degraded');
        assert.equal(ready.body.details.database.status, 'up');
      }
      await as(apps[0], admin).post('/api/v1/tokens/revoke').send({ token: victim }).expect(200);
      for (const url of apps) assert.equal((await as(url, victim).get(`/api/v1/keys/${userId}`)).status, 401);

      await owner.start(); // same slots (nodes.conf), no data: the denylist and the cache on it are gone
      await cluster.waitUntilOk();
      for (const url of apps) await waitFor('Redis cluster up again', async () => assert.equal(await redisStatus(url), 'up'));
      const { jti } = decode(victim) as { jti: string };
      await waitFor('denylist copied back', async () => assert.equal(await owner.command('EXISTS', shared(`revoked-token:${jti}`)), 1));
      for (const url of apps) {
        const refused = await as(url, victim).get(`/api/v1/keys/${userId}`);
        assert.equal(refused.status, 401);
        assert.equal(refused.body.message, 'Token has been revoked');
      }
      // The first lookup after the restart finds no key epoch and sets one; a later one fills the cache.
      await waitFor(
        'public key cached again',
        async () => {
          await as(apps[0], user)
            .post('/api/v1/encrypt')
            .send({ userId, data: ['after'] })
            .expect(200);
          assert.equal(cachedVersion(await owner.command('GET', shared(`public-key:${userId}`))), 1);
        },
        10_000,
        1000,
      );
    });
  },
);
