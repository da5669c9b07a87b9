import { SchedulerRegistry } from '@nestjs/schedule';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { checkedAgent } from '../support/openapi-contract';
import { AUDIT_RETENTION_JOB, AuditRetention } from '../../src/audit/audit-retention.service';
import { AuditStore } from '../../src/audit/audit-store.service';
import { GENESIS_HASH, sealEvent } from '../../src/audit/audit-chain';
import { SYSTEM_ACTOR } from '../../src/audit/audit-writer.service';
import { Stack, STACKS, urlOf } from '../support/stacks';
import { AuditRow, newRequestId, sealLegacyEvents } from './support';

for (const definition of STACKS) {
  describe(`audit trail integrity — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    let auditor: string;
    let ciphertexts: string[];
    // The full walk, from every chain's start (checkpoints.e2e-spec.ts covers the incremental one).
    const verify = async () => (await stack.as(auditor).get('/api/v1/audit/verify?full=true')).body;
    const decrypt = (agent: request.Agent, requestId: string) =>
      agent
        .post('/api/v1/decrypt')
        .auth(token, { type: 'bearer' })
        .set('X-Request-Id', requestId)
        .send({ userId: '701', data: ciphertexts });
    const someDecryptEvent = async () =>
      (await stack.query<AuditRow>(`SELECT * FROM audit_events WHERE action = 'decrypt' ORDER BY occurred_at LIMIT 1 OFFSET 1`))[0];

    before(async () => {
      stack = await definition.start();
      token = await stack.token();
      auditor = await stack.token(['audit:read']);
      await stack.as(token).post('/api/v1/keys').send({ userId: '701' });
      const encrypted = await stack
        .as(token)
        .post('/api/v1/encrypt')
        .send({ userId: '701', data: ['a', 'b'] });
      ciphertexts = encrypted.body.encryptedData;
    });
    after(() => stack?.close());

    it('refuses to update, delete or truncate audit rows in the database', async () => {
      await decrypt(stack.http(), newRequestId());
      await decrypt(stack.http(), newRequestId());
      const { id } = await someDecryptEvent();
      await assert.rejects(stack.query(`UPDATE audit_events SET purpose = 'edited' WHERE id = $1`, [id]), /append-only: UPDATE refused/);
      await assert.rejects(stack.query(`DELETE FROM audit_events WHERE id = $1`, [id]), /append-only: DELETE refused/);
      await assert.rejects(stack.query(`TRUNCATE audit_events`), /append-only: TRUNCATE refused/);
      const [{ purpose }] = await stack.query(`SELECT purpose FROM audit_events WHERE id = $1`, [id]);
      assert.equal(purpose, null);
    });

    it('keeps every chain intact through 200 concurrent decrypts, each recorded exactly once', async () => {
      // On PostgreSQL the requests are spread over two replicas, each with its own chain.
      const agents = [stack.http()];
      if (stack.env.DATABASE_URL) {
        agents.push(checkedAgent(request.agent(urlOf(await stack.startAnother())), stack.contract));
      }
      const requestIds = Array.from({ length: 200 }, () => newRequestId());
      const responses = await Promise.all(requestIds.map((id, i) => decrypt(agents[i % agents.length], id)));
      assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([200]));
      const rows = await stack.query<{ request_id: string; count: string; chains: string }>(
        `SELECT request_id, count(*) AS count, count(DISTINCT chain_id) AS chains FROM audit_events WHERE request_id = ANY($1) GROUP BY request_id`,
        [requestIds],
      );
      assert.equal(rows.length, 200);
      assert.ok(rows.every((row) => Number(row.count) === 1));
      const [{ chains }] = await stack.query(`SELECT count(DISTINCT chain_id) AS chains FROM audit_events WHERE request_id = ANY($1)`, [
        requestIds,
      ]);
      assert.equal(Number(chains), agents.length);
      const [{ total }] = await stack.query(`SELECT count(*) AS total FROM audit_events`);
      const result = await verify();
      assert.equal(result.ok, true, JSON.stringify(result.brokenLink));
      assert.equal(result.events, Number(total));
    });

    it('schedules the retention purge daily at 04:30 UTC by default (AUDIT_RETENTION_CRON)', () => {
      const job = stack.app.get(SchedulerRegistry).getCronJob(AUDIT_RETENTION_JOB);
      assert.equal(job.cronTime.source, '30 4 * * *');
      assert.equal(job.cronTime.timeZone, 'UTC');
      assert.equal(job.isActive, true);
    });

    it('purges events past AUDIT_RETENTION_DAYS and records the purge, leaving the trail verifiable', async () => {
      // A chain from 2015, long past the default 2555 days: its events are inserted as they were sealed.
      const chainId = randomUUID();
      const old = sealLegacyEvents(chainId, '701', ['2015-06-01T00:00:00.000Z', '2015-06-02T00:00:00.000Z', '2015-06-03T00:00:00.000Z']);
      await stack.app.get(AuditStore).insert(old);
      assert.equal((await verify()).ok, true);

      await stack.app.get(AuditRetention).purgeExpired();
      assert.equal((await stack.query(`SELECT * FROM audit_events WHERE chain_id = $1`, [chainId])).length, 0);
      const [purge] = await stack.query<AuditRow>(`SELECT * FROM audit_events WHERE action = 'audit.purge'`);
      assert.equal(purge.item_count, 3);
      assert.deepEqual((purge.details as { anchors: unknown[] }).anchors, [{ chainId, resumesAtSeq: 4, prevHash: old[2].hash }]);
      assert.equal((await verify()).ok, true);
    });

    it('keeps the trail verifiable when a purge cuts a live chain, and when a later purge removes an earlier purge event', async () => {
      // The purge removes only events past the retention: the trail is built from sealed events of long ago.
      const now = new Date().toISOString();
      // A live chain: two events from 2015, two from today.
      const live = randomUUID();
      const liveEvents = sealLegacyEvents(live, '701', ['2015-07-01T00:00:00.000Z', '2015-07-02T00:00:00.000Z', now, now]);
      // A chain an earlier purge (in 2016, on a chain of its own) cut before seq 3.
      const cut = randomUUID();
      const cutEvents = sealLegacyEvents(cut, '701', [
        '2015-01-01T00:00:00.000Z',
        '2015-01-02T00:00:00.000Z',
        '2016-03-01T00:00:00.000Z',
        now,
      ]);
      const earlierPurge = sealEvent(
        {
          id: randomUUID(),
          time: '2016-01-01T00:00:00.000Z',
          requestId: null,
          actor: SYSTEM_ACTOR,
          action: 'audit.purge',
          userId: null,
          keyVersions: [],
          itemCount: 2,
          outcome: 'success',
          errorCode: null,
          sourceIp: null,
          purpose: null,
          details: { purgedBefore: '2015-12-31T00:00:00.000Z', anchors: [{ chainId: cut, resumesAtSeq: 3, prevHash: cutEvents[1].hash }] },
        },
        { chainId: randomUUID(), seq: 1, prevHash: GENESIS_HASH },
      );
      await stack.app.get(AuditStore).insert([...liveEvents, ...cutEvents.slice(2), earlierPurge]);
      assert.equal((await verify()).ok, true);

      const purged = await stack.app.get(AuditRetention).purgeBefore(new Date('2017-01-01T00:00:00.000Z'));
      assert.equal(purged, 4); // live 1–2, cut 3 and the earlier purge event
      const seqs = async (chainId: string) =>
        (await stack.query<{ seq: string }>(`SELECT seq FROM audit_events WHERE chain_id = $1 ORDER BY seq`, [chainId])).map((r) => r.seq);
      assert.deepEqual(await seqs(live), ['3', '4']);
      assert.deepEqual(await seqs(cut), ['4']);
      assert.deepEqual(await seqs(earlierPurge.chainId), []);
      const [purge] = await stack.query<AuditRow>(
        `SELECT * FROM audit_events WHERE action = 'audit.purge' ORDER BY occurred_at DESC LIMIT 1`,
      );
      const anchors = (purge.details as { anchors: Array<{ chainId: string; resumesAtSeq: number }> }).anchors;
      assert.deepEqual(Object.fromEntries(anchors.map((anchor) => [anchor.chainId, anchor.resumesAtSeq])), {
        [live]: 3,
        [cut]: 4,
        [earlierPurge.chainId]: 2,
      });
      const result = await verify();
      assert.equal(result.ok, true, JSON.stringify(result.brokenLink));
      await assert.rejects(stack.query(`DELETE FROM audit_events`), /append-only/);
    });

    it('reports an event edited with the trigger disabled as the first broken link, and passes again once it is restored', async () => {
      await Promise.all([1, 2, 3].map(() => decrypt(stack.http(), newRequestId())));
      const edited = await someDecryptEvent();
      await stack.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
      try {
        await stack.query(`UPDATE audit_events SET item_count = 1 WHERE id = $1`, [edited.id]);
        const result = await verify();
        assert.equal(result.ok, false);
        assert.deepEqual(
          { ...result.brokenLink, description: undefined },
          {
            chainId: edited.chain_id,
            seq: Number(edited.seq),
            eventId: edited.id,
            problem: 'content-hash-mismatch',
            description: undefined,
          },
        );
        await stack.query(`UPDATE audit_events SET item_count = $2 WHERE id = $1`, [edited.id, edited.item_count]);
        assert.equal((await verify()).ok, true);
      } finally {
        await stack.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
      }
    });

    it('reports an event deleted with the trigger disabled at the event that followed it', async () => {
      const removed = await someDecryptEvent();
      const [copy] = await stack.query(`SELECT row_to_json(e) AS row FROM audit_events e WHERE id = $1`, [removed.id]);
      await stack.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
      try {
        await stack.query(`DELETE FROM audit_events WHERE id = $1`, [removed.id]);
        const result = await verify();
        assert.equal(result.ok, false);
        assert.equal(result.brokenLink.chainId, removed.chain_id);
        assert.equal(result.brokenLink.seq, Number(removed.seq) + 1);
        assert.equal(result.brokenLink.problem, 'sequence-gap');
        await stack.query(`INSERT INTO audit_events SELECT * FROM json_populate_record(null::audit_events, $1)`, [
          JSON.stringify(copy.row),
        ]);
        assert.equal((await verify()).ok, true);
      } finally {
        await stack.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
      }
    });
  });
}
