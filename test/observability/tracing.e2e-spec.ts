import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { SamplingDecision, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { LocalIssuer } from '../../src/auth/signing-keys';
import { PERMISSIONS } from '../../src/common/permissions';
import { AppProcess, LogCapture } from '../resilience/support/app-process';
import { RedisServer } from '../resilience/support/redis-server';
import { CognitoPool, Moto, MOTO_REGION } from '../support/moto';
import { TestDatabase } from '../support/postgres';
import { ancestors, CapturedSpan, OtlpReceiver, spansToJson } from './support/otlp-receiver';

const MARKER = `PLAINTEXT-MARKER-${randomUUID()}`;
const ITEMS = 5;
const SERVER = 2;
const CLIENT = 3;

/** Where the captured /decrypt traces go (scripts/trace-waterfall.js draws docs/observability's picture from one). */
const TRACE_DIR = join(process.env.TEST_LOG_DIR ? dirname(process.env.TEST_LOG_DIR) : join(__dirname, '..', '..'), 'traces');

interface TracedService {
  app: AppProcess;
  token: string;
  /** Spans this stack must show under the request's server span, besides the envelope's. */
  dependencies: Array<{ what: string; match: (span: CapturedSpan) => boolean }>;
  stop(): Promise<void>;
}

const isPg = (span: CapturedSpan) => span.scope.includes('instrumentation-pg');
const isRedis = (span: CapturedSpan) => span.scope.includes('instrumentation-redis');
const isKmsDecrypt = (span: CapturedSpan) => span.scope.includes('instrumentation-aws-sdk') && span.attributes['rpc.method'] === 'Decrypt';

/** OTEL_* as an operator sets them, with a short batch delay so the test need not wait long. */
function tracingEnv(receiver: OtlpReceiver): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'pii-api-under-test',
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    LOG_LEVEL: 'info',
  };
}

