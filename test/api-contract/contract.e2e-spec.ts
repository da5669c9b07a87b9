import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Operation } from 'openapi-backend';
import request from 'supertest';
import { ERROR_CODES, type ErrorCode } from '../../src/common/error-codes';
import { USER_ID_PATTERN } from '../../src/common/user-id';
import { maxAnyCiphertextLength } from '../../src/envelope/ciphertexts';
import { embeddedStack, type Stack, STACKS } from '../support/stacks';

type Schema = Record<string, any>;
type Responses = Record<
  string,
  { content?: Record<string, { schema: Schema; example?: unknown }>; headers?: Record<string, { required?: boolean }> }
>;

/** The operationIds clients are generated with: stable once published. */
const OPERATION_IDS = [
  'createKey',
  'getKey',
  'destroyKey',
  'encrypt',
  'decrypt',
  'rotateKey',
  'rewrap',
  'createGrant',
  'listGrants',
  'approveGrant',
  'revokeGrant',
  'translate',
  'listAuditEvents',
  'verifyAuditTrail',
  'getAccessReport',
  'revokeToken',
  'checkLiveness',
  'checkReadiness',
  'getMetrics',
  'getReceiptKeys',
  'defineIndex',
  'listIndexes',
  'getIndex',
  'computeIndexes',
  'rotateIndex',
  'finishIndexRotation',
  'createCanaries',
  'listCanaries',
  'retireCanary',
  'startKmsMigration',
  'getKmsMigration',
  'getKeyCensus',
  'listApprovalRequests',
  'getApprovalRequest',
  'approveApprovalRequest',
  'getShredBreaker',
  'liftShredBreaker',
];

const bodySchemaOf = (operation: Operation): Schema | undefined =>
  (operation.requestBody as { content?: Record<string, { schema?: Schema }> } | undefined)?.content?.['application/json']?.schema;
const responsesOf = (operation: Operation) => operation.responses as Responses;
const codesOf = (operation: Operation, status: string): string[] =>
  responsesOf(operation)[status]?.content?.['application/json']?.schema.allOf?.[1]?.properties?.code?.enum ?? [];
const needsToken = (operation: Operation) => (operation.security ?? []).length > 0;

