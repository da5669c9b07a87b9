import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  encryptLocally,
  PiiApiClient,
  PiiApiError,
  type Fetch,
  type KeyAlgorithm,
  type PiiApiClientOptions,
  type TokenSource,
} from '../../clients/typescript/src';
import type { ApiContract } from '../support/openapi-contract';
import { freePort } from '../support/processes';
import { embeddedStack, Stack, STACKS } from '../support/stacks';

/** High enough for everything one stack's tests send as one caller, low enough to exhaust quickly. */
const RATE_LIMIT = 150;
/**
 * Distinct people a caller may read per window (DECRYPT_SUBJECT_BUDGET): above the four the main
 * client reads (42, 77, 300, 301), low enough for the break-glass test to exceed.
 */
const DECRYPT_BUDGET = 6;
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** `/api/v1/keys/{userId}` as a pattern of the paths it stands for. */
function templatePattern(template: string): RegExp {
  const literal = (part: string) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `^${template
      .split(/\{[^}]+\}/)
      .map(literal)
      .join('[^/]+')}$`,
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type Sent = { method: string; path: string; requestId: string | null; status?: number };

/**
 * A fetch that records what the client sent and what came back, around the real one; with a
 * contract, every answer is also checked against the OpenAPI document as the other suites'
 * answers are (test/support/openapi-contract.ts), and a departure fails the call.
 */
function recordingFetch(contract?: ApiContract): { fetch: Fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    fetch: async (request) => {
      const entry: Sent = { method: request.method, path: new URL(request.url).pathname, requestId: request.headers.get('X-Request-Id') };
      sent.push(entry);
      const response = await fetch(request);
      entry.status = response.status;
      if (contract) await contract.checkFetched(request.method, request.url, response);
      return response;
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<PiiApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PiiApiError, `expected a PiiApiError, got ${(error as Error)?.stack ?? error}`);
    return error;
  }
  assert.fail('the call succeeded');
}

/**
 * A caller of its own exhausts the rate limit, then rotates a key: the rotation answers 429 with
 * Retry-After (the full minute the limiter blocks for). A client allowed a shorter wait fails at
 * once; with `patient`, one allowed the minute waits it out and sends the rotation again.
 * Started before the route tests and awaited by the last test, so the minute overlaps them.
 */
async function rateLimitedRotation(stack: Stack, userId: string, patient: boolean) {
  const token = await stack.identity('burst-caller', ['keys:read', 'rotate']);
  const options: PiiApiClientOptions = { baseUrl: stack.url, token };
  const burst = new PiiApiClient({ ...options, fetch: recordingFetch(stack.contract).fetch, retry: { maxRetries: 0 } });
  let limited: PiiApiError | undefined;
  for (let sent = 0; !limited && sent <= RATE_LIMIT * 2; sent += 10) {
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => burst.getKey(userId)));
    for (const result of results) if (result.status === 'rejected') limited = result.reason;
  }
  assert.equal(limited?.code, 'RATE001');

  const impatient = recordingFetch(stack.contract);
  const impatientStarted = Date.now();
  const refused = await rejection(new PiiApiClient({ ...options, fetch: impatient.fetch, retry: { maxDelayMs: 1000 } }).rotate(userId, {}));
  const impatientMs = Date.now() - impatientStarted;

  if (!patient) return { refused, impatientMs, impatientSent: impatient.sent };
  const recorder = recordingFetch(stack.contract);
  const started = Date.now();
  const rotated = await new PiiApiClient({ ...options, fetch: recorder.fetch, retry: { maxDelayMs: 65_000 } }).rotate(userId, {});
  return { refused, impatientMs, impatientSent: impatient.sent, waited: { rotated, elapsedMs: Date.now() - started, sent: recorder.sent } };
}

/**
 * The minute-long wait runs on one stack: the client code and the limiter (in memory, per replica)
 * are the same on both, and the test suite takes a minute longer for each.
 */
const WAITS_OUT_THE_LIMIT = embeddedStack;

