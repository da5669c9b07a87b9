import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Operation } from 'openapi-backend';
import { Permission } from '../../src/common/permissions';
import { Stack, STACKS } from '../support/stacks';
import { TestIssuer } from '../support/test-issuer';

/*
 * Authorization as a matrix generated from the served OpenAPI document: for every operation and
 * every kind of caller, the answer the document states. Each operation of the document needs a row
 * here (how to make a valid request for one person); a new operation without one fails the test.
 *
 * Callers: no token; a token without the permission; an unbound token with it; a token bound to
 * the person the request names (AUTH_USER_ID_CLAIM); a token bound to another person. A bound
 * token's answer is what the operation's `x-person-binding` states: `operator` routes refuse every
 * bound token; the others admit only the person they name (or, for a grant, one of its people).
 */
const CLAIM = 'custom:user_id';
const PREFIX = '/api/v1';

interface Call {
  method: 'get' | 'post' | 'delete';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
}

interface World {
  stack: Stack;
  issuer: TestIssuer;
  admin: string;
  /** A person id nobody has used yet; with a key unless `withKey` is false. */
  person(withKey?: boolean): Promise<string>;
  ciphertextOf(person: string): Promise<string>;
  /** A grant person → delegate, pending, or active (two approvals) when `active`. */
  grant(person: string, delegate: string, active?: boolean): Promise<string>;
  index(rotating?: boolean): Promise<string>;
  /** A pending two-person-rule request made by the admin (a blind-index finish-rotation answered 202). */
  approvalRequest(): Promise<string>;
}

interface Row {
  /** The permission the row's caller holds (the route's, or one of them). */
  permission: Permission;
  /** What a bound token may do here, as the document must state it. */
  binding: 'operator' | 'person';
  /** The person has no key yet (the request creates it). */
  keyless?: true;
  /** A valid request that concerns `person` (created by the world for this one call). */
  request(world: World, person: string): Promise<Call>;
}

const body = (method: Call['method'], path: string, value?: unknown): Call => ({ method, path, body: value });