describe('the OpenAPI document states the rules the service enforces', () => {
  let stack: Stack;
  let operations: Operation[];
  before(async () => {
    stack = await embeddedStack.start();
    operations = stack.contract.operations();
  });
  after(() => stack?.close());

  it('names every operation with a stable camelCase operationId', () => {
    const ids = operations.map((operation) => operation.operationId);
    for (const id of ids) assert.match(String(id), /^[a-z][A-Za-z]+$/, `${id} is not a stable operationId`);
    assert.equal(new Set(ids).size, ids.length, 'operationIds repeat');
    for (const id of OPERATION_IDS) assert.ok(ids.includes(id), `${id} is gone: clients generated from the document call it`);
  });

  it('orders the tags as a newcomer meets the API', () => {
    const tags = (stack.contract.document.tags ?? []).map((tag) => tag.name);
    const order = ['keys', 'encryption', 'rotation', 'delegation', 'audit', 'tokens'].map((name) => tags.indexOf(name));
    assert.ok(
      order.every((index, i) => index >= 0 && (i === 0 || index > order[i - 1])),
      `tag order: ${tags.join(', ')}`,
    );
    assert.deepEqual(tags.slice(-2), ['health', 'metrics']);
    // A tag left out of the list would be shown after metrics, out of this order.
    for (const operation of operations)
      for (const tag of operation.tags ?? []) assert.ok(tags.includes(tag), `${operation.operationId}: tag ${tag} is not in the tag list`);
  });

  it('refuses unknown fields in every request body, as the validation does', () => {
    for (const operation of operations) {
      const schema = bodySchemaOf(operation);
      if (!schema) continue;
      for (const object of schema.oneOf ?? [schema])
        assert.equal(object.additionalProperties, false, `${operation.operationId}: unknown fields not refused`);
    }
  });

  it('lists, for every status, only codes of that status, and the statuses every route can answer', () => {
    for (const operation of operations) {
      const responses = responsesOf(operation);
      for (const status of ['400', '413', '415', '500'])
        assert.ok(responses[status], `${operation.operationId} does not document ${status}`);
      if (needsToken(operation)) {
        for (const status of ['401', '403', '429', '503'])
          assert.ok(responses[status], `${operation.operationId} does not document ${status}`);
        assert.ok(responses['401'].headers?.['WWW-Authenticate'], `${operation.operationId}: 401 without WWW-Authenticate`);
        assert.ok(responses['429'].headers?.['Retry-After'], `${operation.operationId}: 429 without Retry-After`);
      }
      for (const [status, response] of Object.entries(responses)) {
        assert.equal(response.headers?.['X-Request-Id']?.required, true, `${operation.operationId} ${status} without X-Request-Id`);
        if (Number(status) < 400) continue;
        const codes = codesOf(operation, status);
        assert.ok(codes.length > 0, `${operation.operationId} ${status} names no error code`);
        for (const code of codes) {
          const expected = ERROR_CODES[code as ErrorCode]?.status;
          assert.ok(
            expected === Number(status) || (code === 'ENC001' && ['413', '415'].includes(status)),
            `${operation.operationId}: ${code} documented under ${status}`,
          );
        }
      }
    }
  });

  it('states the user id rule, bound included, wherever a user id is taken', () => {
    let seen = 0;
    for (const operation of operations) {
      const parameters = ((operation.parameters ?? []) as Array<{ name: string; schema: Schema }>).map((p) => [p.name, p.schema] as const);
      const body = bodySchemaOf(operation);
      const fields = Object.entries((body?.properties ?? {}) as Record<string, Schema>);
      for (const [name, schema] of [...parameters, ...fields]) {
        if (!/^(userId|fromUserId|toUserId)$/.test(name)) continue;
        seen += 1;
        assert.equal(schema.pattern, USER_ID_PATTERN.source, `${operation.operationId} ${name}`);
        assert.equal(schema.maxLength, 19, `${operation.operationId} ${name}`);
      }
    }
    assert.ok(seen >= 12, `user ids found: ${seen}`);
    const pattern = new RegExp(USER_ID_PATTERN.source, 'u');
    assert.ok(pattern.test('9223372036854775807') && !pattern.test('9223372036854775808') && !pattern.test('0'));
  });

  it('states the limits the service is configured with, not the defaults', async () => {
    const configured = await embeddedStack.start({ MAX_BATCH_ITEMS: '7', MAX_ITEM_BYTES: '300' });
    try {
      const schemas = configured.contract.document.components!.schemas as Record<string, Schema>;
      assert.equal(schemas.EncryptRequest.properties.data.maxItems, 7);
      assert.equal(schemas.EncryptRequest.properties.data.items.maxLength, 300);
      assert.equal(schemas.DecryptRequest.properties.data.maxItems, 7);
      assert.equal(schemas.DecryptRequest.properties.data.items.maxLength, maxAnyCiphertextLength(300));
      const refused = await configured
        .as(await configured.token())
        .post('/api/v1/encrypt')
        .send({ userId: '42', data: Array(8).fill('x') });
      assert.equal(refused.status, 400);
    } finally {
      await configured.close();
    }
  });

  it('gives every path parameter an example', () => {
    for (const operation of operations) {
      for (const parameter of (operation.parameters ?? []) as Array<{
        name: string;
        in: string;
        example?: unknown;
        schema?: { example?: unknown };
      }>) {
        if (parameter.in === 'path')
          assert.ok(
            (parameter.example ?? parameter.schema?.example) !== undefined,
            `${operation.operationId}: ${parameter.name} has no example`,
          );
      }
    }
  });

  it('gives every request body an example the service accepts', async () => {
    const token = await stack.token();
    for (const userId of ['42', '77']) await stack.as(token).post('/api/v1/keys').send({ userId });
    for (const operation of operations) {
      const content = (operation.requestBody as { content?: Record<string, { example?: unknown }> } | undefined)?.content?.[
        'application/json'
      ];
      if (!content) continue;
      assert.ok(content.example !== undefined, `${operation.operationId} has no example`);
      const path = operation.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
        const parameter = (operation.parameters as Array<{ name: string; example?: string; schema?: { example?: string } }>).find(
          (p) => p.name === name,
        );
        return encodeURIComponent(String(parameter?.example ?? parameter?.schema?.example));
      });
      const response = await (stack.as(token) as unknown as Record<string, (url: string) => request.Test>)
        [operation.method](path)
        .send(content.example as object);
      // Accepted: past the validation. The example ciphertexts are well-formed but no key's, so ENC002 says they got that far.
      assert.ok(
        !(response.status === 400 && response.body.code === 'ENC001'),
        `${operation.operationId}: its example is refused: ${response.body.message}`,
      );
    }
  });
});