async function embedded(receiver: OtlpReceiver, logs: LogCapture, env: Record<string, string> = {}): Promise<TracedService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pii-api-tracing-'));
  const app = await AppProcess.start({ ...tracingEnv(receiver), DATA_DIR: dataDir, ...env }, logs);
  const token = (await LocalIssuer.open(dataDir)).mint(600);
  return {
    app,
    token,
    dependencies: [{ what: 'a PostgreSQL query (embedded PGlite over the wire protocol)', match: isPg }],
    async stop() {
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function aws(receiver: OtlpReceiver, logs: LogCapture, env: Record<string, string> = {}): Promise<TracedService> {
  const [moto, database, redis] = await Promise.all([Moto.start(), TestDatabase.create(), RedisServer.start()]);
  const kmsKeyId = await moto.createKmsKey();
  const pool: CognitoPool = await moto.createCognitoPool();
  const app = await AppProcess.start(
    {
      ...tracingEnv(receiver),
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      KEY_PROVIDER: 'kms',
      KMS_KEY_ID: kmsKeyId,
      KMS_ENDPOINT: moto.endpoint,
      AWS_REGION: MOTO_REGION,
      AUTH_MODE: 'cognito',
      COGNITO_REGION: MOTO_REGION,
      COGNITO_USER_POOL_ID: pool.poolId,
      COGNITO_CLIENT_IDS: pool.clientId,
      COGNITO_JWKS_URI: pool.jwksUri,
      ...env,
    },
    logs,
  );
  const token = await pool.accessToken(PERMISSIONS);
  return {
    app,
    token,
    dependencies: [
      { what: 'a PostgreSQL query', match: isPg },
      { what: 'a Redis command', match: isRedis },
      { what: 'the KMS Decrypt call', match: isKmsDecrypt },
    ],
    async stop() {
      await app.stop();
      await Promise.all([moto.stop(), database.drop(), redis.stop()]);
    },
  };
}

const STACKS = [
  { name: 'embedded (PGlite, local key provider, local issuer)', file: 'embedded', start: embedded },
  { name: 'PostgreSQL + Redis + KMS and Cognito on moto_server', file: 'aws', start: aws },
];

for (const stack of STACKS) {
  describe(`Tracing with OTEL_EXPORTER_OTLP_ENDPOINT set, ${stack.name}`, { timeout: 240_000 }, () => {
    const logs = new LogCapture();
    let receiver: OtlpReceiver;
    let service: TracedService;
    let ciphertexts: string[];
    // The caller's own trace: the service must continue it.
    const callerTraceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const requestId = randomUUID();
    let decryptSpans: CapturedSpan[];

    before(async () => {
      logs.forbid(MARKER);
      receiver = await OtlpReceiver.start();
      service = await stack.start(receiver, logs);
      logs.forbid(service.token);
      const caller = service.app.as(service.token);
      await caller.post('/api/v1/keys').send({ userId: '4242' }).expect(201);
      const encrypted = await caller
        .post('/api/v1/encrypt')
        .send({ userId: '4242', data: Array(ITEMS).fill(MARKER) })
        .expect(200);
      ciphertexts = encrypted.body.encryptedData;
      logs.forbid(...ciphertexts);
      const decrypted = await caller
        .post('/api/v1/decrypt')
        .set('traceparent', `00-${callerTraceId}-${callerSpanId}-01`)
        .set('X-Request-Id', requestId)
        .send({ userId: '4242', data: ciphertexts, purpose: 'tracing test' })
        .expect(200);
      assert.deepEqual(decrypted.body.decryptedData, Array(ITEMS).fill(MARKER));
      decryptSpans = await receiver.waitForTrace(
        callerTraceId,
        (spans) =>
          ['envelope.decrypt', 'crypto.decrypt'].every((name) => spans.some((span) => span.name === name)) &&
          spans.some((span) => span.kind === SERVER && span.endNs > 0n) &&
          service.dependencies.every((dependency) => spans.some(dependency.match)),
      );
      mkdirSync(TRACE_DIR, { recursive: true });
      writeFileSync(join(TRACE_DIR, `decrypt-${stack.file}.json`), spansToJson(decryptSpans));
    });

    after(async () => {
      await service?.stop();
      await receiver?.stop();
    });

    it("continues the caller's traceparent: the request's server span is a child of the caller's span", () => {
      const server = decryptSpans.filter((span) => span.kind === SERVER);
      assert.equal(server.length, 1, 'one server span for the request');
      assert.equal(server[0].parentSpanId, callerSpanId);
      assert.equal(server[0].service, 'pii-api-under-test');
      assert.equal(server[0].attributes['http.route'] ?? server[0].attributes['http.target'], '/api/v1/decrypt');
    });

    it('nests the route handler, the envelope and every dependency call under the request span', () => {
      const [server] = decryptSpans.filter((span) => span.kind === SERVER);
      const under = (span: CapturedSpan) => ancestors(decryptSpans, span).some((ancestor) => ancestor.spanId === server.spanId);
      const handler = decryptSpans.find(
        (span) => span.scope.includes('instrumentation-express') && span.attributes['express.type'] === 'request_handler',
      );
      assert.ok(handler, 'the express route handler span');
      assert.equal(handler.parentSpanId, server.spanId);
      assert.equal(handler.attributes['http.route'], '/api/v1/decrypt');

      const operation = decryptSpans.find((span) => span.name === 'crypto.decrypt')!;
      const envelope = decryptSpans.find((span) => span.name === 'envelope.decrypt')!;
      assert.ok(
        ancestors(decryptSpans, operation).some((ancestor) => ancestor.spanId === handler.spanId),
        'the decrypt runs inside the route handler',
      );
      assert.equal(envelope.parentSpanId, operation.spanId, 'the envelope work is a child of the decrypt operation');
      for (const span of [operation, envelope]) {
        assert.equal(span.attributes['pii.batch.items'], ITEMS);
        assert.deepEqual(span.attributes['pii.key.versions'], [1]);
      }
      for (const dependency of service.dependencies) {
        const spans = decryptSpans.filter(dependency.match);
        assert.ok(spans.length > 0, `${dependency.what} in the trace`);
        assert.ok(spans.every(under), `${dependency.what} under the request span`);
      }
      const kms = decryptSpans.filter(isKmsDecrypt);
      for (const span of kms) {
        assert.equal(span.kind, CLIENT);
        assert.ok(
          ancestors(decryptSpans, span).some((a) => a.spanId === operation.spanId),
          'KMS is called inside the decrypt operation',
        );
      }
    });

    it('records SQL as statement text with placeholders, never the parameter values', () => {
      const statements = decryptSpans
        .filter(isPg)
        .map((span) => String(span.attributes['db.query.text'] ?? span.attributes['db.statement'] ?? ''));
      assert.ok(
        statements.some((text) => /\$1/.test(text)),
        'a parameterised statement',
      );
      for (const span of decryptSpans.filter(isPg)) {
        assert.ok(
          !Object.keys(span.attributes).some((key) => /param|values/.test(key)),
          `no parameter attribute: ${Object.keys(span.attributes)}`,
        );
      }
    });

    it('sends no plaintext, ciphertext, key or token to the collector', () => {
      const everything = receiver.bodies.join('\n');
      assert.ok(receiver.bodies.length > 0);
      assert.ok(!everything.includes(MARKER), 'the plaintext marker left the service in a span');
      assert.doesNotMatch(everything, /ek[12]:/, 'a ciphertext in a span');
      assert.doesNotMatch(everything, /-----BEGIN [A-Z ]*KEY-----/, 'a PEM key in a span');
      assert.doesNotMatch(everything, /eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}/, 'a token in a span');
      assert.ok(!everything.includes(service.token));
      for (const ciphertext of ciphertexts) assert.ok(!everything.includes(ciphertext.slice(-40)));
      assert.doesNotMatch(everything, /authorization/i, 'a request header in a span');
    });

    it("writes the trace id on the request's log lines and in its audit event", async () => {
      const line = logs.requestLines().find((entry) => entry.requestId === requestId);
      assert.ok(line, 'the request line of the traced /decrypt');
      assert.equal(line.traceId, callerTraceId);
      assert.match(String(line.spanId), /^[0-9a-f]{16}$/);

      const { body } = await service.app.as(service.token).get('/api/v1/audit').query({ action: 'decrypt', limit: 50 }).expect(200);
      const event = body.events.find((candidate: { requestId: string }) => candidate.requestId === requestId);
      assert.ok(event, 'the audit event of the traced /decrypt');
      assert.equal(event.traceId, callerTraceId);
      // The trace id is part of the event's hash, and the chain still verifies.
      const verify = await service.app.as(service.token).get('/api/v1/audit/verify').expect(200);
      assert.equal(verify.body.ok, true);
    });

    it('starts a new trace for a request without traceparent, and traces no health probe', async () => {
      const before = new Set(receiver.spans.map((span) => span.traceId));
      const answer = await service.app
        .as(service.token)
        .post('/api/v1/encrypt')
        .send({ userId: '4242', data: ['x'] })
        .expect(200);
      logs.forbid(...answer.body.encryptedData);
      await service.app.http().get('/health/ready').expect(200);
      await service.app.http().get('/metrics').expect(200);
      const arrived = (name: string) => receiver.spans.some((span) => !before.has(span.traceId) && span.name === name);
      await receiver.waitForTrace('', () => arrived('envelope.encrypt') && arrived('POST /api/v1/encrypt'));
      const fresh = receiver.spans.filter((span) => !before.has(span.traceId));
      const server = fresh.filter((span) => span.kind === SERVER);
      assert.ok(server.length >= 1);
      assert.ok(
        server.every((span) => span.parentSpanId === undefined),
        'a root span: no caller trace to continue',
      );
      assert.ok(
        !server.some((span) => /health|metrics/.test(String(span.attributes['http.target'] ?? span.attributes['url.path'] ?? span.name))),
      );
      const encrypt = fresh.find((span) => span.name === 'envelope.encrypt')!;
      assert.equal(encrypt.attributes['pii.batch.items'], 1);
    });

    it('never logs a secret meanwhile', () => {
      assert.ok(logs.requestLines().length > 0);
      logs.assertNothingSecret();
    });
  });
}

/** The edge's ratio in the sampling suites: one request in a million without trace context is kept. */
const RATIO = 0.000001;
const byRatio = new TraceIdRatioBasedSampler(RATIO);
const ratioKeeps = (traceId: string) => byRatio.shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED;

/** A random trace id the ratio keeps: the SDK's ratio sampler reads the id as four 32-bit words XORed together, kept when small. */
function traceIdTheRatioKeeps(): string {
  const words = [0, 1, 2].map(() => randomBytes(4).readUInt32BE());
  const last = (words[0] ^ words[1] ^ words[2] ^ 1) >>> 0;
  const traceId = [...words, last].map((word) => word.toString(16).padStart(8, '0')).join('');
  assert.ok(ratioKeeps(traceId), `the ratio keeps ${traceId}`);
  return traceId;
}

/** A random trace id the ratio leaves out (nearly all are). */
function traceIdTheRatioRefuses(): string {
  for (;;) {
    const traceId = randomBytes(16).toString('hex');
    if (!ratioKeeps(traceId)) return traceId;
  }
}

for (const stack of STACKS) {
  describe(`Sampling decided at the edge (parentbased_traceidratio), ${stack.name}`, { timeout: 240_000 }, () => {
    const logs = new LogCapture();
    let receiver: OtlpReceiver;
    let service: TracedService;

    before(async () => {
      receiver = await OtlpReceiver.start();
      // A ratio so small that every request without trace context is one it does not sample.
      service = await stack.start(receiver, logs, {
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: String(RATIO),
      });
      logs.forbid(service.token);
    });

    after(async () => {
      await service?.stop();
      await receiver?.stop();
    });

    it("exports no span for a request the ratio leaves out, nor for a caller's sampled request whose trace the ratio leaves out; traces in full one it keeps", async () => {
      const caller = service.app.as(service.token);
      const unsampledId = randomUUID();
      await caller.post('/api/v1/keys').send({ userId: '4343' }).expect(201);
      const encrypted = await caller
        .post('/api/v1/encrypt')
        .send({ userId: '4343', data: [MARKER] })
        .expect(200);
      logs.forbid(...encrypted.body.encryptedData);
      await caller
        .post('/api/v1/decrypt')
        .set('X-Request-Id', unsampledId)
        .send({ userId: '4343', data: encrypted.body.encryptedData, purpose: 'sampling test' })
        .expect(200);

      // The caller says "sampled", but the service's own ratio decides: this trace id is one it leaves out.
      const overruledTraceId = traceIdTheRatioRefuses();
      const overruledId = randomUUID();
      await caller
        .post('/api/v1/decrypt')
        .set('traceparent', `00-${overruledTraceId}-${randomBytes(8).toString('hex')}-01`)
        .set('X-Request-Id', overruledId)
        .send({ userId: '4343', data: encrypted.body.encryptedData, purpose: 'sampling test' })
        .expect(200);

      // This one the ratio keeps, as it would keep a root with this trace id: traced, and the sign that the exports above have arrived.
      const callerTraceId = traceIdTheRatioKeeps();
      const sampledId = randomUUID();
      await caller
        .post('/api/v1/decrypt')
        .set('traceparent', `00-${callerTraceId}-${randomBytes(8).toString('hex')}-01`)
        .set('X-Request-Id', sampledId)
        .send({ userId: '4343', data: encrypted.body.encryptedData, purpose: 'sampling test' })
        .expect(200);
      const spans = await receiver.waitForTrace(
        callerTraceId,
        (trace) =>
          trace.some((span) => span.name === 'envelope.decrypt') &&
          trace.some((span) => span.kind === SERVER && span.endNs > 0n) &&
          trace.some(isPg),
      );
      // (The private key is cached by the first decrypt, so this one calls no KMS.)
      assert.ok(spans.length > 3, 'the sampled request arrives with its children');
      const others = receiver.spans.filter((span) => span.traceId !== callerTraceId);
      assert.deepEqual(
        others.map((span) => `${span.scope} ${span.name}`),
        [],
        'spans of requests the ratio left out, sampled by their caller or not (or of anything else)',
      );
      assert.ok(!receiver.bodies.join('\n').includes(overruledTraceId), "the overruled caller's trace id reached the collector");
      const lines = logs.requestLines();
      assert.equal(lines.find((line) => line.requestId === sampledId)?.traceId, callerTraceId);
      const unsampled = lines.find((line) => line.requestId === unsampledId);
      assert.ok(unsampled, 'the request line of the unsampled /decrypt');
      assert.equal(unsampled.traceId, undefined, 'no trace id that leads to no trace');
      // The overruled request joins its caller's trace in the logs, as one the caller marked unsampled does.
      assert.equal(lines.find((line) => line.requestId === overruledId)?.traceId, overruledTraceId);
    });
  });
}
