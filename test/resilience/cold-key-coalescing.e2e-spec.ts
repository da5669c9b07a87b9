import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Response } from 'supertest';
import { KMS_MAX_ATTEMPTS } from '../../src/common/limits';
import { PERMISSIONS } from '../../src/common/permissions';
import type { KmsFaultProxy } from '../support/kms-fault-proxy';
import { waitFor } from '../support/processes';
import { AppProcess, LogCapture } from './support/app-process';
import { metric } from './support/metrics';
import { ProductionParts, startProductionParts } from './support/production-parts';

const BURST = 500;

/**
 * A burst of concurrent requests for one person on a replica that has just started (its caches
 * cold, as after every deploy), in the production configuration: PostgreSQL, KMS and Cognito on
 * moto_server, KMS reached through a proxy that counts and can throttle its calls. Each test
 * starts a fresh process, so its private-key cache holds nothing.
 */
describe('one KMS call per cold key, however many requests want it — production configuration', { timeout: 300_000 }, () => {
  const logs = new LogCapture();
  let parts: ProductionParts;
  let kms: KmsFaultProxy;
  let env: Record<string, string>;
  let token: string;
  let ciphertexts: string[];
  const running: AppProcess[] = [];

  const decrypts = () => kms.calls.filter((call) => call === 'Decrypt').length;
  const coldReplica = async () => {
    const app = await AppProcess.start(env, logs);
    running.push(app);
    return app;
  };
  const burst = (app: AppProcess, body: object, path = '/api/v1/decrypt'): Promise<Response[]> =>
    Promise.all(
      Array.from({ length: BURST }, () =>
        app
          .as(token)
          .post(path)
          .send(body)
          .then((response) => response),
      ),
    );

  before(async () => {
    parts = await startProductionParts();
    kms = parts.kms;
    env = {
      ...parts.env,
      // One caller sends the whole burst: the per-caller limit is not what is tested here.
      RATE_LIMIT_PER_MINUTE: '100000',
      DUAL_CONTROL: 'off',
    };
    token = await parts.pool.accessToken(PERMISSIONS);
    logs.forbid(token);
    const writer = await coldReplica();
    await writer.as(token).post('/api/v1/keys').send({ userId: '4001' }).expect(201);
    ciphertexts = (
      await writer
        .as(token)
        .post('/api/v1/encrypt')
        .send({ userId: '4001', data: Array.from({ length: 10 }, (_, i) => `item ${i}`) })
        .expect(200)
    ).body.encryptedData;
    logs.forbid(...ciphertexts);
    await writer
      .as(token)
      .post('/api/v1/indexes')
      .send({ name: 'sin', normalisation: 'digits', outputBits: 16, expectedCardinality: 1_000_000 })
      .expect(201);
  });

  after(async () => {
    kms?.release();
    await Promise.all(running.map((app) => app.stop()));
    await parts?.stop();
  });

  it(`answers ${BURST} concurrent decrypts of one person on a cold replica with exactly one KMS Decrypt`, async () => {
    const app = await coldReplica();
    const before = decrypts();
    const answers = await burst(app, { userId: '4001', data: ciphertexts });
    assert.deepEqual(
      answers.filter((answer) => answer.status !== 200).map((answer) => `${answer.status} ${answer.body.code}`),
      [],
    );
    for (const answer of answers) assert.equal(answer.body.decryptedData[9], 'item 9');
    assert.equal(decrypts() - before, 1);
    // Those that arrived while the one unseal was in flight waited for it; the rest found it cached.
    const waited = await metric(app, 'pii_api_coalesced_waits_total', { cache: 'private_key' });
    assert.ok(waited >= 1 && waited < BURST, `coalesced waits: ${waited}`);
  });

  it(`opens a cold blind-index key once for ${BURST} concurrent index requests`, async () => {
    const app = await coldReplica();
    const before = decrypts();
    const answers = await burst(app, { data: ['046 454 286'] }, '/api/v1/indexes/sin');
    assert.deepEqual([...new Set(answers.map((answer) => answer.status))], [200]);
    assert.equal(new Set(answers.map((answer) => answer.body.indexes[0])).size, 1);
    assert.equal(decrypts() - before, 1);
  });

  it('with KMS throttling for a second, backs off once for the whole burst and answers every request 200 or 503 with Retry-After, never 500', async () => {
    const app = await coldReplica();
    const before = decrypts();
    const retriesBefore = await metric(app, 'pii_api_dependency_retries_total', { dependency: 'kms' });
    // The one unseal is held at KMS until every request of the burst waits for it…
    kms.hold('Decrypt');
    const answers = burst(app, { userId: '4001', data: ciphertexts });
    await waitFor(
      'every request to wait for the one unseal',
      async () => assert.equal(await metric(app, 'pii_api_coalesced_waits_total', { cache: 'private_key' }), BURST - 1),
      60_000,
    );
    // …then KMS throttles it, for one second.
    kms.throttling.add('Decrypt');
    kms.release();
    setTimeout(() => kms.throttling.delete('Decrypt'), 1000);
    const answered = await answers;

    const unexpected = answered.filter((answer) => !(answer.status === 200 || (answer.status === 503 && answer.body.code === 'SYS002')));
    assert.deepEqual(
      unexpected.map((answer) => `${answer.status} ${answer.body.code}`),
      [],
    );
    for (const answer of answered.filter((each) => each.status === 503)) assert.match(String(answer.headers['retry-after']), /^[1-9]\d*$/);
    // One unseal's attempts (its back-off included), not one per request.
    assert.ok(decrypts() - before <= KMS_MAX_ATTEMPTS, `KMS Decrypt calls: ${decrypts() - before}`);
    const retries = (await metric(app, 'pii_api_dependency_retries_total', { dependency: 'kms' })) - retriesBefore;
    assert.ok(retries <= KMS_MAX_ATTEMPTS - 1, `KMS retries: ${retries}`);
    // Nothing failed is remembered: once KMS is back, the next request unseals again and is answered.
    await waitFor('KMS to answer again', async () => {
      const answer = await app.as(token).post('/api/v1/decrypt').send({ userId: '4001', data: ciphertexts });
      assert.equal(answer.status, 200);
    });
  });

  it('never logs a plaintext, ciphertext or token', () => {
    logs.assertNothingSecret();
  });
});