describe('every response is checked against the document', () => {
  let stack: Stack;
  before(async () => {
    stack = await embeddedStack.start();
  });
  after(() => stack?.close());

  const reply = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    ({
      status,
      body,
      text: JSON.stringify(body),
      headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'test-1', ...headers },
    }) as unknown as request.Response;
  const error = (status: number, code: string) => ({ statusCode: status, code, message: 'm', requestId: 'test-1' });

  it('fails a response whose status the operation does not document', () => {
    assert.throws(() => stack.contract.check('post', '/api/v1/encrypt', reply(418, error(418, 'ENC001'))), /does not document/);
  });

  it('fails a response body with a field the document does not list', () => {
    assert.throws(
      () => stack.contract.check('post', '/api/v1/encrypt', reply(200, { encryptedData: [], extra: 1 })),
      /departs from the document/,
    );
  });

  it('fails an error whose code the status does not list', () => {
    assert.throws(() => stack.contract.check('post', '/api/v1/encrypt', reply(404, error(404, 'GRANT001'))), /departs from the document/);
  });

  it('fails a 401 without the challenge the document requires, or with another one', () => {
    assert.throws(() => stack.contract.check('get', '/api/v1/keys/42', reply(401, error(401, 'AUTH001'))), /WWW-Authenticate/);
    for (const challenge of ['Basic realm="pii-encryption-api"', 'Bearer realm="pii-encryption-api", error="invalid_request"']) {
      assert.throws(
        () => stack.contract.check('get', '/api/v1/keys/42', reply(401, error(401, 'AUTH001'), { 'www-authenticate': challenge })),
        /outside the documented pattern/,
      );
    }
  });

  it('passes a real answer, and holds answers outside every operation to the error body', async () => {
    await stack.http().get('/api/v1/keys/42').expect(401);
    assert.throws(() => stack.contract.check('get', '/api/v1/nothing', reply(404, { message: 'no' })), /not the ErrorResponse body/);
  });
});

