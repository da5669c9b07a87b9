import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PERMISSIONS } from '../../src/common/permissions';
import { KMS_MAX_ATTEMPTS } from '../../src/common/limits';
import { DENIED_ACCOUNT, KmsFaultProxy } from '../support/kms-fault-proxy';
import { waitFor } from '../support/processes';
import { AppProcess, LogCapture } from './support/app-process';
import { ProductionParts, startProductionParts } from './support/production-parts';
import { metric } from './support/metrics';

const MARKER = `PLAINTEXT-MARKER-${randomUUID()}`;

/**
 * The production configuration (NODE_ENV=production): PostgreSQL, KMS and Cognito on a private
 * moto_server, KMS reached through a proxy that can fail operations, the in-process private-key
 * cache off so that every decrypt calls KMS.
 */
describe('KMS faults, metrics, hardening and graceful shutdown — production configuration', { timeout: 300_000 }, () => {
  const logs = new LogCapture();
  let parts: ProductionParts;
  let kms: KmsFaultProxy;
  let env: Record<string, string>;
  let app: AppProcess;
  let token: string;
  let ciphertexts: string[];

  const freezeKms = () => parts.moto.child.kill('SIGSTOP');
  const thawKms = () => parts?.moto.child.kill('SIGCONT');
  const decrypt = (target: AppProcess = app) => target.as(token).post('/api/v1/decrypt').send({ userId: '2001', data: ciphertexts });

  before(async () => {
    logs.forbid(MARKER);
    parts = await startProductionParts();
    kms = parts.kms;
    env = {
      ...parts.env,
      KMS_TIMEOUT_MS: '1000',
      CIRCUIT_BREAKER_RESET_MS: '1000',
      PRIVATE_KEY_CACHE_SECONDS: '0',
      ROTATION_CRON: '* * * * * *', // every second: no key is due, but each run is counted
    };
    app = await AppProcess.start(env, logs);
    token = await parts.pool.accessToken(PERMISSIONS);
    logs.forbid(token);
    await app.as(token).post('/api/v1/keys').send({ userId: '2001' }).expect(201);
    await app.as(token).post('/api/v1/keys').send({ userId: '2002' }).expect(201);
    ({ encryptedData: ciphertexts } = (
      await app
        .as(token)
        .post('/api/v1/encrypt')
        .send({ userId: '2001', data: [MARKER] })
        .expect(200)
    ).body);
    logs.forbid(...ciphertexts);
  });

  after(async () => {
    thawKms();
    await app?.stop();
    await parts?.stop();
  });

  // The process has not answered ready yet (start-up polls liveness only): KMS failing keeps it unready.
  it('keeps encrypting while KMS hangs; decrypt and key creation get 503 SYS002; not ready, still live', async () => {
    freezeKms();
    try {
      for (const userId of ['2001', '2002']) {
        await app
          .as(token)
          .post('/api/v1/encrypt')
          .send({ userId, data: ['still works'] })
          .expect(200);
      }
      const refused = await decrypt();
      assert.equal(refused.status, 503);
      assert.equal(refused.body.code, 'SYS002');
      assert.doesNotMatch(refused.text, /Timeout|moto|127\.0\.0\.1|stack/i);
      const create = await app.as(token).post('/api/v1/keys').send({ userId: '2003' });
      assert.equal(create.status, 503);
      assert.equal(create.body.code, 'SYS002');
      const ready = await app.http().get('/health/ready');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.details.error.keyProvider.status, 'down');
      await app.http().get('/health/live').expect(200);
      assert.ok((await metric(app, 'pii_api_kms_requests_total', { operation: 'Decrypt', outcome: 'timeout' })) >= 1);
    } finally {
      thawKms();
    }
  });

  it('opens the circuit breaker after repeated KMS failures and then fails fast without calling KMS', async () => {
    kms.failing.add('Decrypt');
    try {
      await waitFor('the KMS breaker to open', async () => {
        await decrypt().expect(503);
        assert.equal(await metric(app, 'pii_api_circuit_breaker_state', { dependency: 'kms' }), 1);
      });
      const callsBefore = kms.calls.length;
      const rejectedBefore = await metric(app, 'pii_api_kms_requests_total', { operation: 'Decrypt', outcome: 'rejected' });
      const refused = await decrypt();
      assert.equal(refused.status, 503);
      assert.equal(refused.body.code, 'SYS002');
      assert.equal(kms.calls.length, callsBefore, 'no call reached KMS while the breaker was open');
      assert.equal(await metric(app, 'pii_api_kms_requests_total', { operation: 'Decrypt', outcome: 'rejected' }), rejectedBefore + 1);
    } finally {
      kms.failing.delete('Decrypt');
    }
  });

  it('recovers by itself once KMS answers again, without a restart', async () => {
    await waitFor('decrypt to work again', async () => {
      const { body } = await decrypt().expect(200);
      assert.deepEqual(body.decryptedData, [MARKER]);
    });
    assert.equal(await metric(app, 'pii_api_circuit_breaker_state', { dependency: 'kms' }), 0);
    await app.as(token).post('/api/v1/keys').send({ userId: '2003' }).expect(201);
    await waitFor('ready again', () => app.http().get('/health/ready').expect(200));
  });

  it("answers KMS degraded without KMS's error text (an AccessDenied naming the role's and the key's ARNs), which is logged instead", async () => {
    kms.denying.add('DescribeKey');
    try {
      let degraded: import('supertest').Response | undefined;
      // The key provider's check is cached for a few seconds: until it runs again readiness still shows it up.
      // The process has answered ready before (above), so KMS failing degrades readiness instead of failing it.
      await waitFor('readiness to see the refused DescribeKey', async () => {
        degraded = await app.http().get('/health/ready');
        assert.equal(degraded.status, 200);
        assert.equal(degraded.body.details.keyProvider.status, 'degraded');
      });
      assert.equal(degraded!.body.status, 'degraded');
      assert.equal(degraded!.body.details.database.status, 'up');
      assert.doesNotMatch(degraded!.text, new RegExp(`arn:aws|${DENIED_ACCOUNT}|AccessDenied|not authorized|assumed-role`));
      for (const check of Object.values<Record<string, unknown>>(degraded!.body.details)) {
        assert.ok(
          Object.entries(check).every(([name, value]) => name === 'status' || typeof value === 'number'),
          `a check shows its status and numbers only: ${JSON.stringify(check)}`,
        );
      }
      // The log line travels through the process's stdout: it may arrive after the answer.
      await waitFor('the refusal, with its ARNs, in the log for the operator', async () =>
        assert.ok(
          logs.lines.some((line) => line.includes('Degraded: keyProvider degraded: User: arn:aws:sts::') && line.includes(':key/')),
        ),
      );
    } finally {
      kms.denying.delete('DescribeKey');
    }
    await waitFor('KMS up again in readiness', async () =>
      assert.equal((await app.http().get('/health/ready').expect(200)).body.details.keyProvider.status, 'up'),
    );
  });

  it(`retries a KMS 5xx at most ${KMS_MAX_ATTEMPTS} times in all, then answers SYS002`, async () => {
    kms.failing.add('Decrypt');
    const before = kms.calls.filter((call) => call === 'Decrypt').length;
    try {
      const refused = await decrypt();
      assert.equal(refused.status, 503);
      assert.equal(refused.body.code, 'SYS002');
    } finally {
      kms.failing.delete('Decrypt');
    }
    assert.equal(kms.calls.filter((call) => call === 'Decrypt').length - before, KMS_MAX_ATTEMPTS);
    await decrypt().expect(200);
  });

  it('serves Prometheus metrics without a token: requests by route and status, KMS calls, cache, breakers, rotation', async () => {
    await app.as(token).post('/api/v1/rotate').send({ userId: '2002', data: [], reason: 'manual' }).expect(200);
    assert.equal(await metric(app, 'pii_api_keys_rotated_total', { reason: 'manual' }), 1);
    await waitFor('a scheduled rotation run', async () =>
      assert.ok((await metric(app, 'pii_api_rotation_job_runs_total', { outcome: 'success' })) >= 1),
    );
    const response = await app.http().get('/metrics').expect(200);
    assert.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const text = response.text;
    assert.match(text, /pii_api_http_requests_total\{method="POST",route="\/api\/v1\/decrypt",status="200"\} \d+/);
    assert.match(
      text,
      /pii_api_http_request_duration_seconds_bucket\{le="0\.1",method="POST",route="\/api\/v1\/encrypt",status="200"\} \d+/,
    );
    assert.match(text, /pii_api_kms_requests_total\{operation="Encrypt",outcome="success"\} \d+/);
    assert.match(text, /pii_api_kms_request_duration_seconds_count\{operation="Decrypt"\} \d+/);
    assert.match(text, /pii_api_cache_lookups_total\{cache="public_key",result="(hit|miss)"\} \d+/);
    assert.match(text, /pii_api_circuit_breaker_state\{dependency="kms"\} 0/);
    assert.match(text, /# TYPE pii_api_rotation_job_runs_total counter/);
    assert.match(text, /# TYPE pii_api_keys_rotated_total counter/);
    assert.doesNotMatch(text, /route="\/api\/v1\/keys\/2001"/, 'routes are templates, never paths with user ids');
  });

  it('hardens HTTP: helmet headers, no CORS unless configured, no Swagger in production', async () => {
    const response = await app.http().get('/health/live').set('Origin', 'https://evil.example').expect(200);
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
    assert.match(response.headers['strict-transport-security'], /max-age=/);
    assert.match(response.headers['content-security-policy'], /default-src 'self'/);
    assert.equal(response.headers['access-control-allow-origin'], undefined);
    assert.equal(response.headers['x-powered-by'], undefined);
    assert.equal((await app.http().get('/docs')).status, 404);
    assert.equal((await app.http().get('/docs-json')).status, 404);
  });

  it('on SIGTERM turns not ready at once, still answers the request in flight, closes and exits 0', async () => {
    // SHUTDOWN_DELAY_MS: the process keeps its listener (and answers readiness 503) for 5 s after SIGTERM.
    const slowApp = await AppProcess.start(
      { ...env, KMS_TIMEOUT_MS: '10000', SHUTDOWN_DELAY_MS: '5000', SHUTDOWN_GRACE_MS: '20000' },
      logs,
    );
    await slowApp.as(token).get('/api/v1/keys/2001').expect(200); // fetches Cognito's JWKS while moto answers
    const callsBefore = kms.calls.length;
    freezeKms();
    let slow: Promise<import('supertest').Response> | undefined;
    try {
      slow = decrypt(slowApp).then((response) => response);
      await waitFor('the decrypt to wait on KMS', async () => assert.ok(kms.calls.length > callsBefore));
      slowApp.signal('SIGTERM');
      await waitFor('readiness to turn 503', async () => {
        const ready = await slowApp.http().get('/health/ready');
        assert.equal(ready.status, 503);
        assert.equal(ready.body.code, 'SYS002');
      });
      await slowApp.http().get('/health/live').expect(200);
    } finally {
      thawKms();
    }
    const answered = await slow!;
    assert.equal(answered.status, 200);
    assert.deepEqual(answered.body.decryptedData, [MARKER]);
    assert.equal(await slowApp.exited, 0);
    assert.ok(logs.lines.some((line) => line.includes('Stopped: requests finished, connections closed')));
  });

  it('never logs a plaintext, ciphertext, key or token, through every fault above', () => {
    assert.ok(logs.requestLines().some((line) => line.status === 503 && line.route === '/api/v1/decrypt'));
    logs.assertNothingSecret();
  });
});
