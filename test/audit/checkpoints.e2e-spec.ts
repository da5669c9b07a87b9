import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { eventHash, SealedAuditEvent } from '../../src/audit/audit-chain';
import { AuditRetention } from '../../src/audit/audit-retention.service';
import { AuditStore, fromRow } from '../../src/audit/audit-store.service';
import { AuditEventRow } from '../../src/repositories/entities/audit-event.entity';
import { AuditEventRepository } from '../../src/repositories/audit-event.repository';
import { checkedAgent } from '../support/openapi-contract';
import { awsStack, Stack, STACKS, urlOf } from '../support/stacks';
import { eventsOf, newRequestId, sealLegacyEvents } from './support';

interface Checkpoint {
  chain_id: string;
  seq: string;
  event_id: string;
  hash: string;
}

for (const definition of STACKS) {
  describe(`audit verification from checkpoints — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    let auditor: string;
    let ciphertexts: string[];
    /** GET /audit/verify on `agent` (default: the stack's app), incremental unless `full`. */
    const verify = async (full = false, agent: request.Agent = stack.http()) =>
      (
        await agent
          .get(`/api/v1/audit/verify${full ? '?full=true' : ''}`)
          .auth(auditor, { type: 'bearer' })
          .expect(200)
      ).body;
    const decrypt = async (agent: request.Agent = stack.http()) => {
      const requestId = newRequestId();
      await agent
        .post('/api/v1/decrypt')
        .auth(token, { type: 'bearer' })
        .set('X-Request-Id', requestId)
        .send({ userId: '711', data: ciphertexts })
        .expect(200);
      return (await eventsOf(stack, requestId))[0];
    };
    const total = async () => Number((await stack.query(`SELECT count(*) AS n FROM audit_events`))[0].n);
    const checkpointOf = async (chainId: string) =>
      (await stack.query<Checkpoint>(`SELECT chain_id, seq, event_id, hash FROM audit_checkpoints WHERE chain_id = $1`, [chainId]))[0];
    /** The event as stored now, as the hash sees it. */
    const storedEvent = async (id: string) => fromRow(await stack.app.get(DataSource).getRepository(AuditEventRow).findOneByOrFail({ id }));
    /** Runs `tamper` with the append-only trigger disabled, as the table's owner could. */
    const withTriggerDisabled = async (tamper: () => Promise<void>) => {
      await stack.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
      try {
        await tamper();
      } finally {
        await stack.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
      }
    };
    const brokenLinkOf = (result: { brokenLink?: Record<string, unknown> }) => ({ ...result.brokenLink, description: undefined });
    /** The broken link verification reports for an event whose content was edited. */
    const editedAt = (target: { chain_id: string; seq: string; id: string }) => ({
      chainId: target.chain_id,
      seq: Number(target.seq),
      eventId: target.id,
      problem: 'content-hash-mismatch',
      description: undefined,
    });

    before(async () => {
      // Without the random sample of checkpointed links (anchored-checkpoints.e2e-spec.ts has it): what the checkpoints alone prove.
      stack = await definition.start({ AUDIT_VERIFY_SAMPLE: '0' });
      token = await stack.token();
      auditor = await stack.token(['audit:read']);
      await stack.as(token).post('/api/v1/keys').send({ userId: '711' }).expect(201);
      const encrypted = await stack
        .as(token)
        .post('/api/v1/encrypt')
        .send({ userId: '711', data: ['a', 'b'] })
        .expect(200);
      ciphertexts = encrypted.body.encryptedData;
    });
    after(() => stack?.close());

    it('after a full verification, verifies only the events written since, from the checkpoints it left', async () => {
      const full = await verify(true);
      assert.deepEqual(
        { ...full, events: undefined },
        { ok: true, mode: 'full', chains: 1, events: undefined, checkpointed: 0, sampled: 0 },
      );
      assert.equal(full.events, (await total()) - 1); // all but the verification's own event, written after its walk
      await decrypt();
      await decrypt();
      const written = await total();
      const incremental = await verify();
      assert.equal(incremental.ok, true);
      assert.equal(incremental.mode, 'incremental');
      assert.equal(incremental.checkpointed, full.events);
      assert.equal(incremental.events, written - full.events);
      const last = await decrypt();
      assert.equal((await checkpointOf(last.chain_id)).seq, String(Number(last.seq) - 2)); // before the verification event and this decrypt
    });

    it('reports an event edited after the checkpoint', async () => {
      await verify();
      const target = await decrypt();
      await decrypt();
      await withTriggerDisabled(async () => {
        await stack.query(`UPDATE audit_events SET purpose = 'edited' WHERE id = $1`, [target.id]);
        const result = await verify();
        assert.equal(result.ok, false);
        assert.deepEqual(brokenLinkOf(result), editedAt(target));
        await stack.query(`UPDATE audit_events SET purpose = NULL WHERE id = $1`, [target.id]);
      });
      assert.equal((await verify()).ok, true);
    });

    it('reports an edit of the checkpointed event itself, even when its hash was recomputed', async () => {
      const target = await decrypt();
      await verify();
      const checkpoint = await checkpointOf(target.chain_id);
      assert.equal(checkpoint.event_id, target.id);
      await decrypt();
      await withTriggerDisabled(async () => {
        await stack.query(`UPDATE audit_events SET item_count = 1000 WHERE id = $1`, [target.id]);
        const edit = await verify();
        assert.deepEqual(brokenLinkOf(edit), editedAt(target));
        const rehashed = await storedEvent(target.id);
        await stack.query(`UPDATE audit_events SET hash = $2 WHERE id = $1`, [target.id, eventHash(rehashed)]);
        for (const full of [false, true]) {
          const result = await verify(full);
          assert.equal(result.ok, false);
          assert.deepEqual(brokenLinkOf(result), {
            chainId: target.chain_id,
            seq: Number(target.seq),
            eventId: target.id,
            problem: 'checkpoint-mismatch',
            description: undefined,
          });
        }
        await stack.query(`UPDATE audit_events SET item_count = $2, hash = $3 WHERE id = $1`, [
          target.id,
          target.item_count,
          checkpoint.hash,
        ]);
      });
      assert.equal((await verify()).ok, true);
    });

    it('with AUDIT_VERIFY_SAMPLE=0, misses an event edited before the checkpoint, which the full walk reports', async () => {
      const target = await decrypt();
      await decrypt();
      await verify();
      assert.ok(Number((await checkpointOf(target.chain_id)).seq) > Number(target.seq));
      await withTriggerDisabled(async () => {
        await stack.query(`UPDATE audit_events SET purpose = 'edited' WHERE id = $1`, [target.id]);
        const incremental = await verify();
        assert.equal(incremental.ok, true, 'the documented limit of an incremental verification without a sample');
        const full = await verify(true);
        assert.equal(full.ok, false);
        assert.deepEqual(brokenLinkOf(full), editedAt(target));
        await stack.query(`UPDATE audit_events SET purpose = NULL WHERE id = $1`, [target.id]);
      });
      assert.equal((await verify(true)).ok, true);
    });

    it('never moves a checkpoint back when an older verification finishes after a newer one', async () => {
      const older = await decrypt();
      await decrypt();
      await verify();
      const newer = await checkpointOf(older.chain_id);
      await stack.app
        .get(AuditEventRepository)
        .advanceCheckpoints([{ chainId: older.chain_id, seq: Number(older.seq), eventId: older.id, hash: 'f'.repeat(64) }], new Date());
      assert.deepEqual(await checkpointOf(older.chain_id), newer);
    });

    it('stays verifiable when a retention purge cuts a chain past its checkpoint', async () => {
      // A chain whose first three events are from 2015, long past the default 2555 days, and the rest from today.
      const chainId = randomUUID();
      const events: SealedAuditEvent[] = [];
      const append = async (times: string[]) => {
        const sealed = sealLegacyEvents(chainId, '711', times, events.at(-1));
        await stack.app.get(AuditStore).insert(sealed);
        events.push(...sealed);
      };
      await append(['2015-06-01T00:00:00.000Z', '2015-06-02T00:00:00.000Z', '2015-06-03T00:00:00.000Z']);
      assert.equal((await verify()).ok, true);
      assert.equal((await checkpointOf(chainId)).seq, '3');
      const now = new Date().toISOString();
      await append([now, now]);

      await stack.app.get(AuditRetention).purgeExpired();
      assert.deepEqual(
        (await stack.query<{ seq: string }>(`SELECT seq FROM audit_events WHERE chain_id = $1 ORDER BY seq`, [chainId])).map((r) => r.seq),
        ['4', '5'],
      );
      const afterPurge = await verify();
      assert.equal(afterPurge.ok, true, JSON.stringify(afterPurge.brokenLink));
      assert.equal((await checkpointOf(chainId)).seq, '5');
      const again = await verify();
      assert.equal(again.ok, true, JSON.stringify(again.brokenLink));
      assert.equal((await verify(true)).ok, true);
    });

    it('keeps its checkpoints in the database: a restarted service and a second replica resume from them', async () => {
      const full = await verify(true);
      // PostgreSQL: a second replica; the embedded database belongs to one process, which is restarted instead.
      let second: request.Agent;
      if (definition === awsStack) {
        second = checkedAgent(request.agent(urlOf(await stack.startAnother())), stack.contract);
      } else {
        await stack.app.close();
        // The tokens minted before stay valid: the service's signing keys are in DATA_DIR.
        stack = await definition.start({ DATA_DIR: stack.env.DATA_DIR });
        second = stack.http();
      }
      await decrypt(second);
      let written = await total();
      const resumed = await verify(false, second);
      assert.deepEqual([resumed.ok, resumed.checkpointed, resumed.events], [true, full.events, written - full.events]);

      await decrypt(second);
      await decrypt();
      written = await total();
      const back = await verify();
      const seenBefore = resumed.events + resumed.checkpointed;
      assert.deepEqual([back.ok, back.checkpointed, back.events], [true, seenBefore, written - seenBefore]);
    });

    it('refuses a full other than true or false, and unknown query parameters, with ENC001', async () => {
      for (const query of ['full=yes', 'full=', 'full=true&full=false', 'since=3']) {
        const response = await stack.as(auditor).get(`/api/v1/audit/verify?${query}`);
        assert.equal(response.status, 400, query);
        assert.equal(response.body.code, 'ENC001', query);
      }
      const explicit = await stack.as(auditor).get('/api/v1/audit/verify?full=false').expect(200);
      assert.equal(explicit.body.mode, 'incremental');
    });
  });
}