for (const definition of STACKS) {
  describe(`HTTP semantics — ${definition.name}`, () => {
    let stack: Stack;
    before(async () => {
      stack = await definition.start();
    });
    after(() => stack?.close());

    it('answers a method a known path does not take with 405 ROUTE002 and Allow, in the error body', async () => {
      for (const [method, path, allow] of [
        ['trace', '/api/v1/keys', 'POST, OPTIONS'],
        ['put', '/api/v1/keys/42', 'GET, HEAD, DELETE, OPTIONS'],
        ['get', '/api/v1/encrypt', 'POST, OPTIONS'],
        ['post', '/health/live', 'GET, HEAD, OPTIONS'],
        ['delete', '/metrics', 'GET, HEAD, OPTIONS'],
      ] as const) {
        const response = await (stack.http() as unknown as Record<string, (url: string) => request.Test>)[method](path);
        assert.equal(response.status, 405, `${method} ${path}`);
        assert.equal(response.headers.allow, allow, `${method} ${path}`);
        assert.equal(response.body.code, 'ROUTE002');
        assert.equal(response.body.statusCode, 405);
        assert.ok(response.body.requestId);
      }
    });

    it('still answers 404 ROUTE001 for a path no route has', async () => {
      const response = await stack.http().get('/api/v1/nothing-here');
      assert.equal(response.status, 404);
      assert.equal(response.body.code, 'ROUTE001');
      assert.equal(response.headers.allow, undefined);
    });

    it('answers OPTIONS on a known path with 204 and Allow', async () => {
      const response = await stack.http().options('/api/v1/keys/42');
      assert.equal(response.status, 204);
      assert.equal(response.headers.allow, 'GET, HEAD, DELETE, OPTIONS');
    });

    it('challenges a request without a token with Bearer and the realm only (RFC 6750 §3)', async () => {
      for (const authorization of [undefined, `Basic ${Buffer.from('a:b').toString('base64')}`]) {
        const call = stack.http().get('/api/v1/keys/42');
        const response = await (authorization ? call.set('Authorization', authorization) : call);
        assert.equal(response.status, 401);
        assert.equal(response.headers['www-authenticate'], 'Bearer realm="pii-encryption-api"');
      }
    });

    it('challenges a refused token with error="invalid_token"', async () => {
      const real = await stack.token();
      for (const token of ['not.a.jwt', `${real.slice(0, -4)}AAAA`]) {
        const response = await stack.as(token).get('/api/v1/keys/42');
        assert.equal(response.status, 401);
        assert.match(
          response.headers['www-authenticate'],
          /^Bearer realm="pii-encryption-api", error="invalid_token"(, error_description="[^"\\]+")?$/,
        );
        assert.ok(!response.headers['www-authenticate'].includes(token), 'the challenge never quotes the token');
      }
    });
  });
}

describe('the receipt keys, public but rate limited by client IP', () => {
  let stack: Stack;
  before(async () => {
    stack = await embeddedStack.start({ RATE_LIMIT_PER_MINUTE: '2' });
  });
  after(() => stack?.close());

  it('answers over the limit with the documented 429 RATE001 and Retry-After (the probes and /metrics are exempt)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      // Every answer is checked against the document: an undocumented 429 fails here.
      const response = await stack.http().get('/.well-known/receipt-keys.json');
      statuses.push(response.status);
      if (response.status === 429) {
        assert.equal(response.body.code, 'RATE001');
        assert.ok(Number(response.headers['retry-after']) > 0);
      }
    }
    assert.ok(statuses.includes(200) && statuses.at(-1) === 429, `statuses: ${statuses.join(', ')}`);
    await stack.http().get('/health/live').expect(200);
    await stack.http().get('/metrics').expect(200);
  });
});

describe('CORS, when CORS_ORIGINS is set', () => {
  let stack: Stack;
  const origin = 'https://app.example.com';
  before(async () => {
    stack = await embeddedStack.start({ CORS_ORIGINS: origin });
  });
  after(() => stack?.close());

  it('answers a preflight with 204 and the CORS headers, before any token is asked for', async () => {
    const response = await stack
      .http()
      .options('/api/v1/encrypt')
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type,x-request-id');
    assert.equal(response.status, 204);
    assert.equal(response.headers['access-control-allow-origin'], origin);
    assert.match(response.headers['access-control-allow-methods'], /POST/);
    assert.match(response.headers['access-control-allow-headers'], /Authorization/i);
    assert.match(response.headers['access-control-allow-headers'], /Content-Type/i);
    assert.equal(response.headers['access-control-max-age'], '600');
  });

  it('lets the configured origin read answers and their request id, and no other origin', async () => {
    const token = await stack.token();
    const allowed = await stack.as(token).post('/api/v1/keys').set('Origin', origin).send({ userId: '42' });
    assert.equal(allowed.headers['access-control-allow-origin'], origin);
    assert.match(allowed.headers['access-control-expose-headers'], /X-Request-Id/);
    const other = await stack
      .http()
      .options('/api/v1/encrypt')
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'POST');
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });
});
