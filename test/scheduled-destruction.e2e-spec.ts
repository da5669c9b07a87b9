import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { NestExpressApplication } from '@nestjs/platform-express';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { ScheduledDestructionJob } from '../src/keys/scheduled-destruction.job';
import type { Moto } from './support/moto';
import { checkedAgent } from './support/openapi-contract';
import { awsStack, embeddedStack, motoS3, SHRED_LOG_BUCKET, SHRED_LOG_PREFIX, Stack, STACKS } from './support/stacks';
import { RedisServer } from './resilience/support/redis-server';

/**
 * Issue 26, item 1: scheduled destruction. A DELETE /keys puts the person's keys into pending
 * deletion for SHRED_PENDING_DAYS (here the default, 7): every use is refused at once on every
 * replica with 409 KEY005, POST /keys/{userId}/cancel-deletion (keys:restore) restores them
 * within the window, and the scheduled job destroys them once it has ended (the test moves the
 * database's `destroys_at` into the past and runs the job in process: it reads the database
 * clock), with the signed receipt. The shred log records `scheduled` and `cancelled` too, so a
 * restore of the key database cannot undo either. Item 5: destroying before the window ends
 * takes two people (POST /keys/{userId}/erase-now under the two-person rule).
 */

const WINDOW = { SHRED_PENDING_DAYS: '7', RATE_LIMIT_PER_MINUTE: '100000' };
const PLAINTEXT = 'Jane Doe, 046 454 286';
const DAY_MS = 86_400_000;

/** Requests of one replica as one caller, each checked against the served document. */
type Api = (token?: string) => request.Agent;

/** The payload of a compact JWS receipt. */
const payloadOf = (receipt: string) => JSON.parse(Buffer.from(receipt.split('.')[1], 'base64url').toString('utf8'));

