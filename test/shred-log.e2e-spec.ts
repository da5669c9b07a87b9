import { CopyObjectCommand, CreateBucketCommand, DeleteBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { NestExpressApplication } from '@nestjs/platform-express';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { Moto } from './support/moto';
import { checkedAgent } from './support/openapi-contract';
import { TestDatabase } from './support/postgres';
import { waitFor } from './support/processes';
import { awsStack, embeddedStack, motoS3, SHRED_LOG_BUCKET, SHRED_LOG_PREFIX, Stack, STACKS, urlOf } from './support/stacks';

/**
 * Shreds that survive a restore (docs/operations.md, 2.4 and 3.3): every crypto-shred is recorded
 * in a log outside the key database (a directory in embedded mode, moto's S3 on the aws stack),
 * and a service started on a restored database destroys again every key the log says was
 * shredded before it serves anyone.
 */

const REPLAY_CLI = join(__dirname, '../src/cli/replay-shreds.js');
const UNTHROTTLED = { RATE_LIMIT_PER_MINUTE: '100000' };
/** Shredded after the backup: the restore brings them back. */
const SHREDDED = ['9001', '9002'];
/** Never shredded. */
const KEPT = '9003';
/** Shredded before the backup: already a tombstone in it, nothing to replay. */
const SHREDDED_BEFORE_BACKUP = '9004';
/** Shredded before the backup, then given a new key (version 2): the new key is theirs, never replayed away. */
const RETURNED = '9006';
const PLAINTEXT = 'Jane Doe, 046 454 286';

type Agent = request.Agent;

/** The stack's kind of storage, behind one interface: where the log is, and how to make it unreadable or unwritable. */
interface Drill {
  /** The running service's URL. */
  url(): string;
  /** The first service's stack: tokens stay valid across restarts (the local issuer's key is in DATA_DIR; Cognito's pool outlives them). */
  readonly first: Stack;
  /** Takes the backup of the key database (the embedded one with the service stopped, then started again). */
  backUp(): Promise<void>;
  /** The names of the log's entries. */
  logNames(): Promise<string[]>;
  /** One entry of the log, parsed. */
  logEntry(name: string): Promise<Record<string, any>>;
  /** Stops the service, restores the backup, and starts the service on it: with its log out of reach when `logUnreachable`. */
  restoreAndStart(logUnreachable: boolean): Promise<void>;
  /** Brings the log within reach of the restored service (the one started with `logUnreachable`). */
  reachLog(): Promise<void>;
  /** SQL against the restored database the service now uses. */
  query<T = Record<string, any>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

async function embeddedDrill(): Promise<Drill> {
  let stack = await embeddedStack.start(UNTHROTTLED);
  const dataDir = stack.env.DATA_DIR;
  const database = join(dataDir, 'pglite');
  const backup = mkdtempSync(join(tmpdir(), 'pii-backup-'));
  const log = join(dataDir, 'shred-log');
  // Where the restored service looks for the log: at first a file, as if its volume were not mounted yet.
  const mount = join(dataDir, 'shred-log-mount');
  const first = stack;
  return {
    first,
    url: () => stack.url,
    async backUp() {
      await stack.app.close();
      cpSync(database, join(backup, 'pglite'), { recursive: true });
      stack = await embeddedStack.start({ ...UNTHROTTLED, DATA_DIR: dataDir });
    },
    logNames: async () => readdirSync(log),
    logEntry: async (name) => JSON.parse(readFileSync(join(log, name), 'utf8')),
    async restoreAndStart(logUnreachable) {
      await stack.app.close();
      rmSync(database, { recursive: true, force: true });
      cpSync(join(backup, 'pglite'), database, { recursive: true });
      rmSync(mount, { recursive: true, force: true });
      if (logUnreachable) writeFileSync(mount, '');
      else cpSync(log, mount, { recursive: true });
      stack = await embeddedStack.start({ ...UNTHROTTLED, DATA_DIR: dataDir, SHRED_LOG_DIR: mount });
    },
    async reachLog() {
      rmSync(mount, { force: true });
      cpSync(log, mount, { recursive: true });
    },
    query: (sql, params) => stack.query(sql, params),
    async close() {
      await stack.close();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(backup, { recursive: true, force: true });
    },
  };
}

async function awsDrill(): Promise<Drill & { restored(): TestDatabase; startReplica(): Promise<string> }> {
  const stack = (await awsStack.start(UNTHROTTLED)) as Stack & { moto: Moto; database: TestDatabase };
  const s3 = motoS3(stack.moto.endpoint);
  const dir = mkdtempSync(join(tmpdir(), 'pii-backup-'));
  const dump = join(dir, 'keys.sql');
  const databases: TestDatabase[] = [];
  let restoredBucket = SHRED_LOG_BUCKET;
  let url = stack.url;
  // The service now running: the stack's own at first, then one on each restored database.
  let service: NestExpressApplication = stack.app;
  const replicas: NestExpressApplication[] = [];
  const names = async (bucket: string) =>
    ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: SHRED_LOG_PREFIX }))).Contents ?? []).map((o) => o.Key!);
  return {
    first: stack,
    restored: () => databases[databases.length - 1],
    /** One more replica on the restored database, reading the log where the service does. */
    async startReplica() {
      const replica = await stack.startAnother({ DATABASE_URL: databases[databases.length - 1].url, SHRED_LOG_BUCKET: restoredBucket });
      replicas.push(replica);
      return urlOf(replica);
    },
    url: () => url,
    async backUp() {
      const run = spawnSync('pg_dump', ['--no-owner', '--no-privileges', '-f', dump, stack.database.url], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
    },
    logNames: async () => (await names(SHRED_LOG_BUCKET)).map((key) => key.slice(SHRED_LOG_PREFIX.length)),
    async logEntry(name) {
      const object = await s3.send(new GetObjectCommand({ Bucket: SHRED_LOG_BUCKET, Key: SHRED_LOG_PREFIX + name }));
      return JSON.parse(await object.Body!.transformToString('utf8'));
    },
    async restoreAndStart(logUnreachable) {
      await service.close();
      const restored = await TestDatabase.create();
      databases.push(restored);
      const run = spawnSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', '-f', dump, restored.url], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      // A bucket the service may not read yet: it does not exist until reachLog.
      restoredBucket = logUnreachable ? `pii-shred-log-restored-${databases.length}` : SHRED_LOG_BUCKET;
      service = await stack.startAnother({ DATABASE_URL: restored.url, SHRED_LOG_BUCKET: restoredBucket });
      url = urlOf(service);
    },
    async reachLog() {
      await s3.send(new CreateBucketCommand({ Bucket: restoredBucket }));
      for (const key of await names(SHRED_LOG_BUCKET)) {
        await s3.send(new CopyObjectCommand({ Bucket: restoredBucket, Key: key, CopySource: `${SHRED_LOG_BUCKET}/${key}` }));
      }
    },
    query: (sql, params) => databases[databases.length - 1].query(sql, params),
    async close() {
      // Each service was closed when the next started: only the last one is still running.
      s3.destroy();
      for (const replica of replicas) await replica.close();
      await service.close();
      await stack.moto.stop();
      for (const database of [stack.database, ...databases]) await database.drop();
      rmSync(stack.env.DATA_DIR, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

for (const definition of STACKS) {
  const aws = definition === awsStack;

  describe(`the restore drill: shreds survive a restore of the key database — ${definition.name}`, () => {
    let drill: Drill;
    let token: string;
    let contract: Stack['contract'];
    const ciphertexts = new Map<string, string>();
    const receipts = new Map<string, string>();
    const api = (): Agent => checkedAgent(request.agent(drill.url()).auth(token, { type: 'bearer' }), contract);
    const probe = (): Agent => checkedAgent(request.agent(drill.url()), contract);

    before(async () => {
      drill = aws ? await awsDrill() : await embeddedDrill();
      token = await drill.first.token();
      contract = drill.first.contract;
      for (const userId of [...SHREDDED, KEPT, SHREDDED_BEFORE_BACKUP]) {
        assert.equal((await api().post('/api/v1/keys').send({ userId })).status, 201);
        const encrypted = await api()
          .post('/api/v1/encrypt')
          .send({ userId, data: [PLAINTEXT] });
        assert.equal(encrypted.status, 200, JSON.stringify(encrypted.body));
        ciphertexts.set(userId, encrypted.body.encryptedData[0]);
      }
      assert.equal((await api().delete(`/api/v1/keys/${SHREDDED_BEFORE_BACKUP}`)).status, 200);
      assert.equal((await api().post('/api/v1/keys').send({ userId: RETURNED })).status, 201);
      assert.equal((await api().delete(`/api/v1/keys/${RETURNED}`)).status, 200);
      const returned = await api().post('/api/v1/keys').send({ userId: RETURNED });
      assert.equal(returned.body.keyVersion, 2);
      ciphertexts.set(
        RETURNED,
        (
          await api()
            .post('/api/v1/encrypt')
            .send({ userId: RETURNED, data: [PLAINTEXT] })
        ).body.encryptedData[0],
      );
      await drill.backUp();
      for (const userId of SHREDDED) {
        const shredded = await api().delete(`/api/v1/keys/${userId}`);
        assert.equal(shredded.status, 200, JSON.stringify(shredded.body));
        receipts.set(userId, shredded.body.receipt);
      }
    });
    after(async () => drill?.close());

    it('records every shred in the log outside the key database: its intent, its commit, and the receipt the caller got', async () => {
      const names = await drill.logNames();
      assert.equal(names.length, 12, names.join(', '));
      for (const userId of [...SHREDDED, SHREDDED_BEFORE_BACKUP, RETURNED]) {
        for (const state of ['intent', 'destroyed', 'receipt']) {
          assert.ok(
            names.some((name) => name.endsWith(`_${userId}_v1.${state}.json`)),
            `${userId} ${state}`,
          );
        }
      }
      for (const userId of SHREDDED) {
        const receipt = receipts.get(userId)!;
        const answered = JSON.parse(Buffer.from(receipt.split('.')[1], 'base64url').toString());
        const named = (state: string) => names.find((name) => name.endsWith(`_${userId}_v1.${state}.json`))!;
        const intent = await drill.logEntry(named('intent'));
        assert.deepEqual(Object.keys(intent).sort(), ['at', 'keyCreatedAt', 'keyVersion', 'state', 'typ', 'userId']);
        assert.equal(intent.at, answered.destroyedAt);
        assert.equal(intent.keyVersion, 1);
        // The commit's record holds the receipt signed in the transaction: the same shred, before its audit event was stored.
        const destroyed = await drill.logEntry(named('destroyed'));
        const signedInTransaction = JSON.parse(Buffer.from(destroyed.receipt.split('.')[1], 'base64url').toString());
        assert.deepEqual(signedInTransaction, { ...answered, auditEvent: null });
        assert.deepEqual(destroyed, {
          typ: 'crypto-shred',
          state: 'destroyed',
          userId,
          keyVersions: [1],
          destroyedAt: answered.destroyedAt,
          receipt: destroyed.receipt,
          receiptId: `sha256:${createHash('sha256').update(destroyed.receipt).digest('hex')}`,
        });
        assert.deepEqual(await drill.logEntry(named('receipt')), {
          typ: 'crypto-shred',
          state: 'receipt',
          userId,
          receipt,
          receiptId: `sha256:${createHash('sha256').update(receipt).digest('hex')}`,
        });
      }
    });

    it('stays not ready, and serves no one, until it has read the log; then destroys the restored keys again and says how many', async () => {
      await drill.restoreAndStart(true);
      // The restore brought the shredded users' keys back.
      const back = await drill.query(`SELECT count(*)::int AS n FROM user_keys WHERE user_id IN (9001, 9002) AND is_active`);
      assert.equal(back[0].n, 2);

      const notReady = await probe().get('/health/ready');
      assert.equal(notReady.status, 503);
      assert.equal(notReady.body.code, 'SYS002');
      assert.equal(notReady.body.details.error.shredLog.status, 'down');
      // The attempts made, and not why they failed: the error names the log's bucket or directory, and is logged only.
      assert.deepEqual(Object.keys(notReady.body.details.error.shredLog).sort(), ['attempts', 'status']);
      assert.ok(notReady.body.details.error.shredLog.attempts >= 1);
      for (const userId of SHREDDED) {
        const refused = await api()
          .post('/api/v1/decrypt')
          .send({ userId, data: [ciphertexts.get(userId)] });
        assert.equal(refused.status, 503, JSON.stringify(refused.body));
        assert.equal(refused.body.code, 'SYS002');
        assert.equal((await api().get(`/api/v1/keys/${userId}`)).status, 503);
      }
      assert.equal((await probe().get('/health/live')).status, 200);

      await drill.reachLog();
      let ready: request.Response | undefined;
      await waitFor('readiness after the replay', async () => {
        ready = await probe().get('/health/ready');
        assert.equal(ready.status, 200);
      });
      assert.equal(ready!.body.details.shredLog.status, 'up');
      assert.equal(ready!.body.details.shredLog.replayed, 2);
      assert.equal(ready!.body.details.shredLog.examined, 4, JSON.stringify(ready!.body.details.shredLog));
      await assertShredsSurvived();
    });

    it('answers KEY001 for the shredded users from the very first request when the log is in reach at start', async () => {
      await drill.restoreAndStart(false);
      const first = await api()
        .post('/api/v1/decrypt')
        .send({ userId: SHREDDED[0], data: [ciphertexts.get(SHREDDED[0])] });
      assert.equal(first.status, 404, JSON.stringify(first.body));
      assert.equal(first.body.code, 'KEY001');
      const ready = await probe().get('/health/ready');
      assert.equal(ready.status, 200);
      assert.equal(ready.body.details.shredLog.replayed, 2);
      await assertShredsSurvived();
    });

    async function assertShredsSurvived(): Promise<void> {
      for (const userId of SHREDDED) {
        for (const refused of [
          await api()
            .post('/api/v1/decrypt')
            .send({ userId, data: [ciphertexts.get(userId)] }),
          await api()
            .post('/api/v1/encrypt')
            .send({ userId, data: ['x'] }),
          await api().get(`/api/v1/keys/${userId}`),
        ]) {
          assert.equal(refused.status, 404, JSON.stringify(refused.body));
          assert.equal(refused.body.code, 'KEY001');
        }
        // A repeated DELETE answers with the original receipt, kept again with the tombstone.
        const repeated = await api().delete(`/api/v1/keys/${userId}`);
        assert.equal(repeated.status, 200);
        assert.equal(repeated.body.receipt, receipts.get(userId));
      }
      const stillShredded = await api().get(`/api/v1/keys/${SHREDDED_BEFORE_BACKUP}`);
      assert.equal(stillShredded.body.code, 'KEY001');
      for (const userId of [KEPT, RETURNED]) {
        const kept = await api()
          .post('/api/v1/decrypt')
          .send({ userId, data: [ciphertexts.get(userId)] });
        assert.equal(kept.status, 200, JSON.stringify(kept.body));
        assert.deepEqual(kept.body.decryptedData, [PLAINTEXT]);
      }

      const trail = await api().get('/api/v1/audit').query({ action: 'key.shred-replayed' });
      assert.equal(trail.status, 200);
      assert.deepEqual(trail.body.events.map((e: any) => e.userId).sort(), SHREDDED);
      for (const event of trail.body.events) {
        assert.equal(event.actor.sub, 'system');
        assert.equal(event.outcome, 'success');
        assert.deepEqual(event.keyVersions, [1]);
        const receipt = receipts.get(event.userId)!;
        assert.equal(event.details.receiptId, `sha256:${createHash('sha256').update(receipt).digest('hex')}`);
        assert.doesNotMatch(JSON.stringify(event), /PRIVATE|BEGIN/);
      }
    }

    if (aws) {
      it('replays on demand with npm run replay-shreds, and a second run finds nothing left to do', async () => {
        await drill.restoreAndStart(true);
        const restored = (drill as Awaited<ReturnType<typeof awsDrill>>).restored();
        // The CLI reads the log where the service's settings say: the stack's own bucket.
        const env = { ...process.env, ...drill.first.env, DATABASE_URL: restored.url, LOG_FILE: '' };
        const first = spawnSync(process.execPath, [REPLAY_CLI], { env, encoding: 'utf8' });
        assert.equal(first.status, 0, first.stderr);
        assert.match(
          first.stdout,
          /^2 shredded user\(s\) destroyed again; \d+ shreds examined; 0 open intent\(s\) completed as destroyed, 0 aborted \(s3:\/\/pii-shred-log\/shreds\/\)$/m,
        );
        const live = await restored.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM user_keys WHERE user_id IN (9001, 9002) AND is_active`,
        );
        assert.equal(live[0].n, 0);
        const events = await restored.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM audit_events WHERE action = 'key.shred-replayed' AND outcome = 'success'`,
        );
        assert.equal(events[0].n, 2);
        const again = spawnSync(process.execPath, [REPLAY_CLI], { env, encoding: 'utf8' });
        assert.equal(again.status, 0, again.stderr);
        assert.match(again.stdout, /^0 shredded user\(s\) destroyed again/m);
      });

      it('destroys each restored user once when two replicas replay the log at the same time', async () => {
        const onPostgres = drill as Awaited<ReturnType<typeof awsDrill>>;
        await drill.restoreAndStart(true);
        const urls = [drill.url(), await onPostgres.startReplica()];
        await drill.reachLog();
        const replayed: number[] = [];
        for (const url of urls) {
          await waitFor('readiness of each replica', async () => {
            const ready = await checkedAgent(request.agent(url), contract).get('/health/ready');
            assert.equal(ready.status, 200);
            replayed.push(ready.body.details.shredLog.replayed);
          });
        }
        assert.equal(replayed[0] + replayed[1], 2, JSON.stringify(replayed));
        const restored = onPostgres.restored();
        const live = await restored.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM user_keys WHERE user_id IN (9001, 9002) AND is_active`,
        );
        assert.equal(live[0].n, 0);
        const events = await restored.query<{ user_id: string }>(
          `SELECT target_user_id::text AS user_id FROM audit_events WHERE action = 'key.shred-replayed' AND outcome = 'success' ORDER BY 1`,
        );
        assert.deepEqual(
          events.map((e) => e.user_id),
          SHREDDED,
        );
      });
    }
  });

  describe(`a shred the log cannot record is refused, the key left intact — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    let url: string;
    let breakLog: () => Promise<void>;
    let mendLog: () => Promise<void>;
    let dir: string | undefined;
    let s3: ReturnType<typeof motoS3> | undefined;
    const api = (): Agent => checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), stack.contract);

    before(async () => {
      if (aws) {
        stack = await awsStack.start(UNTHROTTLED);
        const client = motoS3((stack as Stack & { moto: Moto }).moto.endpoint);
        s3 = client;
        const bucket = 'pii-shred-log-flaky';
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        url = urlOf(await stack.startAnother({ SHRED_LOG_BUCKET: bucket }));
        breakLog = async () => void (await client.send(new DeleteBucketCommand({ Bucket: bucket })));
        mendLog = async () => void (await client.send(new CreateBucketCommand({ Bucket: bucket })));
      } else {
        dir = mkdtempSync(join(tmpdir(), 'pii-shred-log-'));
        const log = join(dir, 'log');
        stack = await embeddedStack.start({ ...UNTHROTTLED, SHRED_LOG_DIR: log });
        url = stack.url;
        // A file where the log's directory should be: nothing can be written there.
        breakLog = async () => writeFileSync(log, '');
        mendLog = async () => rmSync(log, { force: true });
      }
      token = await stack.token();
    });
    after(async () => {
      s3?.destroy();
      await stack?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('answers 503 SYS002 and keeps the key while the log cannot be written, and shreds once it can', async () => {
      const userId = '9101';
      assert.equal((await api().post('/api/v1/keys').send({ userId })).status, 201);
      const ciphertext = (
        await api()
          .post('/api/v1/encrypt')
          .send({ userId, data: [PLAINTEXT] })
      ).body.encryptedData[0];
      await breakLog();
      const refused = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'SYS002');
      const stillThere = await api()
        .post('/api/v1/decrypt')
        .send({ userId, data: [ciphertext] });
      assert.equal(stillThere.status, 200, JSON.stringify(stillThere.body));
      assert.deepEqual(stillThere.body.decryptedData, [PLAINTEXT]);

      await mendLog();
      const shredded = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(shredded.status, 200, JSON.stringify(shredded.body));
      assert.equal(
        (
          await api()
            .post('/api/v1/decrypt')
            .send({ userId, data: [ciphertext] })
        ).body.code,
        'KEY001',
      );
    });
  });
}
