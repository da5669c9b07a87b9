import { CreateBucketCommand } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { Moto } from './support/moto';
import { checkedAgent } from './support/openapi-contract';
import { waitFor } from './support/processes';
import { bucketLog, directoryLog, LogAccess } from './support/shred-log-access';
import { awsStack, embeddedStack, Environment, motoS3, Stack, STACKS, urlOf } from './support/stacks';

/**
 * Loose ends of the shred log (issue 28, item 4; docs/operations.md 2.4, 3.3, 4.2): what the
 * replay did is counted by outcome in /metrics and readiness (numbers only); a `key.shred-replayed`
 * audit event the trail could not store is appended at the next start, from the log's `replayed`
 * record, and counted as pending until then; a repeated DELETE answers the receipt the log holds
 * when the database lost it, and never one the log says was aborted.
 */

const UNTHROTTLED = { RATE_LIMIT_PER_MINUTE: '100000' };
const PLAINTEXT = 'Jane Doe, 046 454 286';

/** The payload of a compact JWS receipt. */
const payloadOf = (receipt: string) => JSON.parse(Buffer.from(receipt.split('.')[1], 'base64url').toString('utf8'));

/** `pii_api_shred_replay_total{outcome}` and `pii_api_shred_replay_audit_pending` as a scrape shows them. */
function replayMetrics(text: string): { outcomes: Record<string, number>; pending: number | undefined } {
  const outcomes: Record<string, number> = {};
  for (const [, outcome, value] of text.matchAll(/^pii_api_shred_replay_total\{outcome="([a-z_]+)"\} (\d+)$/gm)) {
    outcomes[outcome] = Number(value);
  }
  const pending = /^pii_api_shred_replay_audit_pending (\d+)$/m.exec(text)?.[1];
  return { outcomes, pending: pending === undefined ? undefined : Number(pending) };
}

