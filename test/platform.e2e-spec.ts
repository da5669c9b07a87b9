import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { awsStack, embeddedStack, Stack } from './support/stacks';

const compiled = (path: string) => join(__dirname, '..', 'src', path);

describe('errors, request ids and docs — embedded stack', () => {
  let stack: Stack;
  before(async () => {
    stack = await embeddedStack.start();
  });
  after(() => stack?.close());

  it('answers an unknown route with the error body and 404 ROUTE001, inside and outside the API prefix', async () => {
    for (const path of ['/nope', '/api/v1/nope']) {
      const response = await stack.http().get(path);
      assert.equal(response.status, 404);
      assert.deepEqual(Object.keys(response.body).sort(), ['code', 'message', 'requestId', 'statusCode']);
      assert.equal(response.body.code, 'ROUTE001');
    }
  });

  it('echoes a well-formed X-Request-Id in the header and the error body, and replaces a bad one', async () => {
    const given = await stack.http().post('/api/v1/encrypt').set('X-Request-Id', 'trace-123').send({});
    assert.equal(given.headers['x-request-id'], 'trace-123');
    assert.equal(given.body.requestId, 'trace-123');
    const bad = await stack.http().get('/health/live').set('X-Request-Id', 'has spaces and <script>');
    assert.match(bad.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  });

  it('refuses malformed JSON with ENC001 without echoing the body', async () => {
    const response = await stack
      .as(await stack.token())
      .post('/api/v1/encrypt')
      .set('Content-Type', 'application/json')
      .send('{"userId":"42","data":["SECRET-MARKER"');
    assert.equal(response.status, 400);
    assert.equal(response.body.code, 'ENC001');
    assert.doesNotMatch(response.text, /SECRET-MARKER/);
  });

  it('refuses a body that is not a JSON object', async () => {
    const response = await stack
      .as(await stack.token())
      .post('/api/v1/keys')
      .send([{ userId: '1' }]);
    assert.equal(response.body.code, 'ENC001');
    assert.match(response.body.message, /JSON object/);
  });

  it('serves Swagger UI and an OpenAPI document with every route, bearer auth and error responses', async () => {
    const ui = await stack.http().get('/docs/');
    assert.equal(ui.status, 200);
    assert.match(ui.text, /swagger-ui/i);
    const { body: openapi } = await stack.http().get('/docs-json');
    for (const [path, method] of [
      ['/api/v1/keys', 'post'],
      ['/api/v1/keys/{userId}', 'get'],
      ['/api/v1/encrypt', 'post'],
      ['/api/v1/decrypt', 'post'],
      ['/health/ready', 'get'],
    ]) {
      assert.ok(openapi.paths[path]?.[method], `${method} ${path} documented`);
    }
    const encrypt = openapi.paths['/api/v1/encrypt'].post;
    assert.deepEqual(encrypt.security, [{ bearer: [] }]);
    for (const status of ['200', '400', '401', '403', '404']) assert.ok(encrypt.responses[status], `encrypt documents ${status}`);
    assert.ok(openapi.components.securitySchemes.bearer);
    assert.ok(openapi.components.schemas.EncryptRequest.properties.data);
  });
});

describe('unexpected errors — embedded stack', () => {
  let stack: Stack;
  before(async () => {
    stack = await embeddedStack.start();
  });
  after(() => stack?.close());

  it('answers 500 SYS001 with no internals when the database misbehaves', async () => {
    const token = await stack.token();
    await stack.as(token).post('/api/v1/keys').send({ userId: '42' });
    await stack.query('ALTER TABLE user_key_history RENAME TO user_key_history_gone');
    const response = await stack.as(token).get('/api/v1/keys/42');
    assert.equal(response.status, 500);
    assert.equal(response.body.code, 'SYS001');
    assert.equal(response.body.message, 'Unexpected error');
    assert.doesNotMatch(response.text, /user_key_history|relation|SELECT|stack/i);
  });
});

describe('health probes — PostgreSQL + KMS on moto_server', () => {
  let stack: Stack & { moto?: { child: import('node:child_process').ChildProcess } };
  before(async () => {
    stack = await awsStack.start();
  });
  after(() => stack?.close());

  it('is live and ready with every dependency up, without a token', async () => {
    assert.equal((await stack.http().get('/health/live')).status, 200);
    const ready = await stack.http().get('/health/ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.details.database.status, 'up');
    assert.equal(ready.body.details.keyProvider.status, 'up');
    assert.equal(ready.body.details.signingKeys.status, 'up');
  });

  it('stays ready once it has been, with KMS shown degraded, while KMS is unreachable; liveness stays 200', async () => {
    stack.moto!.child.kill('SIGSTOP');
    try {
      await new Promise((r) => setTimeout(r, 5100)); // let the cached KMS check expire
      // KMS fails every replica alike: after the first ready answer (above) it degrades readiness, never fails it.
      const ready = await stack.http().get('/health/ready');
      assert.equal(ready.status, 200);
      assert.equal(ready.body.status, 'degraded');
      assert.equal(ready.body.details.keyProvider.status, 'degraded');
      assert.equal(ready.body.details.database.status, 'up');
      assert.equal((await stack.http().get('/health/live')).status, 200);
    } finally {
      stack.moto!.child.kill('SIGCONT');
    }
  });
});

describe('start-up', () => {
  const run = (script: string, env: Record<string, string>) =>
    spawnSync(process.execPath, [compiled(script)], {
      env: { PATH: process.env.PATH!, DATA_DIR: mkdtempSync(join(tmpdir(), 'pii-api-start-')), ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('refuses to start on a bad value, naming the variable, with a non-zero exit', () => {
    const result = run('main.js', { PORT: 'eighty' });
    assert.notEqual(result.status, 0);
    assert.match(result.stdout + result.stderr, /PORT: /);
  });

  it('refuses the embedded defaults in production', () => {
    const result = run('main.js', { NODE_ENV: 'production', KEY_PROVIDER: 'local', AUTH_MODE: 'local' });
    assert.notEqual(result.status, 0);
    const output = result.stdout + result.stderr;
    assert.match(output, /KEY_PROVIDER: "local" is for development only/);
    assert.match(output, /AUTH_MODE: "local" is for development only/);
    assert.match(output, /DATABASE_URL: required/);
  });

  it('npm run token prints a token alone on the last line, which the service accepts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pii-api-token-'));
    const result = spawnSync(process.execPath, [compiled('cli/token.js')], {
      env: { PATH: process.env.PATH!, DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    const token = lines[lines.length - 1];
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const stack = await embeddedStack.start({ DATA_DIR: dataDir });
    try {
      const response = await stack.as(token).post('/api/v1/keys').send({ userId: '42' });
      assert.equal(response.status, 201);
    } finally {
      await stack.close();
    }
  });

  it('npm run token refuses to mint outside local auth mode', () => {
    const result = run('cli/token.js', { AUTH_MODE: 'cognito', COGNITO_USER_POOL_ID: 'ca-central-1_Abc', COGNITO_CLIENT_IDS: 'x' });
    assert.notEqual(result.status, 0);
    assert.equal(result.stdout, '');
  });
});
