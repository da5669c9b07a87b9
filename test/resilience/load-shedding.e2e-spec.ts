import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PERMISSIONS } from '../../src/common/permissions';
import type { KmsFaultProxy } from '../support/kms-fault-proxy';
import { waitFor } from '../support/processes';
import { AppProcess, LogCapture } from './support/app-process';
import { ProductionParts, startProductionParts } from './support/production-parts';
import { metric } from './support/metrics';

const MARKER = `PLAINTEXT-MARKER-${randomUUID()}`;

/**
 * MAX_IN_FLIGHT_REQUESTS=1 in the production configuration: a decrypt whose KMS call the proxy
 * holds unanswered keeps the one slot busy for as long as the test wants, so what happens beyond
 * the bound is observed without depending on timing.
 */
describe('load shedding beyond MAX_IN_FLIGHT_REQUESTS — production configuration', { timeout: 300_000 }, () => {
  const logs = new LogCapture();
  let parts: ProductionParts;
  let kms: KmsFaultProxy;
  let app: AppProcess;
  let token: string;
  let ciphertexts: string[];

  before(async () => {
    logs.forbid(MARKER);
    parts = await startProductionParts();
    kms = parts.kms;
    app = await AppProcess.start(
      {
        ...parts.env,
        KMS_TIMEOUT_MS: '10000',
        // Every decrypt calls KMS, so a held KMS call holds the request.
        PRIVATE_KEY_CACHE_SECONDS: '0',
        MAX_IN_FLIGHT_REQUESTS: '1',
      },
      logs,
    );
    token = await parts.pool.accessToken(PERMISSIONS);
    logs.forbid(token);
    await app.as(token).post('/api/v1/keys').send({ userId: '3001' }).expect(201);
    ({ encryptedData: ciphertexts } = (
      await app
        .as(token)
        .post('/api/v1/encrypt')
        .send({ userId: '3001', data: [MARKER] })
        .expect(200)
    ).body);
    logs.forbid(...ciphertexts);
  });

  after(async () => {
    kms?.release();
    await app?.stop();
    await parts?.stop();
  });

  it('refuses requests beyond the bound at once with 503 SYS002 and Retry-After, counts them, stays ready, and serves again once the slot is free', async () => {
    const decryptsBefore = kms.calls.filter((call) => call === 'Decrypt').length;
    kms.hold('Decrypt');
    let held: Promise<import('supertest').Response> | undefined;
    try {
      held = app
        .as(token)
        .post('/api/v1/decrypt')
        .send({ userId: '3001', data: ciphertexts })
        .then((response) => response);
      await waitFor('the decrypt to wait on KMS', async () =>
        assert.ok(kms.calls.filter((call) => call === 'Decrypt').length > decryptsBefore),
      );

      const shed = await app
        .as(token)
        .post('/api/v1/encrypt')
        .set('X-Request-Id', 'shed-1')
        .send({ userId: '3001', data: ['more'] });
      assert.equal(shed.status, 503);
      assert.deepEqual(shed.body, {
        statusCode: 503,
        code: 'SYS002',
        message: 'The service is at its limit of requests in flight; retry after 1 s',
        requestId: 'shed-1',
      });
      assert.equal(shed.headers['retry-after'], '1');
      assert.equal(await metric(app, 'pii_api_http_requests_shed_total'), 1);

      // Probes and scrapes are never shed: the pod stays ready, so the autoscaler, not the balancer, answers load.
      const ready = await app.http().get('/health/ready');
      assert.equal(ready.status, 200);
      assert.equal(ready.body.details.keyProvider.status, 'up');
      await app.http().get('/health/live').expect(200);
    } finally {
      kms.release();
    }
    const answered = await held!;
    assert.equal(answered.status, 200);
    assert.deepEqual(answered.body.decryptedData, [MARKER]);
    await app
      .as(token)
      .post('/api/v1/encrypt')
      .send({ userId: '3001', data: ['after'] })
      .expect(200);
    assert.equal(await metric(app, 'pii_api_http_requests_shed_total'), 1);
  });

  it('never logs a plaintext, ciphertext, key or token', () => {
    assert.ok(logs.requestLines().some((line) => line.route === '/api/v1/decrypt' && line.status === 200));
    logs.assertNothingSecret();
  });
});