const ROWS: Record<string, Row> = {
  createKey: {
    permission: 'keys:write',
    binding: 'person',
    keyless: true,
    request: async (_, person) => body('post', '/keys', { userId: person }),
  },
  getKey: { permission: 'keys:read', binding: 'person', request: async (_, person) => body('get', `/keys/${person}`) },
  destroyKey: { permission: 'keys:delete', binding: 'person', request: async (_, person) => body('delete', `/keys/${person}`) },
  cancelKeyDeletion: {
    permission: 'keys:restore',
    binding: 'person',
    request: async (world, person) => {
      await world.stack.as(world.admin).delete(`${PREFIX}/keys/${person}`).expect(202);
      return body('post', `/keys/${person}/cancel-deletion`);
    },
  },
  eraseKeyNow: { permission: 'keys:delete', binding: 'person', request: async (_, person) => body('post', `/keys/${person}/erase-now`) },
  getAccessReport: { permission: 'audit:read', binding: 'person', request: async (_, p) => body('get', `/keys/${p}/access-report`) },
  encrypt: { permission: 'encrypt', binding: 'person', request: async (_, p) => body('post', '/encrypt', { userId: p, data: ['x'] }) },
  decrypt: {
    permission: 'decrypt',
    binding: 'person',
    request: async (world, p) => body('post', '/decrypt', { userId: p, data: [await world.ciphertextOf(p)], purpose: 'matrix' }),
  },
  rotateKey: {
    permission: 'rotate',
    binding: 'person',
    request: async (world, p) => body('post', '/rotate', { userId: p, data: { name: await world.ciphertextOf(p) } }),
  },
  rewrap: {
    permission: 'rotate',
    binding: 'person',
    request: async (world, p) => body('post', '/rewrap', { userId: p, data: [await world.ciphertextOf(p)] }),
  },
  listAuditEvents: {
    permission: 'audit:read',
    binding: 'person',
    request: async (_, p) => ({ method: 'get', path: '/audit', query: { userId: p } }),
  },
  verifyAuditTrail: { permission: 'audit:read', binding: 'operator', request: async () => body('get', '/audit/verify') },
  createGrant: {
    permission: 'grants:write',
    binding: 'person',
    request: async (world, p) =>
      body('post', '/grants', { fromUserId: p, toUserId: await world.person(), reason: 'Executor of the estate, probate file 1' }),
  },
  approveGrant: {
    permission: 'grants:approve',
    binding: 'person',
    request: async (world, p) => body('post', `/grants/${await world.grant(p, await world.person())}/approve`),
  },
  revokeGrant: {
    permission: 'grants:write',
    binding: 'person',
    request: async (world, p) => body('delete', `/grants/${await world.grant(p, await world.person())}`),
  },
  listGrants: {
    permission: 'grants:approve',
    binding: 'person',
    request: async (_, p) => ({ method: 'get', path: '/grants', query: { fromUserId: p } }),
  },
  translate: {
    permission: 'translate',
    binding: 'person',
    request: async (world, p) => {
      const delegate = await world.person();
      await world.grant(p, delegate, true);
      return body('post', '/translate', { fromUserId: p, toUserId: delegate, data: [await world.ciphertextOf(p)] });
    },
  },
  createCanaries: { permission: 'canaries:write', binding: 'operator', request: async (_, p) => body('post', '/canaries', { userId: p }) },
  listCanaries: { permission: 'canaries:write', binding: 'operator', request: async () => body('get', '/canaries') },
  retireCanary: {
    permission: 'canaries:write',
    binding: 'operator',
    request: async (world, p) => {
      const planted = await world.stack.as(world.admin).post(`${PREFIX}/canaries`).send({ userId: p }).expect(201);
      return body('delete', `/canaries/${planted.body.canaries[0].id}`);
    },
  },
  defineIndex: {
    permission: 'indexes:admin',
    binding: 'operator',
    request: async () =>
      body('post', '/indexes', {
        name: `m${randomUUID().slice(0, 8)}`,
        normalisation: 'digits',
        outputBits: 20,
        expectedCardinality: 1000,
        exactMatch: true,
      }),
  },
  listIndexes: { permission: 'indexes:admin', binding: 'operator', request: async () => body('get', '/indexes') },
  getIndex: { permission: 'indexes:admin', binding: 'operator', request: async (world) => body('get', `/indexes/${await world.index()}`) },
  computeIndexes: {
    permission: 'index',
    binding: 'operator',
    request: async (world) => body('post', `/indexes/${await world.index()}`, { data: ['046 454 286'] }),
  },
  rotateIndex: {
    permission: 'indexes:admin',
    binding: 'operator',
    request: async (world) => body('post', `/indexes/${await world.index()}/rotate`),
  },
  finishIndexRotation: {
    permission: 'indexes:admin',
    binding: 'operator',
    request: async (world) => body('post', `/indexes/${await world.index(true)}/finish-rotation`),
  },
  startKmsMigration: { permission: 'keys:admin', binding: 'operator', request: async () => body('post', '/admin/kms-migration') },
  getKeyCensus: { permission: 'keys:admin', binding: 'operator', request: async () => body('get', '/admin/key-census') },
  getShredBreaker: { permission: 'keys:admin', binding: 'operator', request: async () => body('get', '/admin/shred-breaker') },
  liftShredBreaker: { permission: 'keys:admin', binding: 'operator', request: async () => body('post', '/admin/shred-breaker/lift') },
  listApprovalRequests: { permission: 'approvals:approve', binding: 'operator', request: async () => body('get', '/approvals') },
  getApprovalRequest: {
    permission: 'approvals:approve',
    binding: 'operator',
    request: async (world) => body('get', `/approvals/${await world.approvalRequest()}`),
  },
  approveApprovalRequest: {
    permission: 'approvals:approve',
    binding: 'operator',
    request: async (world) => body('post', `/approvals/${await world.approvalRequest()}/approve`),
  },
  getKmsMigration: { permission: 'keys:admin', binding: 'operator', request: async () => body('get', '/admin/kms-migration') },
  revokeToken: {
    permission: 'tokens:revoke',
    binding: 'operator',
    request: async () => body('post', '/tokens/revoke', { jti: randomUUID() }),
  },
};

/** Operations anyone may call (no security in the document): health, metrics, receipt keys. */
const PUBLIC = new Set(['checkLiveness', 'checkReadiness', 'getMetrics', 'getReceiptKeys']);

type Caller = 'no token' | 'without the permission' | 'unbound with it' | 'bound to the person' | 'bound to another person';
const CALLERS: Caller[] = ['no token', 'without the permission', 'unbound with it', 'bound to the person', 'bound to another person'];

/** The answer the document states for this caller: 'success' (a documented 2xx), or the refusal's status and code. */
function expectedAnswer(binding: Row['binding'], caller: Caller): 'success' | { status: number; code: string } {
  switch (caller) {
    case 'no token':
      return { status: 401, code: 'AUTH001' };
    case 'without the permission':
    case 'bound to another person':
      return { status: 403, code: 'AUTH002' };
    case 'unbound with it':
      return 'success';
    case 'bound to the person':
      return binding === 'operator' ? { status: 403, code: 'AUTH002' } : 'success';
  }
}

const operationIdsOf = (operations: Operation[]) => operations.map((operation) => operation.operationId!).sort();

