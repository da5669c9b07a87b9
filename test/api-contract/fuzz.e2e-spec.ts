import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Operation } from 'openapi-backend';
import { STACKS, type Stack } from '../support/stacks';
import { type Schema, valid, wrongText, wrongType } from './schema-arbitraries';

/*
 * The API fuzzed from its own OpenAPI document, as an integrator's tooling would: for every
 * operation, requests built from the document's schemas (fast-check, seeded, bounded in count).
 * Schema-valid requests must answer a status the operation documents, with the documented body
 * (every response of stack.as() is checked against the document), and never 5xx; schema-invalid
 * ones must answer 4xx with the error body. FUZZ_RUNS (default 50) and FUZZ_SEED reproduce or widen a run.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 50);
const SEED = Number(process.env.FUZZ_SEED ?? 18_2026);
/** Each valid call of these makes an RSA key pair (50-100 ms of CPU): fewer runs keep a stack's fuzzing near a minute. */
const KEY_GENERATING = new Set(['createKey', 'rotateKey']);
const runsOf = (operation: Operation) => (KEY_GENERATING.has(operation.operationId!) ? Math.ceil(RUNS / 4) : RUNS);

interface Call {
  path: Record<string, string>;
  query: Record<string, string>;
  /** Undefined: no body is sent. */
  body?: unknown;
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  example?: unknown;
  schema: Schema;
}

const parametersOf = (operation: Operation, where: 'path' | 'query') =>
  ((operation.parameters ?? []) as Parameter[]).filter((parameter) => parameter.in === where);
const bodySchemaOf = (operation: Operation): Schema | undefined =>
  (operation.requestBody as { content?: Record<string, { schema?: Schema }> } | undefined)?.content?.['application/json']?.schema;
const withExample = (parameter: Parameter): Schema => ({ ...parameter.schema, example: parameter.example ?? parameter.schema.example });

/** Requests the document accepts. `known` adds values that exist on the server (a grant id) to what a parameter may take. */
function validCall(operation: Operation, known: Record<string, string[]>): fc.Arbitrary<Call> {
  const parameter = (p: Parameter) =>
    known[p.name]?.length ? fc.oneof(valid(withExample(p)), fc.constantFrom(...known[p.name])) : valid(withExample(p));
  const path = fc.tuple(...parametersOf(operation, 'path').map((p) => parameter(p).map((value) => [p.name, String(value)] as const)));
  const query = fc.tuple(
    ...parametersOf(operation, 'query').map((p) => {
      const value = parameter(p).map((v) => [p.name, String(v)] as const);
      return p.required ? value : fc.option(value, { nil: undefined });
    }),
  );
  const schema = bodySchemaOf(operation);
  return fc.record({
    path: path.map((entries) => Object.fromEntries(entries)),
    query: query.map((entries) => Object.fromEntries(entries.filter((entry) => entry !== undefined))),
    body: schema ? valid(schema) : fc.constant(undefined),
  });
}

/** The property schemas a body may hold (those of every alternative of a oneOf). */
function bodyProperties(schema: Schema): Record<string, Schema> {
  return Object.assign({}, schema.properties, ...(schema.oneOf ?? []).map((alternative: Schema) => alternative.properties ?? {}));
}

