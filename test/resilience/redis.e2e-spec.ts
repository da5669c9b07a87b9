import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decode } from 'jsonwebtoken';
import { LocalIssuer } from '../../src/auth/signing-keys';
import { LOCAL_CLIENT_ID } from '../../src/config/app-config';
import { TestDatabase } from '../support/postgres';
import { waitFor } from '../support/processes';
import { AppProcess, LogCapture } from './support/app-process';
import { metric } from './support/metrics';
import { RedisServer } from './support/redis-server';

const LIMIT = 20;
const MARKER = `PLAINTEXT-MARKER-${randomUUID()}`;

describe(
  'Redis: one cache, one rate limit and one token denylist for two replicas; Redis down, frozen and back',
  { timeout: 300_000 },
  () => {
    const logs = new LogCapture();
    const dataDir = mkdtempSync(join(tmpdir(), 'pii-api-redis-'));
    let redis: RedisServer;
    let database: TestDatabase;
    let issuer: LocalIssuer;
    /** Does not trust proxies. */
    let a: AppProcess;
    /** TRUST_PROXY=1: one proxy hop in front of it. */
    let b: AppProcess;

    const token = (sub: string) => {
      const minted = issuer.mint(600, { sub });
      logs.forbid(minted);
      return minted;
    };
    const bearer = { type: 'bearer' } as const;

    before(async () => {
      logs.forbid(MARKER);
      [redis, database] = await Promise.all([RedisServer.start(), TestDatabase.create()]);
      const env = {
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        REDIS_TIMEOUT_MS: '200',
        CIRCUIT_BREAKER_RESET_MS: '500',
        RATE_LIMIT_PER_MINUTE: String(LIMIT),
        DATA_DIR: dataDir,
      };
      a = await AppProcess.start(env, logs);
      b = await AppProcess.start({ ...env, TRUST_PROXY: '1' }, logs);
      issuer = await LocalIssuer.open(dataDir);
    });

    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await Promise.all([redis?.stop(), database?.drop()]);
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('caches public keys, and nothing else, in Redis, where the other replica finds them', async () => {
      const caller = token('cache-caller');
      await a.as(caller).post('/api/v1/keys').send({ userId: '1001' }).expect(201);
      const { body } = await a
        .as(caller)
        .post('/api/v1/encrypt')
        .send({ userId: '1001', data: [MARKER] })
        .expect(200);
      logs.forbid(...body.encryptedData);

      assert.match(
        String(await redis.command('GET', 'pii-api:public-key:1001')),
        /"algorithm":"X-Wing","publishedKey":"[A-Za-z0-9+/]{1620}/,
      );
      for (const key of (await redis.command('KEYS', '*')) as string[]) {
        if ((await redis.command('TYPE', key)) !== 'string') continue;
        const value = String(await redis.command('GET', key));
        assert.doesNotMatch(value, /PRIVATE KEY|ek[12]:/);
        assert.ok(!value.includes(MARKER));
      }

      const hits = await metric(b, 'pii_api_cache_lookups_total', { cache: 'public_key', result: 'hit' });
      await b
        .as(caller)
        .post('/api/v1/encrypt')
        .send({ userId: '1001', data: ['x'] })
        .expect(200);
      assert.equal(await metric(b, 'pii_api_cache_lookups_total', { cache: 'public_key', result: 'hit' }), hits + 1);
      const decrypted = await b.as(caller).post('/api/v1/decrypt').send({ userId: '1001', data: body.encryptedData }).expect(200);
      assert.deepEqual(decrypted.body.decryptedData, [MARKER]);
    });

    it('counts one rate limit per caller across both replicas, then answers 429 RATE001 with Retry-After', async () => {
      const busy = token('busy-caller');
      for (let i = 0; i < LIMIT; i++) {
        await (i % 2 ? a : b).as(busy).get('/api/v1/keys/1001').expect(200);
      }
      for (const app of [a, b]) {
        const refused = await app.as(busy).get('/api/v1/keys/1001');
        assert.equal(refused.status, 429);
        assert.equal(refused.body.code, 'RATE001');
        assert.match(refused.headers['retry-after'], /^[1-9]\d*$/);
      }
      await a.as(token('another-caller')).get('/api/v1/keys/1001').expect(200);
      assert.ok((await metric(a, 'pii_api_rate_limited_requests_total')) >= 1);
    });

    it('never throttles health and metrics', async () => {
      for (let i = 0; i <= LIMIT; i++) {
        await a.http().get('/health/live').expect(200);
        await a.http().get('/metrics').expect(200);
      }
      await a.http().get('/health/ready').expect(200);
    });

    it('refuses a token on every replica once it is revoked on one, by token or by jti', async () => {
      const admin = token('revoking-admin');
      const byToken = token('revoked-by-token');
      const byJti = token('revoked-by-jti');
      for (const victim of [byToken, byJti]) await b.as(victim).get('/api/v1/keys/1001').expect(200);

      await a.as(admin).post('/api/v1/tokens/revoke').send({ token: byToken }).expect(200);
      await b
        .as(admin)
        .post('/api/v1/tokens/revoke')
        .send({ jti: (decode(byJti) as { jti: string }).jti })
        .expect(200);

      for (const [app, victim] of [
        [b, byToken],
        [a, byJti],
        [a, byToken],
        [b, byJti],
      ] as const) {
        const refused = await app.as(victim).get('/api/v1/keys/1001');
        assert.equal(refused.status, 401);
        assert.equal(refused.body.code, 'AUTH001');
        assert.equal(refused.body.message, 'Token has been revoked');
      }
      await a.as(admin).get('/api/v1/keys/1001').expect(200);
    });

    it('refuses to revoke a token it cannot verify, and needs tokens:revoke', async () => {
      const admin = token('careful-admin');
      const forged = `${issuer.mint(600).split('.').slice(0, 2).join('.')}.${'A'.repeat(342)}`;
      const refused = await a.as(admin).post('/api/v1/tokens/revoke').send({ token: forged });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.code, 'ENC001');
      assert.equal((await a.as(admin).post('/api/v1/tokens/revoke').send({})).body.code, 'ENC001');
      const reader = issuer.mint(600, { sub: 'reader', scope: 'keys:read' });
      logs.forbid(reader);
      assert.equal((await a.as(reader).post('/api/v1/tokens/revoke').send({ jti: 'x' })).body.code, 'AUTH002');
    });

    it('serves from the database while Redis is down, reports it degraded, forgets no revocation, and reconnects by itself', async () => {
      const caller = token('outage-caller');
      await a.as(caller).post('/api/v1/keys').send({ userId: '1002' }).expect(201);
      const { body } = await a
        .as(caller)
        .post('/api/v1/encrypt')
        .send({ userId: '1002', data: [MARKER] })
        .expect(200);
      logs.forbid(...body.encryptedData);
      const victim = token('revoked-during-outage');
      await b.as(victim).get('/api/v1/keys/1002').expect(200);

      await redis.kill();
      for (const app of [a, b]) {
        await app
          .as(caller)
          .post('/api/v1/encrypt')
          .send({ userId: '1002', data: ['y'] })
          .expect(200);
        const decrypted = await app.as(caller).post('/api/v1/decrypt').send({ userId: '1002', data: body.encryptedData }).expect(200);
        assert.deepEqual(decrypted.body.decryptedData, [MARKER]);
        const ready = await app.http().get('/health/ready').expect(200);
        assert.equal(ready.body.status, 'degraded');
        assert.equal(ready.body.details.redis.status, 'degraded');
        assert.equal(ready.body.details.database.status, 'up');
      }
      await a.as(caller).post('/api/v1/tokens/revoke').send({ token: victim }).expect(200);
      assert.equal((await b.as(victim).get('/api/v1/keys/1002')).status, 401);

      await redis.restart(); // empty: nothing survived
      for (const app of [a, b]) {
        await waitFor('Redis up again', async () => {
          const ready = await app.http().get('/health/ready');
          assert.equal(ready.body.details?.redis?.status, 'up');
        });
      }
      const jti = (decode(victim) as { jti: string }).jti;
      await waitFor('denylist copied back', async () => assert.equal(await redis.command('EXISTS', `pii-api:revoked-token:${jti}`), 1));
      for (const app of [a, b]) {
        const refused = await app.as(victim).get('/api/v1/keys/1002');
        assert.equal(refused.status, 401);
        assert.equal(refused.body.message, 'Token has been revoked');
      }
      await a
        .as(caller)
        .post('/api/v1/encrypt')
        .send({ userId: '1002', data: ['z'] })
        .expect(200);
      assert.match(String(await redis.command('GET', 'pii-api:public-key:1002')), /"publishedKey":"/);
    });

    it('still answers while Redis is frozen (every Redis call is bounded), reports it degraded, and recovers when it thaws', async () => {
      const caller = token('freeze-caller');
      redis.freeze();
      try {
        for (const app of [a, b]) {
          await app
            .as(caller)
            .post('/api/v1/encrypt')
            .send({ userId: '1002', data: ['w'] })
            .expect(200);
          await app.as(caller).get('/api/v1/keys/1002').expect(200);
          const ready = await app.http().get('/health/ready').expect(200);
          assert.equal(ready.body.details.redis.status, 'degraded');
        }
        assert.ok((await metric(a, 'pii_api_cache_lookups_total', { cache: 'public_key', result: 'unavailable' })) >= 1);
      } finally {
        redis.thaw();
      }
      for (const app of [a, b]) {
        await waitFor('Redis up after the thaw', async () => {
          const ready = await app.http().get('/health/ready');
          assert.equal(ready.body.details?.redis?.status, 'up');
        });
      }
      assert.equal(await metric(a, 'pii_api_circuit_breaker_state', { dependency: 'redis' }), 0);
    });

    it('counts refused tokens against the client IP, and believes X-Forwarded-For only with TRUST_PROXY', async () => {
      // A trusts no proxy: made-up X-Forwarded-For headers do not buy fresh counts.
      const statuses: number[] = [];
      for (let i = 0; i <= LIMIT && statuses.at(-1) !== 429; i++) {
        statuses.push(
          (await a.http().get('/api/v1/keys/1001').auth('not-a-token', bearer).set('X-Forwarded-For', `198.51.100.${i}`)).status,
        );
      }
      assert.equal(statuses.at(-1), 429);
      assert.deepEqual(new Set(statuses.slice(0, -1)), new Set([401]));
      // B sees the same loopback client, blocked in the shared count...
      const blocked = await b.http().get('/api/v1/keys/1001').auth('not-a-token', bearer);
      assert.equal(blocked.status, 429);
      assert.equal(blocked.body.code, 'RATE001');
      // ...but believes its one proxy hop about the client behind it.
      await b.http().get('/api/v1/keys/1001').auth('not-a-token', bearer).set('X-Forwarded-For', '203.0.113.9').expect(401);
    });

    it('logs one JSON line per request with requestId, route, status, duration, sub, client_id and userId, and no secret at all', () => {
      const encrypts = logs.requestLines().filter((line) => line.route === '/api/v1/encrypt' && line.sub === 'cache-caller');
      assert.ok(encrypts.length >= 1);
      const [line] = encrypts;
      assert.equal(line.status, 200);
      assert.equal(line.client_id, LOCAL_CLIENT_ID);
      assert.equal(line.userId, '1001');
      assert.equal(typeof line.requestId, 'string');
      assert.equal(typeof line.duration, 'number');
      logs.assertNothingSecret();
    });
  },
);