for (const definition of STACKS) {
  const aws = definition === awsStack;

  describe(`shred-log replay loose ends: outcomes counted, audit events caught up, repeated DELETEs checked against the log — ${definition.name}`, () => {
    let stack: Stack;
    let app: Stack['app'];
    let url: string;
    let token: string;
    let log: LogAccess;

    const api = () => checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), stack.contract);
    const anyone = () => checkedAgent(request.agent(url), stack.contract);
    const query = <T = Record<string, any>>(sql: string, params: unknown[] = []) => stack.query<T>(sql, params);
    const namesOf = async (userId: string) => (await log.names()).filter((name) => name.includes(`_${userId}_v`));

    /** Stops the service and starts it again on the same database (and log unless `env` says otherwise): it replays before it serves. */
    async function restart(env: Environment = {}, { ready = true } = {}): Promise<void> {
      if (aws) {
        app = await stack.startAnother(env);
      } else {
        await stack.app.close();
        stack = await embeddedStack.start({ ...UNTHROTTLED, DATA_DIR: stack.env.DATA_DIR, ...env });
        app = stack.app;
      }
      url = urlOf(app);
      if (ready) {
        const answer = await anyone().get('/health/ready');
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
      }
    }

    /** The shredLog check of readiness, asserted to hold numbers only besides its status. */
    async function shredLogReadiness(): Promise<Record<string, number>> {
      const answer = await anyone().get('/health/ready');
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const { status, ...counts } = answer.body.details.shredLog;
      assert.equal(status, 'up');
      for (const [name, value] of Object.entries(counts)) assert.equal(typeof value, 'number', `readiness shredLog.${name}: ${value}`);
      return counts as Record<string, number>;
    }

    async function keyWithCiphertext(userId: string): Promise<string> {
      assert.equal((await api().post('/api/v1/keys').send({ userId })).status, 201);
      const encrypted = await api()
        .post('/api/v1/encrypt')
        .send({ userId, data: [PLAINTEXT] });
      assert.equal(encrypted.status, 200, JSON.stringify(encrypted.body));
      return encrypted.body.encryptedData[0];
    }

    async function decryptStatus(userId: string, ciphertext: string): Promise<number> {
      return (
        await api()
          .post('/api/v1/decrypt')
          .send({ userId, data: [ciphertext] })
      ).status;
    }

    /** The user's key row with everything a restore would bring back. */
    const rowOf = async (userId: string) => (await query(`SELECT * FROM user_keys WHERE user_id = $1`, [userId]))[0];
    /** What a restore from a backup taken before the shred leaves: the key active again, no receipt. */
    const putBack = (row: Record<string, any>) =>
      query(
        `UPDATE user_keys SET key = $2, key_version = $3, sealed_private_key = $4, created_at = $5, updated_at = $6, is_active = true,
                shred_receipt = NULL WHERE user_id = $1`,
        [row.user_id, row.key, row.key_version, row.sealed_private_key, row.created_at, row.updated_at],
      );
    const replayedEvents = (userId: string) =>
      query<{ details: Record<string, any>; key_versions: number[] }>(
        `SELECT details, key_versions FROM audit_events WHERE action = 'key.shred-replayed' AND target_user_id = $1 ORDER BY occurred_at`,
        [userId],
      );

    before(async () => {
      stack = await definition.start(UNTHROTTLED);
      app = stack.app;
      url = stack.url;
      token = await stack.token();
      log = aws ? bucketLog((stack as Stack & { moto: Moto }).moto.endpoint) : directoryLog(join(stack.env.DATA_DIR, 'shred-log'));
    });
    after(async () => {
      log?.close?.();
      await stack?.close();
    });

    it('counts what the replay did by outcome in /metrics and in readiness, with numbers only', async () => {
      // Restored after its shred: destroyed again.
      const restoredUser = '9401';
      const restoredCiphertext = await keyWithCiphertext(restoredUser);
      const backup = await rowOf(restoredUser);
      assert.equal((await api().delete(`/api/v1/keys/${restoredUser}`)).status, 200);
      await putBack(backup);
      // An intent a DELETE that died before its commit left: aborted.
      const diedBefore = '9402';
      const keptCiphertext = await keyWithCiphertext(diedBefore);
      const [generation] = await query<{ key_version: number; created_at: string }>(
        `SELECT key_version, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at FROM user_keys WHERE user_id = $1`,
        [diedBefore],
      );
      const at = new Date(Date.now() - 60_000).toISOString();
      await log.write(`${at.replace(/:/g, '-')}_${diedBefore}_v1.intent.json`, {
        typ: 'crypto-shred',
        state: 'intent',
        userId: diedBefore,
        keyVersion: generation.key_version,
        keyCreatedAt: generation.created_at,
        at,
      });
      // Committed, but the pod died before it wrote the outcome: completed.
      const diedAfter = '9403';
      await keyWithCiphertext(diedAfter);
      assert.equal((await api().delete(`/api/v1/keys/${diedAfter}`)).status, 200);
      for (const name of await namesOf(diedAfter)) if (!name.endsWith('.intent.json')) await log.remove(name);
      // A state of a later version: skipped.
      const later = '9404';
      await keyWithCiphertext(later);
      await log.write(`${at.replace(/:/g, '-')}_${later}_v1.legal-hold.json`, {
        typ: 'crypto-shred',
        state: 'legal-hold',
        userId: later,
        keyVersion: 1,
        at,
      });

      await restart();
      assert.equal(await decryptStatus(restoredUser, restoredCiphertext), 404);
      assert.equal(await decryptStatus(diedBefore, keptCiphertext), 200);
      const { outcomes, pending } = replayMetrics((await anyone().get('/metrics').expect(200)).text);
      assert.deepEqual(outcomes, { destroyed: 1, aborted: 1, completed: 1, skipped: 1 });
      assert.equal(pending, 0);
      const ready = await shredLogReadiness();
      assert.deepEqual(
        { ...ready, examined: undefined },
        { replayed: 1, completed: 1, aborted: 1, skipped: 1, auditRecovered: 0, auditPending: 0, examined: undefined },
      );
      assert.ok(ready.examined >= 4, JSON.stringify(ready));
    });

    it('appends at the next start a key.shred-replayed event the audit trail refused, counted as pending until then, and only once', async () => {
      const userId = '9405';
      const ciphertext = await keyWithCiphertext(userId);
      const backup = await rowOf(userId);
      const shredded = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(shredded.status, 200);
      await putBack(backup);
      // The audit trail refuses the replay's event (a real refusal: the INSERT fails in the database).
      await query(`CREATE OR REPLACE FUNCTION refuse_shred_replayed() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN RAISE EXCEPTION 'the audit trail refuses this event'; END $$`);
      await query(`CREATE TRIGGER refuse_shred_replayed BEFORE INSERT ON audit_events
                   FOR EACH ROW WHEN (NEW.action = 'key.shred-replayed') EXECUTE FUNCTION refuse_shred_replayed()`);
      try {
        await restart();
        // The key is destroyed again all the same, and the service is ready: the log holds what the trail could not.
        assert.equal(await decryptStatus(userId, ciphertext), 404);
        assert.equal((await replayedEvents(userId)).length, 0);
        const ready = await shredLogReadiness();
        assert.equal(ready.replayed, 1);
        assert.equal(ready.auditPending, 1);
        assert.equal(replayMetrics((await anyone().get('/metrics').expect(200)).text).pending, 1);
        // Still refused at the next start: still pending, nothing appended.
        await restart();
        assert.deepEqual([(await shredLogReadiness()).auditPending, (await replayedEvents(userId)).length], [1, 0]);
      } finally {
        await query(`DROP TRIGGER refuse_shred_replayed ON audit_events`);
      }
      const replayedNames = (await namesOf(userId)).filter((name) => name.endsWith('.replayed.json'));
      assert.equal(replayedNames.length, 1, JSON.stringify(await namesOf(userId)));
      const replayed = await log.read(replayedNames[0]);
      const shredId = (await namesOf(userId)).find((name) => name.endsWith('.destroyed.json'))!.replace('.destroyed.json', '');
      assert.deepEqual(
        { state: replayed.state, shredId: replayed.shredId, keyVersions: replayed.keyVersions },
        { state: 'replayed', shredId, keyVersions: [1] },
      );

      await restart();
      const events = await replayedEvents(userId);
      assert.equal(events.length, 1);
      assert.deepEqual(events[0].key_versions, [1]);
      assert.deepEqual(
        { logEntry: events[0].details.logEntry, replayEntry: events[0].details.replayEntry, destroyedAt: events[0].details.destroyedAt },
        { logEntry: shredId, replayEntry: replayedNames[0].replace('.replayed.json', ''), destroyedAt: shredded.body.destroyedAt },
      );
      assert.equal(events[0].details.receiptId, replayed.receiptId);
      const ready = await shredLogReadiness();
      assert.deepEqual([ready.auditRecovered, ready.auditPending], [1, 0]);
      const scraped = replayMetrics((await anyone().get('/metrics').expect(200)).text);
      assert.deepEqual([scraped.outcomes.audit_recovered, scraped.pending], [1, 0]);

      await restart();
      assert.equal((await replayedEvents(userId)).length, 1, 'appended once');
      assert.equal((await shredLogReadiness()).auditRecovered, 0);
    });

    it('answers a repeated DELETE with the receipt the shred log holds when the database lost it, and puts it back', async () => {
      const userId = '9406';
      await keyWithCiphertext(userId);
      const shredded = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(shredded.status, 200, JSON.stringify(shredded.body));
      assert.ok(payloadOf(shredded.body.receipt).auditEvent, 'the answered receipt names its audit event');

      // The tombstone without its receipt (a restore, or a replay stopped before it stored it).
      await query(`UPDATE user_keys SET shred_receipt = NULL WHERE user_id = $1`, [userId]);
      const repeated = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(repeated.status, 200, JSON.stringify(repeated.body));
      assert.deepEqual(repeated.body, shredded.body);
      const [row] = await query<{ shred_receipt: string }>(`SELECT shred_receipt FROM user_keys WHERE user_id = $1`, [userId]);
      assert.equal(row.shred_receipt, shredded.body.receipt, 'put back on the tombstone');

      // The receipt signed in the transaction (no audit event), as a restore taken before the audit event was stored keeps it.
      const destroyed = await log.read((await namesOf(userId)).find((name) => name.endsWith('.destroyed.json'))!);
      assert.equal(payloadOf(destroyed.receipt).auditEvent, null);
      await query(`UPDATE user_keys SET shred_receipt = $2 WHERE user_id = $1`, [userId, destroyed.receipt]);
      const again = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.receipt, shredded.body.receipt, 'the receipt the caller got, naming the audit event');
    });

    it('never answers a repeated DELETE with a receipt of a shred the log records as aborted', async () => {
      const userId = '9407';
      await keyWithCiphertext(userId);
      const shredded = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(shredded.status, 200);
      // The log says this shred did not commit (its outcome records replaced by an aborted one), the database keeps a receipt of it.
      const names = await namesOf(userId);
      const shredId = names[0].replace(/\.[a-z]+\.json$/, '');
      for (const name of names) if (!name.endsWith('.intent.json')) await log.remove(name);
      await log.write(`${shredId}.aborted.json`, {
        typ: 'crypto-shred',
        state: 'aborted',
        userId,
        keyVersion: 1,
        abortedAt: new Date().toISOString(),
        reason: 'the transaction did not commit',
      });
      const repeated = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(repeated.status, 404, JSON.stringify(repeated.body));
      assert.equal(repeated.body.code, 'KEY001');
      assert.equal(repeated.body.receipt, undefined);
    });

    it('counts a replay attempt that failed (the log out of reach) until one succeeds', async () => {
      // A log the service cannot read yet: a file where the directory should be, or a bucket not created yet.
      const notYet = aws ? 'pii-shred-log-not-yet' : join(stack.env.DATA_DIR, 'log-not-yet');
      const unreachable: Environment = aws ? { SHRED_LOG_BUCKET: notYet } : { SHRED_LOG_DIR: notYet };
      if (!aws) writeFileSync(notYet, '');
      await restart(unreachable, { ready: false });
      await waitFor('a failed replay counted', async () => {
        assert.ok((replayMetrics((await anyone().get('/metrics').expect(200)).text).outcomes.failed ?? 0) >= 1);
      });
      assert.equal((await anyone().get('/health/ready')).status, 503);
      const attempts = (await anyone().get('/health/ready')).body.details.error.shredLog;
      assert.deepEqual(Object.keys(attempts).sort(), ['attempts', 'status']);
      assert.equal(typeof attempts.attempts, 'number');

      if (aws) await motoS3((stack as Stack & { moto: Moto }).moto.endpoint).send(new CreateBucketCommand({ Bucket: notYet }));
      else rmSync(notYet);
      await waitFor('readiness once the log is in reach', async () => {
        assert.equal((await anyone().get('/health/ready')).status, 200);
      });
      const ready = await shredLogReadiness();
      assert.equal(ready.replayed, 0);
    });
  });
}