/** Requests the document refuses: one thing made wrong in a valid request, named for the report. */
function invalidCall(operation: Operation): fc.Arbitrary<Call & { wrong: string }> {
  const base = validCall(operation, {});
  const mutations: Array<fc.Arbitrary<Call & { wrong: string }>> = [];
  for (const p of parametersOf(operation, 'path')) {
    const wrong = wrongText(p.schema);
    if (wrong)
      mutations.push(
        fc.tuple(base, wrong).map(([call, value]) => ({ ...call, path: { ...call.path, [p.name]: value }, wrong: `path ${p.name}` })),
      );
  }
  const queryParameters = parametersOf(operation, 'query');
  for (const p of queryParameters) {
    const wrong =
      wrongText(p.schema) ?? (p.schema.type === 'integer' ? fc.constantFrom('0', '1.5', 'ten', String(p.schema.maximum + 1)) : undefined);
    if (wrong)
      mutations.push(
        fc.tuple(base, wrong).map(([call, value]) => ({ ...call, query: { ...call.query, [p.name]: value }, wrong: `query ${p.name}` })),
      );
  }
  if (queryParameters.length)
    mutations.push(base.map((call) => ({ ...call, query: { ...call.query, unexpected: '1' }, wrong: 'an unknown query parameter' })));
  const schema = bodySchemaOf(operation);
  if (schema) {
    const properties = bodyProperties(schema);
    const objectBody = base.filter((call) => typeof call.body === 'object' && call.body !== null && !Array.isArray(call.body));
    mutations.push(objectBody.map((call) => ({ ...call, body: { ...(call.body as object), unexpected: 1 }, wrong: 'an unknown field' })));
    mutations.push(
      fc
        .tuple(base, fc.constantFrom<unknown>([], 'text', 42, true))
        .map(([call, body]) => ({ ...call, body, wrong: 'a body that is not an object' })),
    );
    for (const [name, property] of Object.entries(properties)) {
      const wrong = fc.oneof(wrongType(property), ...[wrongText(property)].filter((w): w is fc.Arbitrary<string> => w !== undefined));
      mutations.push(
        fc
          .tuple(objectBody, wrong)
          .map(([call, value]) => ({ ...call, body: { ...(call.body as object), [name]: value }, wrong: `body ${name}` })),
      );
      if ((schema.required ?? []).includes(name)) {
        mutations.push(
          objectBody.map((call) => {
            const { [name]: _removed, ...rest } = call.body as Record<string, unknown>;
            return { ...call, body: rest, wrong: `no ${name}` };
          }),
        );
      }
    }
  }
  return fc.oneof(...mutations);
}

/** The concrete path of a call; an empty segment or a slash in a value means the call reaches no operation at all. */
function pathOf(operation: Operation, call: Call): string {
  return operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => encodeURIComponent(call.path[name]));
}

function sendOnce(stack: Stack, token: string, operation: Operation, call: Call) {
  const query = new URLSearchParams(call.query).toString();
  const url = `${pathOf(operation, call)}${query ? `?${query}` : ''}`;
  const test = (stack.as(token) as unknown as Record<string, (url: string) => import('supertest').Test>)[operation.method](url);
  return call.body === undefined ? test : test.set('Content-Type', 'application/json').send(JSON.stringify(call.body));
}

/**
 * Sends the call; a 503 (a dependency, such as the audit trail, busy on a loaded machine) is sent
 * once more after a pause, so that only a 5xx the same request gets again counts as its own.
 */
async function send(stack: Stack, token: string, operation: Operation, call: Call) {
  const response = await sendOnce(stack, token, operation, call);
  if (response.status !== 503) return response;
  await new Promise((resolve) => setTimeout(resolve, 500));
  return sendOnce(stack, token, operation, call);
}

const describeCall = (operation: Operation, call: Call) =>
  `${operation.method.toUpperCase()} ${pathOf(operation, call)} ${JSON.stringify(call.query)} ${JSON.stringify(call.body)?.slice(0, 300)}`;