// One stack at a time: Passport keeps one strategy per process, so two apps in one process would
// check each other's tokens.
describe('typed client (clients/typescript) against the running service', () => {
  for (const definition of STACKS) {
    describe(definition.name, () => {
      let stack: Stack;
      let client: PiiApiClient;
      let recorder: ReturnType<typeof recordingFetch>;
      let rateLimited: ReturnType<typeof rateLimitedRotation>;
      /** A client for another caller; its requests are recorded with the main client's. */
      const as = (token: TokenSource) => new PiiApiClient({ baseUrl: stack.url, token, fetch: recorder.fetch });

      before(async () => {
        stack = await definition.start({
          RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
          ROTATION_ENABLED: 'false',
          DECRYPT_SUBJECT_BUDGET: String(DECRYPT_BUDGET),
          // The two-person rule is on (the default): finishIndexRotation and startKmsMigration go through an approval.
        });
        recorder = recordingFetch(stack.contract);
        client = as(() => stack.token());
        for (const userId of ['42', '77', '500']) await client.createKey(userId);
        rateLimited = rateLimitedRotation(stack, '500', definition === WAITS_OUT_THE_LIMIT);
        rateLimited.catch(() => undefined); // awaited (and its failure reported) by the last test
      });
      after(() => stack?.close());

      it('creates a key once: a second create answers created: false with the same version', async () => {
        const first = await client.createKey('1001');
        const again = await client.createKey('1001');
        assert.deepEqual([first.created, again.created], [true, false]);
        assert.equal(again.keyVersion, first.keyVersion);
        const details = await client.getKey('1001');
        assert.equal(details.userId, '1001');
        // KEY_ALGORITHM's default: an X-Wing key, published as the base64 of its 1216 bytes.
        assert.equal(details.algorithm, 'X-Wing');
        assert.equal(Buffer.from(details.publicKey, 'base64').length, 1216);
        assert.deepEqual(
          details.versions.map((v) => v.status),
          ['current'],
        );
      });

      it('encrypts and decrypts through the service, in order, with the stated purpose in the access report', async () => {
        const plaintexts = ['Jane Doe', '046 454 286', '', 'Zoë 🙂'];
        const ciphertexts = await client.encrypt('42', plaintexts);
        assert.ok(ciphertexts.every((c) => c.startsWith('ek2:1:')));
        assert.deepEqual(await client.decrypt('42', ciphertexts, { purpose: 'client e2e check' }), plaintexts);
        const report = await client.accessReport('42');
        assert.ok(report.accesses.some((entry) => entry.action === 'decrypt' && entry.purpose === 'client e2e check' && entry.items === 4));
      });

      it('encrypts locally with the published public key: nothing but the key lookup is sent, and the service decrypts it', async () => {
        const before = recorder.sent.length;
        const plaintexts = ['Jane Doe, SIN 046 454 286', 'Łódź 🙂', ''];
        const local = await client.encryptLocal('77', plaintexts);
        const again = await client.encryptLocal('77', ['second batch']);
        assert.deepEqual(
          recorder.sent.slice(before).map((r) => `${r.method} ${r.path}`),
          ['GET /api/v1/keys/77'],
          'one key lookup, then the cached key',
        );
        assert.deepEqual(await client.decrypt('77', [...local, ...again]), [...plaintexts, 'second batch']);
        // The standalone function with the key the caller fetched itself.
        const { publicKey, keyVersion, algorithm } = await client.getKey('77');
        const published = { algorithm: algorithm as KeyAlgorithm, publicKey, keyVersion };
        assert.ok(local.every((c) => c.startsWith('ek2:1:')));
        assert.deepEqual(await client.decrypt('77', encryptLocally(published, '77', ['by hand'])), ['by hand']);
        // Bound to the user: another user's key cannot open it.
        const moved = await rejection(client.decrypt('42', local.slice(0, 1)));
        assert.deepEqual([moved.status, moved.code], [400, 'ENC002']);
      });

      it('uses the new key version for local encryption right after a rotation, and old ciphertexts still decrypt', async () => {
        await client.createKey('300');
        const v1 = await client.encryptLocal('300', ['before rotation']);
        assert.equal(client.publicKeys.peek('300')?.keyVersion, 1);
        const { keyVersion, rotatedData } = await client.rotate('300', { will: v1[0], note: 'kept as is' }, { reason: 'compliance' });
        assert.equal(keyVersion, 2);
        assert.equal(client.publicKeys.peek('300'), undefined, 'the rotation dropped the cached version 1');
        const v2 = await client.encryptLocal('300', ['after rotation']);
        assert.ok(v2[0].startsWith('ek2:2:'));
        const rotated = rotatedData as unknown as { will: string; note: string };
        assert.equal(rotated.note, 'kept as is');
        assert.deepEqual(await client.decrypt('300', [v1[0], rotated.will, v2[0]]), [
          'before rotation',
          'before rotation',
          'after rotation',
        ]);
        const [rewrapped] = await client.rewrap('300', [v1[0]]);
        assert.ok(rewrapped.startsWith('ek2:2:'));
        assert.deepEqual(await client.decrypt('300', [rewrapped]), ['before rotation']);
      });

      it('refreshes a cached key that another service rotated as soon as a newer ciphertext passes through', async () => {
        await client.createKey('301');
        await client.encryptLocal('301', ['cached at version 1']);
        const elsewhere = as(await stack.token());
        await elsewhere.rotate('301', {});
        const [newer] = await elsewhere.encrypt('301', ['from the other service']);
        assert.equal(client.publicKeys.peek('301')?.keyVersion, 1, 'still the cached version');
        await client.decrypt('301', [newer]);
        const [local] = await client.encryptLocal('301', ['after the refresh']);
        assert.ok(local.startsWith('ek2:2:'), local.slice(0, 6));
      });

      it('runs a delegated release: grant, two approvals, translate, list, revoke', async () => {
        const creator = as(await stack.identity('client-estate', ['grants:write']));
        const approvers = await Promise.all(
          ['client-officer', 'client-legal'].map(async (name) => as(await stack.identity(name, ['grants:approve']))),
        );
        const grant = await creator.createGrant({ fromUserId: '42', toUserId: '77', reason: 'Executor, probate file 2026-1234' });
        assert.equal(grant.state, 'pending');
        assert.equal((await approvers[0].approveGrant(grant.id)).state, 'pending');
        assert.equal((await approvers[1].approveGrant(grant.id)).state, 'active');
        const [stored] = await client.encrypt('42', ['the will']);
        const translated = (await client.translate('42', '77', { will: stored })) as { will: string };
        assert.deepEqual(await client.decrypt('77', [translated.will]), ['the will']);
        const listed = await creator.listGrants({ fromUserId: '42' });
        assert.ok(listed.some((g) => g.id === grant.id && g.state === 'active'));
        assert.equal((await creator.revokeGrant(grant.id)).state, 'revoked');
        const refused = await rejection(client.translate('42', '77', { will: stored }));
        assert.deepEqual([refused.status, refused.code], [403, 'AUTH002']);
        const missing = await rejection(approvers[0].approveGrant(randomUUID()));
        assert.deepEqual([missing.status, missing.code], [404, 'GRANT001']);
      });

      it('reads past the decrypt budget with a break-glass reason on decrypt, rotate, rewrap and translate, each audited', async () => {
        const reader = as(
          await stack.identity('client-break-glass', ['keys:write', 'encrypt', 'decrypt', 'rotate', 'translate', 'decrypt:break-glass']),
        );
        const people = Array.from({ length: DECRYPT_BUDGET + 4 }, (_, i) => String(700 + i));
        const stored = new Map<string, string[]>();
        for (const userId of people) {
          await reader.createKey(userId);
          stored.set(userId, await reader.encrypt(userId, [`record of ${userId}`]));
        }
        for (const userId of people.slice(0, DECRYPT_BUDGET)) await reader.decrypt(userId, stored.get(userId)!);
        const [decrypted, rotated, rewrapped, translated] = people.slice(DECRYPT_BUDGET);

        const overBudget = await rejection(reader.decrypt(decrypted, stored.get(decrypted)!));
        assert.deepEqual([overBudget.status, overBudget.code], [429, 'RATE002']);
        assert.ok(overBudget.retryAfterSeconds! > 60, 'refused at once: Retry-After is longer than the client waits');
        // The client sends the reason as given: the service checks it.
        const blank = await rejection(reader.decrypt(decrypted, stored.get(decrypted)!, { breakGlassReason: '   ' }));
        assert.deepEqual([blank.status, blank.code], [400, 'ENC001']);

        const reason = `incident INC-${randomUUID().slice(0, 8)}: restoring records`;
        const breakGlass = { breakGlassReason: reason };
        assert.deepEqual(await reader.decrypt(decrypted, stored.get(decrypted)!, breakGlass), [`record of ${decrypted}`]);
        assert.equal((await reader.rotate(rotated, { kept: stored.get(rotated)![0] }, breakGlass)).keyVersion, 2);
        assert.equal((await reader.rewrap(rewrapped, stored.get(rewrapped)!, breakGlass)).length, 1);
        const creator = as(await stack.identity('client-estate', ['grants:write']));
        const grant = await creator.createGrant({ fromUserId: translated, toUserId: '77', reason: 'Executor, probate file 2026-4321' });
        for (const name of ['client-officer', 'client-legal'])
          await as(await stack.identity(name, ['grants:approve'])).approveGrant(grant.id);
        const moved = (await reader.translate(translated, '77', { record: stored.get(translated)![0] }, breakGlass)) as { record: string };
        assert.deepEqual(await client.decrypt('77', [moved.record]), [`record of ${translated}`]);

        for (const userId of [decrypted, rotated, rewrapped, translated]) {
          const { events } = await client.auditEvents({ action: 'budget.exceeded', userId });
          const allowed = events.filter((event) => event.details?.breakGlassReason === reason);
          assert.deepEqual(
            allowed.map((event) => event.outcome),
            ['success'],
            `the break-glass read of ${userId} is audited with its reason`,
          );
        }
      });

      /** A second identity that may approve destructive actions. */
      const approver = async () => as(await stack.identity('client-approver', ['approvals:approve']));
      /** Runs a gated call as the two-person rule asks: a request, a second identity's approval, the call again with its id. */
      const underTwoPeople = async <T>(call: (options?: { approvalId?: string }) => Promise<T>): Promise<T> => {
        const request = (await call()) as unknown as { id: string; state: string; action: string };
        assert.equal(request.state, 'pending', `the first call only makes a request: ${JSON.stringify(request)}`);
        const approved = await (await approver()).approveApprovalRequest(request.id);
        assert.equal(approved.id, request.id);
        assert.equal((await client.getApprovalRequest(request.id)).state, 'approved');
        assert.ok((await client.listApprovalRequests()).requests.some((listed) => listed.id === request.id));
        return call({ approvalId: request.id });
      };

      it('starts a KMS key migration under the two-person rule and reads its state', async () => {
        const started = (await underTwoPeople((options) => client.startKmsMigration(options))) as { currentKeyId: string };
        assert.equal(typeof started.currentKeyId, 'string');
        const status = await client.kmsMigration();
        assert.equal(status.currentKeyId, started.currentKeyId);
        assert.equal(typeof status.complete, 'boolean');
      });

      it('defines a blind index, computes it, and rotates its key: both versions while rotating, the new one after', async () => {
        const index = await client.defineIndex({
          name: 'client_sin',
          normalisation: 'digits',
          outputBits: 16,
          expectedCardinality: 1_000_000,
        });
        assert.equal(index.name, 'client_sin');
        assert.ok((await client.listIndexes()).indexes.some((listed) => listed.name === 'client_sin'));
        assert.equal((await client.getIndex('client_sin')).name, 'client_sin');
        const first = await client.computeIndexes('client_sin', ['046 454 286', '046-454-286']);
        assert.equal(first.indexes[0], first.indexes[1], 'the same digits give the same index');
        await client.rotateIndex('client_sin');
        const during = await client.computeIndexes('client_sin', ['046 454 286']);
        assert.deepEqual(during.previous?.indexes, first.indexes.slice(0, 1));
        await underTwoPeople((options) => client.finishIndexRotation('client_sin', options));
        const after = await client.computeIndexes('client_sin', ['046 454 286']);
        assert.equal(after.previous, undefined);
        assert.equal(after.keyVersion, first.keyVersion + 1);
      });

      it('cancels nothing for a person not pending deletion, and erases a person at once under the two-person rule', async () => {
        await client.createKey('303');
        const cancelled = await client.cancelDeletion('303');
        assert.equal(cancelled.cancelled, false);
        const erased = (await underTwoPeople((options) => client.eraseNow('303', options))) as {
          userId: string;
          versionsDestroyed: number;
        };
        assert.deepEqual([erased.userId, erased.versionsDestroyed], ['303', 1]);
        assert.equal((await rejection(client.getKey('303'))).code, 'KEY001');
      });

      it('reads the key census: people’s current keys by algorithm', async () => {
        const { currentKeys } = await client.keyCensus();
        assert.ok(currentKeys['X-Wing'] >= 1, JSON.stringify(currentKeys));
        assert.equal(typeof currentKeys['RSA-OAEP-256'], 'number');
      });

      it('reads the mass-destruction breaker, and lifting it when it is not tripped changes nothing', async () => {
        const breaker = await client.shredBreaker();
        assert.equal(breaker.tripped, false);
        const lifted = (await client.liftShredBreaker()) as { tripped: boolean };
        assert.equal(lifted.tripped, false);
      });

      it('plants a canary: touching it is refused like a tampered item, and once retired it is no longer listed', async () => {
        const {
          canaries: [canary],
        } = await client.createCanaries({ userId: '42', label: 'client e2e canary' });
        assert.ok(canary.ciphertext.startsWith('ek2:'));
        assert.ok((await client.listCanaries()).canaries.some((listed) => listed.id === canary.id));
        const refused = await rejection(client.decrypt('42', [canary.ciphertext]));
        assert.deepEqual([refused.status, refused.code], [400, 'ENC002']);
        assert.deepEqual(await client.retireCanary(canary.id), { id: canary.id, retired: true });
        assert.ok(!(await client.listCanaries()).canaries.some((listed) => listed.id === canary.id));
      });

      it('reads the audit trail: filtered events, a verified chain, and the access report', async () => {
        const page = await client.auditEvents({ userId: '42', limit: 5 });
        assert.ok(page.events.length > 0 && page.events.length <= 5);
        assert.ok(page.events.every((event) => event.userId === '42'));
        const verified = await client.verifyAudit({ full: true });
        assert.deepEqual([verified.ok, verified.mode, verified.checkpointed], [true, 'full', 0]);
        assert.ok(verified.events > 0);
        const resumed = await client.verifyAudit();
        assert.deepEqual([resumed.ok, resumed.mode], [true, 'incremental']);
        assert.ok(resumed.checkpointed >= verified.events);
        const report = await client.accessReport('42', { from: new Date(Date.now() - 3600_000).toISOString() });
        assert.equal(report.userId, '42');
      });

      it('revokes a token: the revoked token then gets a typed 401 AUTH001', async () => {
        const doomed = await stack.identity('client-doomed', ['keys:read']);
        const doomedClient = as(doomed);
        await doomedClient.getKey('42');
        const { revoked } = await client.revokeToken({ token: doomed });
        assert.equal(revoked, true);
        const error = await rejection(doomedClient.getKey('42'));
        assert.deepEqual([error.status, error.code], [401, 'AUTH001']);
      });

      it('crypto-shreds a user: a signed receipt (the same when asked again), then KEY001 for the key and for local encryption', async () => {
        await client.createKey('302');
        await client.encryptLocal('302', ['cached']);
        // The test stacks run without a deletion window (SHRED_PENDING_DAYS=0): the DELETE destroys at once.
        const receipt = (await client.deleteKey('302')) as { userId: string; versionsDestroyed: number; receipt: string };
        assert.deepEqual([receipt.userId, receipt.versionsDestroyed], ['302', 1]);
        assert.equal(client.publicKeys.peek('302'), undefined);
        assert.deepEqual(await client.deleteKey('302'), receipt);
        const header = JSON.parse(Buffer.from(receipt.receipt.split('.')[0], 'base64url').toString('utf8'));
        const { keys } = await client.receiptKeys();
        assert.ok(
          keys.some((key) => key.kid === header.kid),
          'the receipt names a published key',
        );
        for (const call of [() => client.getKey('302'), () => client.encryptLocal('302', ['x'])]) {
          const error = await rejection(call());
          assert.deepEqual([error.status, error.code], [404, 'KEY001']);
        }
      });

      it('answers health and metrics through the client', async () => {
        assert.equal((await client.live()).status, 'ok');
        const ready = await client.ready();
        assert.equal(ready.ready, true);
        assert.match(await client.metrics(), /pii_api_/);
      });

      it('sends a fresh request id per call, or the one the caller gives, and the error carries it', async () => {
        const before = recorder.sent.length;
        await client.getKey('42');
        await client.getKey('42');
        const ids = recorder.sent.slice(before).map((r) => r.requestId);
        assert.ok(
          ids.every((id) => UUID.test(id ?? '')),
          String(ids),
        );
        assert.notEqual(ids[0], ids[1]);
        const error = await rejection(client.decrypt('42', ['not a ciphertext'], { requestId: 'order-7731.decrypt' }));
        assert.deepEqual([error.status, error.code, error.requestId], [400, 'ENC001', 'order-7731.decrypt']);
        assert.ok(!error.message.includes('not a ciphertext'), 'the message never repeats the input');
        await assert.rejects(client.getKey('42', { requestId: 'has spaces' }), TypeError);
      });

      it('gives typed errors with the documented codes', async () => {
        const reader = as(await stack.token(['keys:read']));
        const forbidden = await rejection(reader.encrypt('42', ['x']));
        assert.deepEqual([forbidden.status, forbidden.code], [403, 'AUTH002']);
        assert.ok(forbidden.requestId);
        const anonymous = await rejection(as('not-a-jwt').getKey('42'));
        assert.deepEqual([anonymous.status, anonymous.code], [401, 'AUTH001']);
        const invalid = await rejection(client.getKey('042'));
        assert.deepEqual([invalid.status, invalid.code], [400, 'ENC001']);
        const unknown = await rejection(client.encrypt('9999', ['x']));
        assert.deepEqual([unknown.status, unknown.code], [404, 'KEY001']);
        assert.ok(unknown instanceof Error && unknown.name === 'PiiApiError');
      });

      it('has called every operation of the served OpenAPI document through the client', async () => {
        const document = (await (await fetch(`${stack.url}/docs-json`)).json()) as { paths: Record<string, Record<string, unknown>> };
        const missing: string[] = [];
        for (const [template, item] of Object.entries(document.paths)) {
          const path = templatePattern(template);
          for (const method of Object.keys(item).filter((key) => HTTP_METHODS.includes(key))) {
            if (!recorder.sent.some((request) => request.method === method.toUpperCase() && path.test(request.path))) {
              missing.push(`${method.toUpperCase()} ${template}`);
            }
          }
        }
        assert.deepEqual(missing, [], 'operations no test called: give each a method in clients/typescript/src/client.ts and a test here');
      });

      it('refuses at once with RATE001 and the wait when Retry-After is longer than the caller allows', async () => {
        const { refused, impatientMs, impatientSent } = await rateLimited;
        assert.deepEqual([refused.status, refused.code], [429, 'RATE001']);
        assert.ok(refused.retryAfterSeconds! > 1, String(refused.retryAfterSeconds));
        assert.equal(impatientSent.length, 1);
        assert.ok(impatientMs < 1000, `${impatientMs} ms`);
      });

      it(
        'waits out Retry-After when rate limited and sends the rotation again, which then runs once',
        { skip: definition !== WAITS_OUT_THE_LIMIT && `the minute's wait runs on ${WAITS_OUT_THE_LIMIT.name} only` },
        async () => {
          const { refused, waited } = await rateLimited;
          const { rotated, elapsedMs, sent } = waited!;
          assert.deepEqual(
            sent.map((r) => r.status),
            [429, 200],
          );
          assert.equal(sent[0].requestId, sent[1].requestId, 'one request id for both attempts');
          assert.ok(elapsedMs >= (refused.retryAfterSeconds! - 2) * 1000, `${elapsedMs} ms for Retry-After ${refused.retryAfterSeconds} s`);
          assert.equal(rotated.keyVersion, 2, 'rotated exactly once');
        },
      );
    });
  }
});

