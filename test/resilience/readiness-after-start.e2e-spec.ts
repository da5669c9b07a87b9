import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Response } from 'supertest';
import { PERMISSIONS } from '../../src/common/permissions';
import type { KmsFaultProxy } from '../support/kms-fault-proxy';
import { waitFor } from '../support/processes';
import { AppProcess, LogCapture } from './support/app-process';
import { ProductionParts, startProductionParts } from './support/production-parts';

/** Every KMS operation the service makes: the outage fails them all. */
const KMS_OPERATIONS = ['Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'DescribeKey'];
/** Readiness probes answered while KMS stays down (the outage lasts as long as they take). */
const PROBES_DURING_OUTAGE = 4;

/**
 * Readiness fails for this pod, not for AWS: KMS (and the JWKS) fail every replica alike, so once
 * a process has answered ready they only show as `degraded`; before that they keep it unready.
 * Production configuration: PostgreSQL, KMS and Cognito on a private moto_server, KMS through a
 * proxy that fails every KMS operation on demand.
 */
describe('readiness through a KMS outage — production configuration', { timeout: 300_000 }, () => {
  const logs = new LogCapture();
  let parts: ProductionParts;
  let kms: KmsFaultProxy;
  let env: Record<string, string>;
  const apps: AppProcess[] = [];

  const kmsDown = () => KMS_OPERATIONS.forEach((operation) => kms.failing.add(operation));
  const kmsBack = () => kms.failing.clear();

  before(async () => {
    parts = await startProductionParts();
    kms = parts.kms;
    env = {
      ...parts.env,
      KMS_TIMEOUT_MS: '1000',
      CIRCUIT_BREAKER_RESET_MS: '1000',
    };
  });

  after(async () => {
    kmsBack();
    await Promise.allSettled(apps.map((app) => app.stop()));
    await parts?.stop();
  });

  async function start(): Promise<AppProcess> {
    const app = await AppProcess.start(env, logs);
    apps.push(app);
    return app;
  }

  it('is not ready (503, KMS down) while KMS fails before its first ready answer, and turns ready once KMS answers', async () => {
    // Start-up itself needs KMS; the outage begins before the process was ever asked whether it is ready.
    const app = await start();
    kmsDown();
    try {
      for (let probe = 0; probe < PROBES_DURING_OUTAGE; probe++) {
        const ready = await app.http().get('/health/ready');
        assert.equal(ready.status, 503);
        assert.equal(ready.body.code, 'SYS002');
        assert.equal(ready.body.details.error.keyProvider.status, 'down');
        assert.equal(ready.body.details.details.database.status, 'up');
      }
      await app.http().get('/health/live').expect(200);
    } finally {
      kmsBack();
    }
    await waitFor('ready once KMS answers', async () => {
      const ready = await app.http().get('/health/ready').expect(200);
      assert.equal(ready.body.status, 'ok');
      assert.equal(ready.body.details.keyProvider.status, 'up');
    });
  });

  it('stays ready through a KMS outage after its first ready answer, showing KMS degraded; encrypt and warm decrypt keep working, a cold decrypt answers 503 SYS002', async () => {
    const app = await start();
    await waitFor('ready', () => app.http().get('/health/ready').expect(200));
    const token = await parts.pool.accessToken(PERMISSIONS);
    logs.forbid(token);
    for (const userId of ['3001', '3002']) await app.as(token).post('/api/v1/keys').send({ userId }).expect(201);
    const encrypt = async (userId: string) =>
      (
        await app
          .as(token)
          .post('/api/v1/encrypt')
          .send({ userId, data: [`secret of ${userId}`] })
          .expect(200)
      ).body.encryptedData as string[];
    const [warm, cold] = [await encrypt('3001'), await encrypt('3002')];
    const decrypt = (userId: string, data: string[]) => app.as(token).post('/api/v1/decrypt').send({ userId, data });
    // 3001's private key is now unsealed in the process's cache; 3002's never was.
    assert.deepEqual((await decrypt('3001', warm).expect(200)).body.decryptedData, ['secret of 3001']);

    kmsDown();
    try {
      // The key provider's check is cached for a few seconds: until it runs again readiness shows it up.
      let ready: Response | undefined;
      await waitFor('readiness to see KMS fail', async () => {
        ready = await app.http().get('/health/ready');
        assert.equal(ready.status, 200);
        assert.equal(ready.body.details.keyProvider.status, 'degraded');
      });
      assert.equal(ready!.body.status, 'degraded');
      assert.equal(ready!.body.details.database.status, 'up');
      assert.equal(ready!.body.details.signingKeys.status, 'up');
      assert.deepEqual(Object.keys(ready!.body.error), []);
      for (let probe = 0; probe < PROBES_DURING_OUTAGE; probe++) {
        const again = await app.http().get('/health/ready');
        assert.equal(again.status, 200, 'still ready while KMS is down');
        assert.equal(again.body.details.keyProvider.status, 'degraded');
        await encrypt('3002');
        assert.deepEqual((await decrypt('3001', warm).expect(200)).body.decryptedData, ['secret of 3001']);
        const refused = await decrypt('3002', cold);
        assert.equal(refused.status, 503);
        assert.equal(refused.body.code, 'SYS002');
      }
      await app.http().get('/health/live').expect(200);
      await waitFor('the outage in the log for the operator', async () =>
        assert.ok(logs.lines.some((line) => line.includes('Degraded: keyProvider degraded: '))),
      );
    } finally {
      kmsBack();
    }
    await waitFor('KMS up again in readiness, and the cold decrypt served', async () => {
      const ready = await app.http().get('/health/ready').expect(200);
      assert.equal(ready.body.status, 'ok');
      assert.equal(ready.body.details.keyProvider.status, 'up');
      assert.deepEqual((await decrypt('3002', cold).expect(200)).body.decryptedData, ['secret of 3002']);
    });
  });

  it('logs why KMS failed for the operator, and never a plaintext, ciphertext, key or token', () => {
    assert.ok(logs.lines.some((line) => line.includes('Not ready: keyProvider down: ')));
    logs.assertNothingSecret();
  });
});