for (const definition of STACKS) {
  const aws = definition === awsStack;

  describe(`the deletion window: pending deletion, cancellation, scheduled destruction — ${definition.name}`, { timeout: 600_000 }, () => {
    let stack: Stack;
    let redis: RedisServer | undefined;
    /** All permissions. */
    let admin: string;
    /** Two people for the two-person rule: one may destroy and approve, the other only approve. */
    let officer1: string;
    let officer2: string;
    /** Two replicas (on the embedded database, one process is all there is: both are it). */
    let replicas: NestExpressApplication[];

    const api =
      (app: NestExpressApplication): Api =>
      (token = admin) =>
        checkedAgent(request.agent(app.getHttpServer()).auth(token, { type: 'bearer' }), stack.contract);
    const a = () => api(replicas[0])();
    const b = () => api(replicas[1])();
    const query = <T = Record<string, any>>(sql: string, params: unknown[] = []) => stack.query<T>(sql, params);

    async function keyWithCiphertext(userId: string): Promise<string> {
      await a().post('/api/v1/keys').send({ userId }).expect(201);
      return (
        await a()
          .post('/api/v1/encrypt')
          .send({ userId, data: [PLAINTEXT] })
          .expect(200)
      ).body.encryptedData[0];
    }

    /** Every route that uses the person's keys, from one replica: each status and code. */
    async function answersFor(agent: () => request.Agent, userId: string, ciphertext: string): Promise<Record<string, [number, string]>> {
      const answers: Record<string, request.Response> = {
        encrypt: await agent()
          .post('/api/v1/encrypt')
          .send({ userId, data: ['x'] }),
        decrypt: await agent()
          .post('/api/v1/decrypt')
          .send({ userId, data: [ciphertext], purpose: 'test' }),
        rotate: await agent()
          .post('/api/v1/rotate')
          .send({ userId, data: { name: ciphertext } }),
        rewrap: await agent()
          .post('/api/v1/rewrap')
          .send({ userId, data: [ciphertext] }),
        canaries: await agent().post('/api/v1/canaries').send({ userId }),
        getKey: await agent().get(`/api/v1/keys/${userId}`),
        createKey: await agent().post('/api/v1/keys').send({ userId }),
      };
      return Object.fromEntries(Object.entries(answers).map(([name, answer]) => [name, [answer.status, answer.body.code ?? 'ok']]));
    }
    const allRefused = Object.fromEntries(
      ['encrypt', 'decrypt', 'rotate', 'rewrap', 'canaries', 'getKey', 'createKey'].map((name) => [name, [409, 'KEY005']]),
    );

    const decrypts = async (agent: () => request.Agent, userId: string, ciphertext: string) => {
      const answer = await agent()
        .post('/api/v1/decrypt')
        .send({ userId, data: [ciphertext], purpose: 'test' });
      return [answer.status, answer.body.decryptedData?.[0] ?? answer.body.code];
    };

    /** The shred log's record names of one user. */
    async function logNames(userId: string): Promise<string[]> {
      let names: string[];
      if (aws) {
        const s3 = motoS3((stack as Stack & { moto: Moto }).moto.endpoint);
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: SHRED_LOG_BUCKET, Prefix: SHRED_LOG_PREFIX }));
        s3.destroy();
        names = (listed.Contents ?? []).map((o) => o.Key!.slice(SHRED_LOG_PREFIX.length));
      } else {
        names = readdirSync(join(stack.env.DATA_DIR, 'shred-log'));
      }
      return names.filter((name) => name.includes(`_${userId}_v`)).sort();
    }
    async function logRecord(name: string): Promise<Record<string, any>> {
      if (!aws) return JSON.parse(readFileSync(join(stack.env.DATA_DIR, 'shred-log', name), 'utf8'));
      const s3 = motoS3((stack as Stack & { moto: Moto }).moto.endpoint);
      const object = await s3.send(new GetObjectCommand({ Bucket: SHRED_LOG_BUCKET, Key: SHRED_LOG_PREFIX + name }));
      const body = await object.Body!.transformToString('utf8');
      s3.destroy();
      return JSON.parse(body);
    }

    /** The window ends now, by the database clock the job reads. */
    const endWindow = (userId: string) =>
      query(
        `UPDATE user_keys SET deletion_requested_at = now() - interval '7 days', destroys_at = now() - interval '1 second' WHERE user_id = $1`,
        [userId],
      );
    const job = (app: NestExpressApplication) => app.get(ScheduledDestructionJob);

    /** A backup of the person's key row, kept in the database itself (every digit of its times included). */
    const backUp = (userId: string, name: string) =>
      query(`CREATE TABLE ${name} AS SELECT * FROM user_keys WHERE user_id = ${Number(userId)}`);
    /** What restoring that backup leaves for the person: the row as it was then. */
    const restore = (name: string) =>
      query(
        `UPDATE user_keys k SET key = b.key, key_version = b.key_version, sealed_private_key = b.sealed_private_key, key_provider = b.key_provider,
                kms_key_id = b.kms_key_id, algorithm = b.algorithm, created_at = b.created_at, updated_at = b.updated_at, is_active = b.is_active,
                shred_receipt = b.shred_receipt, deletion_requested_at = b.deletion_requested_at, destroys_at = b.destroys_at,
                rotation_lease_id = b.rotation_lease_id, rotation_lease_until = b.rotation_lease_until
           FROM ${name} b WHERE k.user_id = b.user_id`,
      );
    /** Stops the service and starts it on the same database and log: it replays the log before it serves. */
    async function restart(): Promise<void> {
      if (aws) {
        const next = await stack.startAnother({ REDIS_URL: redis!.url });
        replicas = [next, next];
      } else {
        await stack.app.close();
        stack = await embeddedStack.start({ ...WINDOW, DATA_DIR: stack.env.DATA_DIR });
        replicas = [stack.app, stack.app];
      }
      const ready = await checkedAgent(request.agent(replicas[0].getHttpServer()), stack.contract).get('/health/ready');
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
    }

    before(async () => {
      if (aws) redis = await RedisServer.start();
      stack = await definition.start(WINDOW);
      admin = await stack.token();
      officer1 = await stack.identity('erase-officer-1', ['keys:delete', 'approvals:approve']);
      officer2 = await stack.identity('erase-officer-2', ['approvals:approve']);
      // Two replicas sharing the public-key cache in Redis (on PostgreSQL); the embedded database serves one process.
      replicas = aws
        ? [await stack.startAnother({ REDIS_URL: redis!.url }), await stack.startAnother({ REDIS_URL: redis!.url })]
        : [stack.app, stack.app];
    });
    after(async () => {
      await stack?.close();
      await redis?.stop();
    });

    it('a DELETE answers 202 with destroysAt 7 days on, and from then every route refuses the person with 409 KEY005 on both replicas', async () => {
      const userId = '7101';
      const ciphertext = await keyWithCiphertext(userId);
      // Both replicas have used the key (and cached its public key) before the DELETE.
      await b()
        .post('/api/v1/encrypt')
        .send({ userId, data: ['warm'] })
        .expect(200);
      assert.deepEqual(await decrypts(b, userId, ciphertext), [200, PLAINTEXT]);

      const deleted = await a().delete(`/api/v1/keys/${userId}`).expect(202);
      assert.equal(deleted.body.state, 'pending-deletion');
      assert.equal(deleted.body.keyVersion, 1);
      const window = Date.parse(deleted.body.destroysAt) - Date.parse(deleted.body.deletionRequestedAt);
      assert.equal(window, 7 * DAY_MS);

      assert.deepEqual(await answersFor(a, userId, ciphertext), allRefused);
      assert.deepEqual(await answersFor(b, userId, ciphertext), allRefused);
      const refused = await b()
        .post('/api/v1/encrypt')
        .send({ userId, data: ['x'] });
      assert.equal(refused.body.details.destroysAt, deleted.body.destroysAt, 'the refusal says when the keys are destroyed');

      // A repeated DELETE answers the same pending deletion: the window does not restart.
      const again = await b().delete(`/api/v1/keys/${userId}`).expect(202);
      assert.deepEqual(again.body, deleted.body);
      // The shred log holds it outside the database; nothing is destroyed yet.
      const names = await logNames(userId);
      assert.equal(names.length, 1);
      assert.match(names[0], /\.scheduled\.json$/);
      assert.equal((await logRecord(names[0])).destroysAt, deleted.body.destroysAt);
      // Not due yet: the job destroys nothing.
      assert.deepEqual(await job(replicas[0]).run(), { destroyed: 0 });
      assert.deepEqual(await query(`SELECT sealed_private_key IS NOT NULL AS kept FROM user_keys WHERE user_id = $1`, [userId]), [
        { kept: true },
      ]);
    });

    it('translate from or to a person pending deletion is refused with 409 KEY005', async () => {
      const [from, to] = ['7111', '7112'];
      const ciphertext = await keyWithCiphertext(from);
      await keyWithCiphertext(to);
      const grant = await a()
        .post('/api/v1/grants')
        .send({ fromUserId: from, toUserId: to, reason: 'Executor of the estate, probate file 7' })
        .expect(201);
      for (const approver of ['approver-1', 'approver-2']) {
        await api(replicas[0])(await stack.identity(approver, ['grants:approve']))
          .post(`/api/v1/grants/${grant.body.id}/approve`)
          .expect(200);
      }
      const translate = () =>
        b()
          .post('/api/v1/translate')
          .send({ fromUserId: from, toUserId: to, data: [ciphertext] });
      assert.equal((await translate()).status, 200);
      for (const pending of [from, to]) {
        await a().delete(`/api/v1/keys/${pending}`).expect(202);
        const refused = await translate();
        assert.deepEqual([refused.status, refused.body.code], [409, 'KEY005'], `${pending} pending`);
        await a().post(`/api/v1/keys/${pending}/cancel-deletion`).expect(200);
        assert.equal((await translate()).status, 200);
      }
    });

    it('a cancellation within the window restores the person: their old ciphertexts decrypt again on both replicas, and nothing is destroyed later', async () => {
      const userId = '7121';
      const ciphertext = await keyWithCiphertext(userId);
      await a().delete(`/api/v1/keys/${userId}`).expect(202);
      assert.deepEqual(await decrypts(b, userId, ciphertext), [409, 'KEY005']);

      const restorer = await stack.identity('restorer', ['keys:restore']);
      const cancelled = await api(replicas[1])(restorer).post(`/api/v1/keys/${userId}/cancel-deletion`).expect(200);
      assert.deepEqual(cancelled.body, { userId, keyVersion: 1, cancelled: true });
      assert.deepEqual(await decrypts(a, userId, ciphertext), [200, PLAINTEXT]);
      assert.deepEqual(await decrypts(b, userId, ciphertext), [200, PLAINTEXT]);
      const encrypted = (
        await b()
          .post('/api/v1/encrypt')
          .send({ userId, data: ['again'] })
          .expect(200)
      ).body.encryptedData;
      assert.deepEqual(await decrypts(a, userId, encrypted[0]), [200, 'again']);
      // Nothing pending any more: a second cancellation says so, and the job finds nothing.
      assert.equal((await a().post(`/api/v1/keys/${userId}/cancel-deletion`).expect(200)).body.cancelled, false);
      assert.deepEqual(await job(replicas[0]).run(), { destroyed: 0 });
      assert.deepEqual(await decrypts(a, userId, ciphertext), [200, PLAINTEXT]);
      const names = await logNames(userId);
      assert.deepEqual(
        names.map((name) => name.split('.').at(-2)),
        ['scheduled', 'cancelled'],
      );
      const [scheduled, cancellation] = await Promise.all(names.map(logRecord));
      assert.equal(cancellation.scheduledShredId, names[0].replace(/\.scheduled\.json$/, ''));
      assert.equal(cancellation.destroysAt, scheduled.destroysAt);
      const events = await query(
        `SELECT actor_sub, details FROM audit_events WHERE action = 'key.restore' AND outcome = 'success' AND target_user_id = $1 ORDER BY occurred_at`,
        [userId],
      );
      assert.deepEqual(
        events.map((event) => event.details.cancelled),
        [true, false],
      );
    });

    it('when the window ends, the job destroys the keys on one replica only, with a receipt naming the audit event; a DELETE answers that receipt', async () => {
      const userId = '7131';
      const ciphertext = await keyWithCiphertext(userId);
      const deleted = await a().delete(`/api/v1/keys/${userId}`).expect(202);
      await endWindow(userId);
      // Both replicas run the job at once: the key is destroyed once.
      const runs = await Promise.all(replicas.map((app) => job(app).run()));
      assert.equal(
        runs.reduce((sum, run) => sum + run.destroyed, 0),
        1,
        JSON.stringify(runs),
      );

      assert.deepEqual(await decrypts(b, userId, ciphertext), [404, 'KEY001']);
      const receipt = await b().delete(`/api/v1/keys/${userId}`).expect(200);
      assert.equal(receipt.body.versionsDestroyed, 1);
      assert.ok(Date.parse(receipt.body.destroyedAt) > Date.parse(deleted.body.deletionRequestedAt));
      const payload = payloadOf(receipt.body.receipt);
      assert.deepEqual(
        payload.versions.map((v: { keyVersion: number }) => v.keyVersion),
        [1],
      );
      assert.ok(payload.auditEvent, 'the receipt names the audit event of the destruction');
      const [event] = await query(`SELECT actor_sub, action, outcome, details FROM audit_events WHERE id = $1`, [payload.auditEvent.id]);
      assert.deepEqual(
        { ...event, details: { scheduled: event.details.scheduled } },
        { actor_sub: 'system', action: 'key.delete', outcome: 'success', details: { scheduled: true } },
      );
      // The repeated DELETE answers the same receipt; the log holds the whole story.
      assert.deepEqual((await a().delete(`/api/v1/keys/${userId}`).expect(200)).body, receipt.body);
      const states = (await logNames(userId)).map((name) => name.split('.').at(-2));
      assert.deepEqual([...states].sort(), ['destroyed', 'intent', 'receipt', 'scheduled']);
    });

    it('a database restored from before the DELETE comes back pending deletion, with the same destroysAt', async () => {
      const userId = '7141';
      const ciphertext = await keyWithCiphertext(userId);
      await backUp(userId, 'backup_7141');
      const deleted = await a().delete(`/api/v1/keys/${userId}`).expect(202);
      await restore('backup_7141');
      assert.deepEqual(await query(`SELECT destroys_at FROM user_keys WHERE user_id = $1`, [userId]), [{ destroys_at: null }]);

      await restart();
      const refused = await a()
        .post('/api/v1/decrypt')
        .send({ userId, data: [ciphertext], purpose: 'test' });
      assert.deepEqual([refused.status, refused.body.code, refused.body.details?.destroysAt], [409, 'KEY005', deleted.body.destroysAt]);
      assert.deepEqual((await a().delete(`/api/v1/keys/${userId}`).expect(202)).body, deleted.body);
    });

    it('a database restored from before the cancellation comes back restored: the old ciphertexts decrypt', async () => {
      const userId = '7151';
      const ciphertext = await keyWithCiphertext(userId);
      await a().delete(`/api/v1/keys/${userId}`).expect(202);
      await backUp(userId, 'backup_7151');
      await a().post(`/api/v1/keys/${userId}/cancel-deletion`).expect(200);
      await restore('backup_7151');
      assert.notDeepEqual(await query(`SELECT destroys_at FROM user_keys WHERE user_id = $1`, [userId]), [{ destroys_at: null }]);

      await restart();
      assert.deepEqual(await decrypts(a, userId, ciphertext), [200, PLAINTEXT]);
      // Never destroyed later either.
      await query(`UPDATE user_keys SET destroys_at = now() - interval '1 second' WHERE user_id = $1 AND destroys_at IS NOT NULL`, [
        userId,
      ]);
      assert.deepEqual(await job(replicas[0]).run(), { destroyed: 0 });
      assert.deepEqual(await decrypts(a, userId, ciphertext), [200, PLAINTEXT]);
    });

    it('a database restored after the destruction, from a backup before the DELETE, comes back destroyed, with the same receipt', async () => {
      const userId = '7161';
      const ciphertext = await keyWithCiphertext(userId);
      await backUp(userId, 'backup_7161');
      await a().delete(`/api/v1/keys/${userId}`).expect(202);
      await endWindow(userId);
      assert.deepEqual(await job(replicas[0]).run(), { destroyed: 1 });
      const receipt = (await a().delete(`/api/v1/keys/${userId}`).expect(200)).body;
      await restore('backup_7161');
      assert.deepEqual(await query(`SELECT is_active FROM user_keys WHERE user_id = $1`, [userId]), [{ is_active: true }]);

      await restart();
      assert.deepEqual(await decrypts(a, userId, ciphertext), [404, 'KEY001']);
      assert.deepEqual((await a().delete(`/api/v1/keys/${userId}`).expect(200)).body, receipt);
    });

    it('erasing before the window ends needs a second person: refused without an approval, and never approved by the one who asked', async () => {
      const userId = '7171';
      const ciphertext = await keyWithCiphertext(userId);
      await a().delete(`/api/v1/keys/${userId}`).expect(202);

      const requested = await api(replicas[0])(officer1).post(`/api/v1/keys/${userId}/erase-now`).expect(202);
      assert.deepEqual([requested.body.action, requested.body.target, requested.body.state], ['keys.erase-now', userId, 'pending']);
      const unapproved = await api(replicas[0])(officer1).post(`/api/v1/keys/${userId}/erase-now`).set('X-Approval-Id', requested.body.id);
      assert.deepEqual([unapproved.status, unapproved.body.code], [403, 'APPROVAL003']);
      const selfApproved = await api(replicas[0])(officer1).post(`/api/v1/approvals/${requested.body.id}/approve`);
      assert.deepEqual([selfApproved.status, selfApproved.body.code], [403, 'AUTH002']);
      // Still pending deletion, nothing destroyed.
      assert.deepEqual(await query(`SELECT sealed_private_key IS NOT NULL AS kept FROM user_keys WHERE user_id = $1`, [userId]), [
        { kept: true },
      ]);

      await api(replicas[1])(officer2).post(`/api/v1/approvals/${requested.body.id}/approve`).expect(200);
      const erased = await api(replicas[1])(officer1)
        .post(`/api/v1/keys/${userId}/erase-now`)
        .set('X-Approval-Id', requested.body.id)
        .expect(200);
      assert.equal(erased.body.versionsDestroyed, 1);
      assert.ok(payloadOf(erased.body.receipt).auditEvent);
      assert.deepEqual(await decrypts(a, userId, ciphertext), [404, 'KEY001']);
      assert.deepEqual((await a().delete(`/api/v1/keys/${userId}`).expect(200)).body, erased.body);

      // Audited with both people: the approval, and its execution naming who asked and who approved.
      const [execution] = await query(
        `SELECT actor_sub, details FROM audit_events WHERE action = 'approval.execute' AND details->>'approvalRequestId' = $1`,
        [requested.body.id],
      );
      assert.equal(execution.details.action, 'keys.erase-now');
      assert.equal(execution.details.target, userId);
      assert.equal(execution.details.requestedBy, execution.actor_sub);
      assert.equal(execution.details.approvedBy.length, 1);
      assert.notEqual(execution.details.approvedBy[0], execution.actor_sub);
    });

    it('the mass-destruction breaker stops new DELETE requests, while the destructions already pending still happen', async () => {
      // Its own service: a breaker that trips at the second request of the hour.
      const other = await (aws ? awsStack : embeddedStack).start({ ...WINDOW, SHRED_MAX_PER_HOUR: '1' });
      try {
        const token = await other.token();
        const call = () => checkedAgent(request.agent(other.app.getHttpServer()).auth(token, { type: 'bearer' }), other.contract);
        for (const userId of ['7181', '7182']) await call().post('/api/v1/keys').send({ userId }).expect(201);
        await call().delete('/api/v1/keys/7181').expect(202);
        const stopped = await call().delete('/api/v1/keys/7182');
        assert.deepEqual([stopped.status, stopped.body.code], [429, 'SHRED001']);
        assert.equal(
          (
            await call()
              .post('/api/v1/encrypt')
              .send({ userId: '7182', data: ['x'] })
          ).status,
          200,
          'nothing pending for 7182',
        );
        assert.equal((await call().get('/api/v1/admin/shred-breaker').expect(200)).body.tripped, true);

        await other.query(`UPDATE user_keys SET destroys_at = now() - interval '1 second' WHERE user_id = 7181`);
        assert.deepEqual(await other.app.get(ScheduledDestructionJob).run(), { destroyed: 1 });
        assert.equal((await call().delete('/api/v1/keys/7181').expect(200)).body.versionsDestroyed, 1);
      } finally {
        await other.close();
      }
    });
  });
}