for (const definition of STACKS) {
  describe(`the API fuzzed from its own OpenAPI document — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    const known: Record<string, string[]> = {};

    let approver: string;
    /**
     * The newest grant from the example person 42 to 77, active (one approval suffices here), so that
     * /translate can answer 200: /translate looks at the newest grant, which createGrant's pending
     * ones and revokeGrant's revocation of the known one would otherwise leave unusable.
     */
    const activeGrant = async () => {
      const grant = await stack
        .as(token)
        .post('/api/v1/grants')
        .send({ fromUserId: '42', toUserId: '77', reason: 'fuzzing the contract' })
        .expect(201);
      await stack.as(approver).post(`/api/v1/grants/${grant.body.id}/approve`).expect(200);
      known.id = [grant.body.id];
    };

    before(async () => {
      // The rate limit must not end the run early.
      stack = await definition.start({ RATE_LIMIT_PER_MINUTE: '1000000', GRANT_APPROVALS_REQUIRED: '1' });
      token = await stack.token();
      approver = await stack.identity('fuzz-approver', ['grants:approve']);
      for (const userId of ['42', '77']) await stack.as(token).post('/api/v1/keys').send({ userId }).expect(201);
      await activeGrant();
    });
    after(() => stack?.close());

    it('documents operations to fuzz', () => {
      assert.ok(stack.contract.operations().length >= 19, 'the document lists the API operations');
    });

    const seedOf = (text: string) => [...text].reduce((hash, char) => (hash * 31 + char.charCodeAt(0)) | 0, SEED);

    // The operations are read from the document the app serves, once the stack runs: one test each.
    it('answers schema-valid requests with a documented status and body, never 5xx', async (t) => {
      for (const operation of stack.contract.operations()) {
        await t.test(operation.operationId!, async (sub) => {
          const statuses = new Map<number, number>();
          // Keys the previous operation may have destroyed (destroyKey with the example user) come back,
          // and so does an active grant between them (createGrant and revokeGrant leave none).
          for (const userId of ['42', '77']) await stack.as(token).post('/api/v1/keys').send({ userId });
          await activeGrant();
          await fc.assert(
            fc.asyncProperty(validCall(operation, known), async (call) => {
              const problems = stack.contract.requestErrors(operation, {
                method: operation.method,
                path: pathOf(operation, call),
                query: call.query,
                body: call.body,
              });
              assert.deepEqual(problems, [], `the generator made a request the document refuses: ${describeCall(operation, call)}`);
              const response = await send(stack, token, operation, call);
              statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
              assert.ok(response.status < 500, `${response.status} ${JSON.stringify(response.body)} for ${describeCall(operation, call)}`);
            }),
            { seed: seedOf(operation.operationId!), numRuns: runsOf(operation) },
          );
          sub.diagnostic(`answers: ${[...statuses].map(([status, count]) => `${status}×${count}`).join(' ')}`);
        });
      }
    });

    it('answers schema-invalid requests with 4xx and the error body, never 5xx', async (t) => {
      for (const operation of stack.contract.operations()) {
        // Only bodies, path and query parameters are made invalid (a header such as X-Approval-Id is not).
        if (!bodySchemaOf(operation) && !parametersOf(operation, 'path').length && !parametersOf(operation, 'query').length) continue;
        await t.test(operation.operationId!, async () => {
          await fc.assert(
            fc.asyncProperty(invalidCall(operation), async (call) => {
              const path = pathOf(operation, call);
              const reachesOperation = stack.contract.operationFor(operation.method, path)?.operationId === operation.operationId;
              // An empty last segment (`/indexes/`) is, to express, another operation's path (`/indexes`):
              // that call is valid for the other operation, not an invalid call of this one.
              const reached = stack.contract.operationFor(operation.method, path.replace(/\/+$/, ''));
              fc.pre(reachesOperation || !reached || reached.operationId === operation.operationId);
              if (reachesOperation) {
                const problems = stack.contract.requestErrors(operation, {
                  method: operation.method,
                  path,
                  query: call.query,
                  body: call.body,
                });
                fc.pre(problems.length > 0);
              }
              const response = await send(stack, token, operation, call);
              const what = `${call.wrong}: ${describeCall(operation, call)} answered ${response.status} ${JSON.stringify(response.body)}`;
              assert.ok(response.status >= 400 && response.status < 500, what);
              assert.equal(response.body.statusCode, response.status, what);
              assert.match(response.body.code, /^[A-Z]+\d{3}$/, what);
              assert.equal(typeof response.body.message, 'string', what);
            }),
            { seed: seedOf(`${operation.operationId}!`), numRuns: RUNS },
          );
        });
      }
    });
  });
}