describe('typed client when the connection fails', () => {
  let dropper: Server;
  let dropperUrl: string;
  let connections = 0;
  const sockets = new Set<Socket>();

  before(async () => {
    // Accepts a request, reads it, and closes the connection without an answer.
    dropper = createServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.once('data', () => socket.destroy());
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
    dropperUrl = `http://127.0.0.1:${(dropper.address() as { port: number }).port}`;
  });
  after(() => {
    for (const socket of sockets) socket.destroy();
    dropper.close();
  });

  const options = { token: 'token', retry: { maxRetries: 2, baseDelayMs: 10 } };

  it('sends a rotation again when the connection was refused, since nothing reached the service', async () => {
    const { fetch, sent } = recordingFetch();
    const client = new PiiApiClient({ ...options, baseUrl: `http://127.0.0.1:${await freePort()}`, fetch });
    await assert.rejects(client.rotate('42', {}), (error: Error) => /fetch failed/.test(error.message));
    assert.equal(sent.length, 3);
  });

  it('never sends a rotation twice when the connection broke after it was sent, but repeats an encrypt', async () => {
    const client = new PiiApiClient({ ...options, baseUrl: dropperUrl });
    connections = 0;
    await assert.rejects(client.rotate('42', {}));
    assert.equal(connections, 1);
    connections = 0;
    await assert.rejects(client.encrypt('42', ['x']));
    assert.equal(connections, 3);
  });
});