for (const definition of STACKS) {
  describe(`authorization matrix from the OpenAPI document — ${definition.name}`, () => {
    let issuer: TestIssuer;
    let world: World;
    let operations: Operation[];
    let nextPerson = 900_000 + Math.floor(Math.random() * 1000) * 1000;

    before(async () => {
      issuer = await new TestIssuer().start();
      // With the deletion window (the default), so that a DELETE leaves something to cancel.
      const stack = await definition.start({ ...issuer.env(), AUTH_USER_ID_CLAIM: CLAIM, SHRED_PENDING_DAYS: '7' });
      const scopes = (permissions: readonly string[]) => permissions.map((permission) => `pii-api/${permission}`).join(' ');
      const admin = issuer.token({
        sub: 'matrix-admin',
        scope: scopes(
          Object.values(ROWS)
            .map((row) => row.permission)
            .concat('keys:write'),
        ),
      });
      const approvers = ['matrix-approver-1', 'matrix-approver-2'].map((sub) => issuer.token({ sub, scope: 'pii-api/grants:approve' }));
      world = {
        stack,
        issuer,
        admin,
        async person(withKey = true) {
          const id = String(++nextPerson);
          if (withKey) await stack.as(admin).post(`${PREFIX}/keys`).send({ userId: id }).expect(201);
          return id;
        },
        async ciphertextOf(person) {
          const encrypted = await stack
            .as(admin)
            .post(`${PREFIX}/encrypt`)
            .send({ userId: person, data: ['Jane Doe'] })
            .expect(200);
          return encrypted.body.encryptedData[0];
        },
        async grant(person, delegate, active = false) {
          const reason = 'Executor of the estate, probate file 2';
          const created = await stack
            .as(admin)
            .post(`${PREFIX}/grants`)
            .send({ fromUserId: person, toUserId: delegate, reason })
            .expect(201);
          if (active)
            for (const approver of approvers) await stack.as(approver).post(`${PREFIX}/grants/${created.body.id}/approve`).expect(200);
          return created.body.id;
        },
        async index(rotating = false) {
          const name = `m${randomUUID().slice(0, 8)}`;
          const definition = { name, normalisation: 'digits', outputBits: 20, expectedCardinality: 1000, exactMatch: true };
          await stack.as(admin).post(`${PREFIX}/indexes`).send(definition).expect(201);
          if (rotating) await stack.as(admin).post(`${PREFIX}/indexes/${name}/rotate`).expect(200);
          return name;
        },
        async approvalRequest() {
          const requested = await stack
            .as(admin)
            .post(`${PREFIX}/indexes/${await this.index(true)}/finish-rotation`)
            .expect(202);
          return requested.body.id;
        },
      };
      operations = stack.contract.operations();
    });
    after(async () => {
      await world?.stack.close();
      await issuer?.stop();
    });

    it('has a row for every operation of the served document, and no row for an operation it does not have', () => {
      const served = operationIdsOf(operations);
      assert.deepEqual(served, [...Object.keys(ROWS), ...PUBLIC].sort(), 'a new operation needs a row in this matrix');
    });

    it('states for every operation that needs a token who a bound token may reach (x-person-binding), as the matrix expects', () => {
      for (const operation of operations) {
        const row = ROWS[operation.operationId!];
        if (!row) continue;
        const rule = (operation as Operation & { 'x-person-binding'?: { kind: string } })['x-person-binding'];
        assert.ok(rule, `${operation.operationId} states no x-person-binding`);
        assert.equal(rule.kind === 'operator' ? 'operator' : 'person', row.binding, operation.operationId!);
      }
    });

    it('lets anyone call the public operations without a token', async () => {
      for (const operation of operations.filter((candidate) => PUBLIC.has(candidate.operationId!))) {
        assert.ok(!operation.security?.some((requirement) => Object.keys(requirement).length > 0), `${operation.operationId} is public`);
        const response = await world.stack.http().get(operation.path);
        assert.equal(response.status, 200, `${operation.operationId}: ${response.status}`);
      }
    });

    for (const [operationId, row] of Object.entries(ROWS)) {
      describe(operationId, () => {
        for (const caller of CALLERS) {
          const expected = expectedAnswer(row.binding, caller);
          const says = expected === 'success' ? 'a documented success' : `${expected.status} ${expected.code}`;
          it(`answers ${says} to a caller ${caller}`, async () => {
            const person = await world.person(!row.keyless);
            const call = await row.request(world, person);
            const scope = (permission: Permission) => `pii-api/${permission}`;
            const lacking: Permission = row.permission === 'keys:read' ? 'encrypt' : 'keys:read';
            const sub = 'matrix-caller';
            const token = {
              'no token': undefined,
              'without the permission': issuer.token({ sub, scope: scope(lacking), [CLAIM]: person }),
              'unbound with it': issuer.token({ sub, scope: scope(row.permission) }),
              'bound to the person': issuer.token({ sub, scope: scope(row.permission), [CLAIM]: person }),
              'bound to another person': issuer.token({ sub, scope: scope(row.permission), [CLAIM]: await world.person(false) }),
            }[caller];
            const agent = token === undefined ? world.stack.http() : world.stack.as(token);
            let pending = agent[call.method](`${PREFIX}${call.path}`);
            if (call.query) pending = pending.query(call.query);
            const response = await (call.body === undefined ? pending : pending.send(call.body as object));
            if (expected === 'success') {
              assert.ok(response.status >= 200 && response.status < 300, `${response.status} ${JSON.stringify(response.body)}`);
            } else {
              assert.equal(response.status, expected.status, JSON.stringify(response.body));
              assert.equal(response.body.code, expected.code);
            }
          });
        }
      });
    }
  });
}
