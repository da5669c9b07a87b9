import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Stack, STACKS } from '../support/stacks';
import { actorOf, anotherCaller } from './support';

for (const definition of STACKS) {
  describe(`audit query and access report — ${definition.name}`, () => {
    let stack: Stack;
    let owner: string;
    let billing: string;
    let auditor: string;

    const post = (bearer: string, path: string, body: object) => stack.as(bearer).post(`/api/v1/${path}`).send(body);
    const get = (path: string, bearer = auditor) => stack.as(bearer).get(`/api/v1/${path}`);
    const encrypt = async (bearer: string, userId: string, data: string[]): Promise<string[]> =>
      (await post(bearer, 'encrypt', { userId, data })).body.encryptedData;
    const decrypt = (bearer: string, userId: string, data: string[], purpose?: string) =>
      post(bearer, 'decrypt', { userId, data, purpose });

    before(async () => {
      stack = await definition.start();
      owner = await stack.token();
      billing = await anotherCaller(stack, 'billing-service', ['encrypt', 'decrypt']);
      auditor = await stack.token(['audit:read']);
      for (const userId of ['901', '902', '903']) await post(owner, 'keys', { userId });
    });
    after(() => stack?.close());

    it('pages through a user’s events newest first with an opaque cursor, without gaps or repeats', async () => {
      for (let i = 0; i < 7; i++) await encrypt(owner, '903', [`item ${i}`]);
      const expected = await stack.query<{ id: string }>(
        `SELECT id FROM audit_events WHERE target_user_id = 903 ORDER BY occurred_at DESC, id DESC`,
      );
      assert.equal(expected.length, 9);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await get(`audit?userId=903&limit=4${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(page.status, 200);
        assert.ok(page.body.events.length <= 4);
        seen.push(...page.body.events.map((e: { id: string }) => e.id));
        cursor = page.body.nextCursor;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(
        seen,
        expected.map((row) => row.id),
      );
    });

    it('shows each event with its caller, user, versions, outcome, purpose and chain link', async () => {
      const data = await encrypt(owner, '901', ['a', 'b']);
      await decrypt(billing, '901', data, 'quarterly statement');
      const { body } = await get(`audit?userId=901&action=decrypt&limit=1`);
      const [event] = body.events;
      assert.deepEqual(
        {
          ...event,
          id: undefined,
          time: undefined,
          requestId: undefined,
          sourceIp: undefined,
          chainId: undefined,
          seq: undefined,
          prevHash: undefined,
          hash: undefined,
        },
        {
          id: undefined,
          time: undefined,
          requestId: undefined,
          sourceIp: undefined,
          chainId: undefined,
          seq: undefined,
          prevHash: undefined,
          hash: undefined,
          actor: actorOf(billing),
          action: 'decrypt',
          userId: '901',
          keyVersions: [1],
          itemCount: 2,
          outcome: 'success',
          errorCode: null,
          purpose: 'quarterly statement',
          details: null,
          // Tracing is off here (no OTEL_EXPORTER_OTLP_ENDPOINT): no trace to join.
          traceId: null,
        },
      );
      assert.match(event.hash, /^[0-9a-f]{64}$/);
      assert.ok(Number.isInteger(event.seq));
    });

    it('filters by action, caller, user and time range', async () => {
      const data = await encrypt(owner, '902', ['x']);
      await decrypt(billing, '902', data, 'filters');
      await new Promise((resolve) => setTimeout(resolve, 5)); // distinct timestamps for the range below
      await decrypt(owner, '902', data, 'filters');
      const byAction = (await get('audit?userId=902&action=decrypt')).body.events;
      assert.equal(byAction.length, 2);
      assert.ok(byAction.every((e: { action: string; userId: string }) => e.action === 'decrypt' && e.userId === '902'));

      const billingActor = actorOf(billing);
      for (const actor of [billingActor.sub, billingActor.username].filter(Boolean)) {
        const byActor = (await get(`audit?actor=${encodeURIComponent(actor!)}&userId=902`)).body.events;
        assert.deepEqual(
          byActor.map((e: { action: string }) => e.action),
          ['decrypt'],
          `actor=${actor}`,
        );
      }

      const [first, last] = await stack
        .query<{ first: Date; last: Date }>(
          `SELECT min(occurred_at) AS first, max(occurred_at) AS last FROM audit_events WHERE target_user_id = 902 AND action = 'decrypt'`,
        )
        .then(([row]) => [row.first, row.last]);
      const from = new Date(first).toISOString();
      const to = new Date(last).toISOString();
      const inRange = (await get(`audit?userId=902&action=decrypt&from=${from}&to=${to}`)).body.events;
      assert.deepEqual(
        inRange.map((e: { time: string }) => e.time),
        [from],
        'from is inclusive, to exclusive',
      );
    });

    it('refuses invalid parameters with ENC001 naming them', async () => {
      for (const [query, named] of [
        ['userId=abc', /userId/],
        ['action=steal', /action/],
        ['from=yesterday', /from/],
        ['to=2026-13-01', /to/],
        ['limit=0', /limit/],
        ['limit=501', /limit/],
        ['cursor=bm90LWEtY3Vyc29y', /cursor/],
        ['cursor=%3Bdrop', /cursor/],
        ['actor=has%20space', /actor/],
        ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', /from must not be later than to/],
        ['sort=asc', /sort/],
      ] as const) {
        const response = await get(`audit?${query}`);
        assert.equal(response.status, 400, query);
        assert.equal(response.body.code, 'ENC001', query);
        assert.match(response.body.message, named, query);
      }
      assert.equal((await get('keys/901/access-report?from=soon')).body.code, 'ENC001');
      assert.equal((await get('keys/0/access-report')).body.code, 'ENC001');
    });

    it('documents the audit routes and their parameters in the OpenAPI document', async () => {
      const { body: openapi } = await stack.http().get('/docs-json');
      const query = openapi.paths['/api/v1/audit']?.get;
      assert.deepEqual(query.parameters.map((p: { name: string }) => p.name).sort(), [
        'action',
        'actor',
        'cursor',
        'from',
        'limit',
        'to',
        'userId',
      ]);
      assert.ok(openapi.paths['/api/v1/audit/verify']?.get);
      assert.ok(openapi.paths['/api/v1/keys/{userId}/access-report']?.get);
      assert.ok(openapi.components.schemas.DecryptRequest.properties.purpose);
    });

    it('requires the audit:read permission to read the trail, verify it or see a report', async () => {
      for (const path of ['audit', 'audit/verify', 'keys/901/access-report']) {
        const response = await get(path, billing);
        assert.equal(response.status, 403, path);
        assert.equal(response.body.code, 'AUTH002');
      }
    });

    it('reports, for one person, who encrypted or decrypted their data, how many items, when and why', async () => {
      // Failed operations are not accesses: before the key exists, and with a broken ciphertext.
      assert.equal((await post(owner, 'encrypt', { userId: '904', data: ['a'] })).body.code, 'KEY001');
      await post(owner, 'keys', { userId: '904' });
      const ciphertexts = await encrypt(owner, '904', ['a', 'b', 'c', 'd']);
      await decrypt(owner, '904', ciphertexts.slice(0, 2), 'probate filing');
      await decrypt(owner, '904', ciphertexts.slice(0, 3), 'probate filing');
      await decrypt(billing, '904', ciphertexts.slice(0, 1), 'invoice');
      assert.equal((await decrypt(billing, '904', ['ek1:1:broken'], 'invoice')).body.code, 'ENC001');
      await decrypt(billing, '902', await encrypt(owner, '902', ['other person']), 'invoice');

      const response = await get('keys/904/access-report');
      assert.equal(response.status, 200);
      assert.equal(response.body.userId, '904');
      assert.equal(response.body.truncated, false);
      const summary = response.body.accesses
        .map((a: any) => ({ actor: a.actor, action: a.action, purpose: a.purpose, requests: a.requests, items: a.items }))
        .sort((x: any, y: any) => `${x.action}${x.purpose}`.localeCompare(`${y.action}${y.purpose}`));
      assert.deepEqual(summary, [
        { actor: actorOf(billing), action: 'decrypt', purpose: 'invoice', requests: 1, items: 1 },
        { actor: actorOf(owner), action: 'decrypt', purpose: 'probate filing', requests: 2, items: 5 },
        { actor: actorOf(owner), action: 'encrypt', purpose: null, requests: 1, items: 4 },
      ]);
      for (const access of response.body.accesses) assert.ok(access.firstAt <= access.lastAt);

      const later = new Date(Date.now() + 60_000).toISOString();
      const empty = await get(`keys/904/access-report?from=${later}`);
      assert.deepEqual(empty.body.accesses, []);
      assert.equal(empty.body.from, later);
    });
  });
}
