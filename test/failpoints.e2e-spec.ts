import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { FailpointAction, FailpointName } from '../src/common/failpoints';
import type { Moto } from './support/moto';
import { checkedAgent } from './support/openapi-contract';
import { waitFor } from './support/processes';
import { embeddedSocketUrl, metricValue, ServiceProcess, spawnService } from './support/service-process';
import { awsStack, Environment, motoS3, SHRED_LOG_BUCKET, SHRED_LOG_PREFIX, Stack, STACKS } from './support/stacks';
import { decryptEverything as decryptEverythingOf, writeVersions, Written } from './support/versions';

/**
 * Crash consistency (issue 30 item 7): at each step of key creation, crypto-shredding, rotation,
 * the KMS migration and the shred-log replay (src/common/failpoints.ts), a service process is
 * made to fail (`fail`: the step throws 503 SYS002, as a lost dependency would) or to die
 * (`kill`: SIGKILL, as a crashed pod). Then a process without failpoints starts on the same
 * database, key provider and shred log, and the state is checked: a success answer means the
 * change survives the restart, an error answer means it did not happen (or, after the commit,
 * what docs/operations.md promises), and a lost answer leaves it either done or not, never half.
 *
 * Every process is spawned (node dist/main): one with FAILPOINTS per case, one restarted without.
 */

// DELETE destroys at once (no deletion window) and one operator starts migrations: this suite is about the write steps.
const SETTINGS = { RATE_LIMIT_PER_MINUTE: '100000', DUAL_CONTROL: 'off', SHRED_PENDING_DAYS: '0' };
const PLAINTEXT = 'Jane Doe, 046 454 286';
/** KMS migration batches: small, so a migration takes several and a kill lands after the first. */
const MIGRATION_RATE = 5;

type Status = {
  migration: { id: number; resealed: number; outcome: string | null } | null;
  remaining: { total: number };
  complete: boolean;
};

for (const definition of STACKS) {
  const aws = definition === awsStack;

  describe(`crash consistency: a failure or a crash at each step of a write — ${definition.name}`, { timeout: 900_000 }, () => {
    let stack: Stack;
    let moto: Moto | undefined;
    let token: string;
    /** The service without failpoints now running: restarted after each case. */
    let service: ServiceProcess | undefined;
    const spawned: ServiceProcess[] = [];
    /** The master keys (embedded: files) or KMS keys, oldest first; the last is the current one. */
    const keys: string[] = [];
    /** Per user that must stay usable: one ciphertext per version (decrypted after every migration). */
    const written = new Map<string, Written[]>();

    function keySettings(): Environment {
      const [current, previous] = [keys[keys.length - 1], keys.slice(0, -1)];
      if (moto) return { KMS_KEY_ID: current, ...(previous.length && { KMS_PREVIOUS_KEY_IDS: previous.join(',') }) };
      return { LOCAL_MASTER_KEY_FILE: current, ...(previous.length && { LOCAL_PREVIOUS_MASTER_KEY_FILES: previous.join(',') }) };
    }

    /** A process's environment: the stack's parts (embedded: its database through the test process's socket), the current keys. */
    const envOf = (extra: Environment = {}): Environment => ({
      ...stack.env,
      ...SETTINGS,
      MIGRATIONS_RUN: 'false',
      ...(!aws && { DATABASE_URL: embeddedSocketUrl(stack.env.DATA_DIR) }),
      ...keySettings(),
      ...extra,
    });

    async function start(extra: Environment, name: string): Promise<ServiceProcess> {
      const started = await spawnService(envOf(extra), stack.contract, name);
      spawned.push(started);
      return started;
    }

    /** A process armed with one failpoint; its warnings are logged (where a `fail` that changes no answer shows). */
    const armed = (name: FailpointName, action: FailpointAction) =>
      start({ FAILPOINTS: `${name}=${action}`, LOG_LEVEL: 'warn' }, `${name}-${action}`);

    /** Stops the service and starts it again without failpoints: its shred-log replay runs before it serves. */
    async function restart(): Promise<ServiceProcess> {
      await service?.stop();
      service = await start({}, 'restarted');
      return service;
    }

    const on = (target: ServiceProcess | undefined = service) =>
      checkedAgent(request.agent(target!.url).auth(token, { type: 'bearer' }), stack.contract);

    /** Sends a request to a process armed with `kill`: no answer comes (the connection drops), and the process is gone. */
    async function killedBy(target: ServiceProcess, method: string, path: string, body?: object, headers: Record<string, string> = {}) {
      const exited = once(target.child, 'exit');
      await assert.rejects(
        fetch(`${target.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
          body: body && JSON.stringify(body),
        }),
        TypeError,
        'the connection drops without an answer',
      );
      const [, signal] = await exited;
      assert.equal(signal, 'SIGKILL');
    }

    /** The answer of a process armed with `fail`: 503 SYS002, as a dependency failure. */
    function assertFailed(answer: { status: number; body: Record<string, any> }): void {
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.body.code, 'SYS002');
    }

    /** What a process logged (its log file under TEST_LOG_DIR, or its output). */
    function logOf(target: ServiceProcess, name: string): string {
      const dir = process.env.TEST_LOG_DIR;
      if (!dir) return target.output();
      const file = readdirSync(dir).find((f) => f.startsWith(`process-${process.pid}-`) && f.endsWith(`-${name}.log`));
      return file ? readFileSync(join(dir, file), 'utf8') : target.output();
    }

    async function keyWithCiphertext(userId: string): Promise<string> {
      assert.equal((await on().post('/api/v1/keys').send({ userId })).status, 201);
      return encrypt(userId);
    }

    async function encrypt(userId: string): Promise<string> {
      const encrypted = await on()
        .post('/api/v1/encrypt')
        .send({ userId, data: [PLAINTEXT] });
      assert.equal(encrypted.status, 200, JSON.stringify(encrypted.body));
      return encrypted.body.encryptedData[0];
    }

    /** The key decrypts `ciphertexts` and encrypts anew (what it encrypts decrypts too). */
    async function assertUsable(userId: string, ciphertexts: string[]): Promise<void> {
      const fresh = await encrypt(userId);
      const decrypted = await on()
        .post('/api/v1/decrypt')
        .send({ userId, data: [...ciphertexts, fresh] });
      assert.equal(decrypted.status, 200, JSON.stringify(decrypted.body));
      assert.deepEqual(
        decrypted.body.decryptedData,
        [...ciphertexts, fresh].map(() => PLAINTEXT),
      );
    }

    async function currentVersion(userId: string): Promise<number> {
      const described = await on().get(`/api/v1/keys/${userId}`);
      assert.equal(described.status, 200, JSON.stringify(described.body));
      return described.body.keyVersion;
    }

    /** The user's key rows as stored: never one half-written (an active row has its public key and sealed private key). */
    async function rowsOf(userId: string) {
      const rows = await stack.query<{ is_active: boolean; has_key: boolean; sealed: boolean; key_version: number }>(
        `SELECT is_active, key IS NOT NULL AND key <> '' AS has_key, sealed_private_key IS NOT NULL AS sealed, key_version
           FROM user_keys WHERE user_id = $1`,
        [userId],
      );
      for (const row of rows) if (row.is_active) assert.ok(row.has_key && row.sealed, `a complete key row: ${JSON.stringify(row)}`);
      return rows;
    }

    // The shred log, read where the service writes it.
    async function logNames(userId: string): Promise<string[]> {
      const all = aws
        ? ((await s3().send(new ListObjectsV2Command({ Bucket: SHRED_LOG_BUCKET, Prefix: SHRED_LOG_PREFIX }))).Contents ?? []).map((o) =>
            o.Key!.slice(SHRED_LOG_PREFIX.length),
          )
        : (() => {
            try {
              return readdirSync(join(stack.env.DATA_DIR, 'shred-log'));
            } catch {
              return [];
            }
          })();
      return all.filter((name) => name.includes(`_${userId}_v`)).sort();
    }
    async function logRecord(name: string): Promise<Record<string, any>> {
      const body = aws
        ? await (
            await s3().send(new GetObjectCommand({ Bucket: SHRED_LOG_BUCKET, Key: SHRED_LOG_PREFIX + name }))
          ).Body!.transformToString()
        : readFileSync(join(stack.env.DATA_DIR, 'shred-log', name), 'utf8');
      return JSON.parse(body);
    }
    const statesOf = async (userId: string) => (await logNames(userId)).map((name) => name.split('.').slice(-2, -1)[0]);
    let client: ReturnType<typeof motoS3> | undefined;
    const s3 = () => (client ??= motoS3(moto!.endpoint));

    /** Kept usable, with the DELETE that did not happen settled `aborted` in the log (never destroyed later). */
    async function assertKeptAndAborted(userId: string, ciphertext: string): Promise<void> {
      await assertUsable(userId, [ciphertext]);
      assert.deepEqual(await statesOf(userId), ['aborted', 'intent']);
      const [row] = await rowsOf(userId);
      assert.equal(row.is_active, true);
    }

    /**
     * Destroyed and logged: no key (404 KEY001 to GET and to decrypt), the tombstone without key
     * material, a `destroyed` record in the log, and a repeated DELETE answering a receipt (returned).
     */
    async function assertDestroyedAndLogged(userId: string, ciphertext: string): Promise<string> {
      const refused = await on()
        .post('/api/v1/decrypt')
        .send({ userId, data: [ciphertext] });
      assert.equal(refused.status, 404, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'KEY001');
      assert.equal((await on().get(`/api/v1/keys/${userId}`)).status, 404);
      const [row] = await rowsOf(userId);
      assert.deepEqual({ active: row.is_active, sealed: row.sealed }, { active: false, sealed: false });
      assert.ok((await statesOf(userId)).includes('destroyed'), `a destroyed record: ${await statesOf(userId)}`);
      const repeated = await on().delete(`/api/v1/keys/${userId}`);
      assert.equal(repeated.status, 200, JSON.stringify(repeated.body));
      assert.ok(repeated.body.receipt);
      return repeated.body.receipt;
    }

    /** The receipt in the log's `destroyed` record of the user's only shred. */
    async function loggedReceipt(userId: string): Promise<string> {
      const name = (await logNames(userId)).find((n) => n.endsWith('.destroyed.json'))!;
      return (await logRecord(name)).receipt;
    }

    before(async () => {
      stack = await definition.start(SETTINGS);
      moto = (stack as Stack & { moto?: Moto }).moto;
      keys.push(moto ? stack.env.KMS_KEY_ID : join(stack.env.DATA_DIR, 'master.key'));
      token = await stack.token();
      // Users with several versions, which every KMS migration case decrypts again.
      for (const userId of ['9300', '9301', '9302']) written.set(userId, await writeVersions(stack, token, userId, 2));
      await restart();
    });

    after(async () => {
      for (const started of spawned) await started.stop().catch(() => undefined);
      client?.destroy();
      await stack?.close();
    });

    describe('key creation', () => {
      it('create.after-keygen, kill: the lost POST /keys left no key at all; after a restart a repeated POST creates a usable one', async () => {
        const userId = '9310';
        await killedBy(await armed('create.after-keygen', 'kill'), 'POST', '/api/v1/keys', { userId });
        await restart();
        assert.deepEqual(await rowsOf(userId), []);
        assert.equal((await on().get(`/api/v1/keys/${userId}`)).status, 404);
        const created = await on().post('/api/v1/keys').send({ userId });
        assert.deepEqual([created.status, created.body.created, created.body.keyVersion], [201, true, 1]);
        await assertUsable(userId, [await encrypt(userId)]);
      });

      it('create.after-keygen, fail: POST /keys answers 503 SYS002 and no key exists, also after a restart', async () => {
        const userId = '9311';
        const armedProcess = await armed('create.after-keygen', 'fail');
        assertFailed(await on(armedProcess).post('/api/v1/keys').send({ userId }));
        await armedProcess.stop();
        await restart();
        assert.deepEqual(await rowsOf(userId), []);
        assert.equal((await on().get(`/api/v1/keys/${userId}`)).status, 404);
        assert.equal((await on().post('/api/v1/keys').send({ userId })).status, 201);
      });

      it('create.after-commit, kill: the lost POST /keys created a complete usable key; a repeated POST answers it (created: false)', async () => {
        const userId = '9312';
        await killedBy(await armed('create.after-commit', 'kill'), 'POST', '/api/v1/keys', { userId });
        await restart();
        assert.equal((await rowsOf(userId)).length, 1);
        const repeated = await on().post('/api/v1/keys').send({ userId });
        assert.deepEqual([repeated.status, repeated.body.created, repeated.body.keyVersion], [200, false, 1]);
        const ciphertext = await encrypt(userId);
        await assertUsable(userId, [ciphertext]);
        written.set(userId, [{ ciphertext, plaintext: PLAINTEXT }]);
      });

      it('create.after-commit, fail: POST /keys answers 503 SYS002 although the key committed; after a restart it is complete and usable, and a repeated POST answers it', async () => {
        const userId = '9313';
        const armedProcess = await armed('create.after-commit', 'fail');
        assertFailed(await on(armedProcess).post('/api/v1/keys').send({ userId }));
        await armedProcess.stop();
        await restart();
        const repeated = await on().post('/api/v1/keys').send({ userId });
        assert.deepEqual([repeated.status, repeated.body.created, repeated.body.keyVersion], [200, false, 1]);
        const ciphertext = await encrypt(userId);
        await assertUsable(userId, [ciphertext]);
        written.set(userId, [{ ciphertext, plaintext: PLAINTEXT }]);
      });
    });

    describe('crypto-shredding (DELETE /keys)', () => {
      it('destroy.after-intent, kill: the lost DELETE destroyed nothing; the restart settles its intent aborted and the key stays usable', async () => {
        const userId = '9320';
        const ciphertext = await keyWithCiphertext(userId);
        await killedBy(await armed('destroy.after-intent', 'kill'), 'DELETE', `/api/v1/keys/${userId}`);
        assert.deepEqual(await statesOf(userId), ['intent'], 'the dead process left its intent open');
        await restart();
        await assertKeptAndAborted(userId, ciphertext);
        await restart();
        await assertKeptAndAborted(userId, ciphertext);
      });

      it('destroy.after-intent, fail: DELETE answers 503 SYS002, the key stays usable and is never destroyed later by the replay', async () => {
        const userId = '9321';
        const ciphertext = await keyWithCiphertext(userId);
        const armedProcess = await armed('destroy.after-intent', 'fail');
        assertFailed(await on(armedProcess).delete(`/api/v1/keys/${userId}`));
        await armedProcess.stop();
        await assertUsable(userId, [ciphertext]);
        await restart();
        await assertKeptAndAborted(userId, ciphertext);
      });

      it('destroy.after-commit, kill: the lost DELETE destroyed the key; the restart records it destroyed in the log with the receipt a repeated DELETE answers', async () => {
        const userId = '9322';
        const ciphertext = await keyWithCiphertext(userId);
        await killedBy(await armed('destroy.after-commit', 'kill'), 'DELETE', `/api/v1/keys/${userId}`);
        assert.deepEqual(await statesOf(userId), ['intent'], 'committed, the destroyed record not written yet');
        await restart();
        assert.deepEqual(await statesOf(userId), ['destroyed', 'intent']);
        const receipt = await assertDestroyedAndLogged(userId, ciphertext);
        assert.equal(receipt, await loggedReceipt(userId));
      });

      it('destroy.after-commit, fail: a commit whose answer failed is answered as done (200 with a receipt), logged destroyed, and stays destroyed after a restart', async () => {
        const userId = '9323';
        const ciphertext = await keyWithCiphertext(userId);
        const armedProcess = await armed('destroy.after-commit', 'fail');
        const answered = await on(armedProcess).delete(`/api/v1/keys/${userId}`);
        assert.equal(answered.status, 200, JSON.stringify(answered.body));
        assert.ok(answered.body.receipt);
        await armedProcess.stop();
        await restart();
        assert.equal(await assertDestroyedAndLogged(userId, ciphertext), answered.body.receipt);
      });

      it('destroy.after-log, kill: the lost DELETE destroyed the key and logged it; after a restart a repeated DELETE answers the logged receipt', async () => {
        const userId = '9324';
        const ciphertext = await keyWithCiphertext(userId);
        await killedBy(await armed('destroy.after-log', 'kill'), 'DELETE', `/api/v1/keys/${userId}`);
        await restart();
        assert.deepEqual(await statesOf(userId), ['destroyed', 'intent']);
        assert.equal(await assertDestroyedAndLogged(userId, ciphertext), await loggedReceipt(userId));
      });

      it('destroy.after-log, fail: DELETE answers 503 SYS002 after the commit, as documented: the key is destroyed (404 KEY001) and a repeated DELETE answers the receipt, also after a restart', async () => {
        const userId = '9325';
        const ciphertext = await keyWithCiphertext(userId);
        const armedProcess = await armed('destroy.after-log', 'fail');
        assertFailed(await on(armedProcess).delete(`/api/v1/keys/${userId}`));
        await armedProcess.stop();
        const receipt = await assertDestroyedAndLogged(userId, ciphertext);
        await restart();
        assert.equal(await assertDestroyedAndLogged(userId, ciphertext), receipt);
        assert.equal(receipt, await loggedReceipt(userId));
      });
    });

    describe('rotation (POST /rotate)', () => {
      const rotate = (target: ServiceProcess | undefined, userId: string, ciphertext: string, requestId: string) =>
        on(target)
          .post('/api/v1/rotate')
          .set('X-Request-Id', requestId)
          .send({ userId, data: [ciphertext] });

      it('rotate.after-keygen, kill: the lost /rotate created no version; the old ciphertext decrypts after a restart', async () => {
        const userId = '9330';
        const ciphertext = await keyWithCiphertext(userId);
        await killedBy(
          await armed('rotate.after-keygen', 'kill'),
          'POST',
          '/api/v1/rotate',
          { userId, data: [ciphertext] },
          {
            'X-Request-Id': 'failpoint-9330',
          },
        );
        await restart();
        assert.equal(await currentVersion(userId), 1);
        await assertUsable(userId, [ciphertext]);
        // The dead process's lease holds until it expires (ROTATION_LEASE_SECONDS): a retry is told to wait, never rotated twice.
        const retried = await rotate(service, userId, ciphertext, 'failpoint-9330');
        assert.deepEqual([retried.status, retried.body.code], [409, 'KEY002']);
        written.set(userId, [{ ciphertext, plaintext: PLAINTEXT }]);
      });

      it('rotate.after-keygen, fail: /rotate answers 503 SYS002 and no version was created, also after a restart; the next rotation works', async () => {
        const userId = '9331';
        const ciphertext = await keyWithCiphertext(userId);
        const armedProcess = await armed('rotate.after-keygen', 'fail');
        assertFailed(await rotate(armedProcess, userId, ciphertext, 'failpoint-9331'));
        await armedProcess.stop();
        await restart();
        assert.equal(await currentVersion(userId), 1);
        await assertUsable(userId, [ciphertext]);
        const rotated = await rotate(service, userId, ciphertext, 'failpoint-9331b');
        assert.deepEqual([rotated.status, rotated.body.keyVersion], [200, 2]);
        written.set(userId, [
          { ciphertext, plaintext: PLAINTEXT },
          { ciphertext: rotated.body.rotatedData[0], plaintext: PLAINTEXT },
        ]);
      });

      it('rotate.after-commit, kill: the lost /rotate committed version 2; after a restart the retry with its X-Request-Id answers it (replayed), and both versions decrypt', async () => {
        const userId = '9332';
        const ciphertext = await keyWithCiphertext(userId);
        await killedBy(
          await armed('rotate.after-commit', 'kill'),
          'POST',
          '/api/v1/rotate',
          { userId, data: [ciphertext] },
          {
            'X-Request-Id': 'failpoint-9332',
          },
        );
        await restart();
        assert.equal(await currentVersion(userId), 2);
        const retried = await rotate(service, userId, ciphertext, 'failpoint-9332');
        assert.equal(retried.status, 200, JSON.stringify(retried.body));
        assert.deepEqual([retried.body.keyVersion, retried.body.replayed], [2, true]);
        await assertUsable(userId, [ciphertext, retried.body.rotatedData[0]]);
        assert.equal(await currentVersion(userId), 2, 'no second version');
        written.set(userId, [
          { ciphertext, plaintext: PLAINTEXT },
          { ciphertext: retried.body.rotatedData[0], plaintext: PLAINTEXT },
        ]);
      });

      it('rotate.after-commit, fail: a failure after the commit does not turn the answer into an error: 200 with version 2, which survives a restart', async () => {
        const userId = '9333';
        const ciphertext = await keyWithCiphertext(userId);
        const armedProcess = await armed('rotate.after-commit', 'fail');
        const rotated = await rotate(armedProcess, userId, ciphertext, 'failpoint-9333');
        assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
        assert.deepEqual([rotated.body.keyVersion, rotated.body.replayed], [2, false]);
        await armedProcess.stop();
        assert.match(logOf(armedProcess, 'rotate.after-commit-fail'), /was not evicted after its rotation \(FailpointError\)/);
        await restart();
        assert.equal(await currentVersion(userId), 2);
        await assertUsable(userId, [ciphertext, rotated.body.rotatedData[0]]);
        written.set(userId, [
          { ciphertext, plaintext: PLAINTEXT },
          { ciphertext: rotated.body.rotatedData[0], plaintext: PLAINTEXT },
        ]);
      });
    });

    describe('the shred-log replay at start-up', () => {
      /** A user shredded, then brought back by a restore from a backup taken before: the row as it was. */
      async function shreddedThenRestored(userId: string): Promise<{ ciphertext: string; receipt: string }> {
        const ciphertext = await keyWithCiphertext(userId);
        const [backup] = await stack.query(`SELECT * FROM user_keys WHERE user_id = $1`, [userId]);
        const shredded = await on().delete(`/api/v1/keys/${userId}`);
        assert.equal(shredded.status, 200, JSON.stringify(shredded.body));
        const columns = Object.keys(backup).filter((column) => column !== 'user_id');
        await stack.query(`UPDATE user_keys SET ${columns.map((column, i) => `${column} = $${i + 2}`).join(', ')} WHERE user_id = $1`, [
          userId,
          ...columns.map((column) => backup[column]),
        ]);
        assert.equal((await rowsOf(userId))[0].is_active, true, 'the restore brought the key back');
        return { ciphertext, receipt: shredded.body.receipt };
      }

      it('replay.after-destroy, kill: a replay that died right after destroying a restored key leaves it destroyed; after a restart it stays so and a repeated DELETE answers the original receipt', async () => {
        const userId = '9340';
        const { ciphertext, receipt } = await shreddedThenRestored(userId);
        await service!.stop();
        service = undefined;
        await assert.rejects(armed('replay.after-destroy', 'kill'), /exited \(SIGKILL\) before it was ready/);
        const [row] = await rowsOf(userId);
        assert.deepEqual({ active: row.is_active, sealed: row.sealed }, { active: false, sealed: false }, 'destroyed before the crash');
        await restart();
        assert.equal(await assertDestroyedAndLogged(userId, ciphertext), receipt);
        await restart();
        assert.equal((await rowsOf(userId))[0].is_active, false);
      });

      it('replay.after-destroy, fail: the failed replay is retried at once and completes; the restored key is destroyed, also after a restart', async () => {
        const userId = '9341';
        const { ciphertext, receipt } = await shreddedThenRestored(userId);
        await service!.stop();
        service = await armed('replay.after-destroy', 'fail');
        const metrics = (await checkedAgent(request.agent(service.url), stack.contract).get('/metrics')).text;
        assert.equal(metricValue(metrics, 'pii_api_shred_replay_total', 'outcome="failed"'), 1, 'the first attempt failed');
        assert.equal(await assertDestroyedAndLogged(userId, ciphertext), receipt);
        await restart();
        assert.equal(await assertDestroyedAndLogged(userId, ciphertext), receipt);
      });
    });

    describe('the online KMS key migration', () => {
      /** Sealed keys (every table) not under `keyId`, counted in the database. */
      async function notUnder(keyId: string): Promise<number> {
        const [row] = await stack.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM (
             SELECT kms_key_id FROM user_keys WHERE sealed_private_key IS NOT NULL
             UNION ALL SELECT kms_key_id FROM user_key_history WHERE sealed_private_key IS NOT NULL
             UNION ALL SELECT kms_key_id FROM blind_index_keys WHERE sealed_key IS NOT NULL
             UNION ALL SELECT kms_key_id FROM receipt_signing_keys WHERE sealed_private_key IS NOT NULL) k
           WHERE kms_key_id IS DISTINCT FROM $1`,
          [keyId],
        );
        return row.n;
      }

      /** The key the migration moves to: what `kms_key_id` of a re-sealed row says (a KMS key's ARN; `local` otherwise). */
      async function keyIdOfTarget(target: ServiceProcess): Promise<string> {
        return (await on(target).get('/api/v1/admin/kms-migration').expect(200)).body.currentKeyId;
      }

      const status = async (target: ServiceProcess): Promise<Status> =>
        (await on(target).get('/api/v1/admin/kms-migration').expect(200)).body;

      /** A new current key, and an armed process sealing under it that starts the migration to it (the answer may be lost to a kill). */
      async function migrationOn(name: FailpointName, action: FailpointAction) {
        await service!.stop();
        service = undefined;
        keys.push(moto ? await moto.createKmsKey() : join(stack.env.DATA_DIR, `master-${keys.length + 1}.key`));
        const armedProcess = await start(
          { FAILPOINTS: `${name}=${action}`, LOG_LEVEL: 'warn', KMS_MIGRATION_RATE_PER_SECOND: String(MIGRATION_RATE) },
          `${name}-${action}`,
        );
        const initial = await status(armedProcess);
        const targetKeyId = await keyIdOfTarget(armedProcess);
        assert.ok(initial.remaining.total > MIGRATION_RATE, `more than one batch to move: ${initial.remaining.total}`);
        const exited = once(armedProcess.child, 'exit');
        const started = await fetch(`${armedProcess.url}/api/v1/admin/kms-migration`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        }).catch(() => null);
        if (started) assert.equal(started.status, 201);
        return { armedProcess, toMove: initial.remaining.total, targetKeyId, exited };
      }

      const running = async () =>
        (await stack.query<{ resealed: number }>(`SELECT resealed::int AS resealed FROM kms_migrations WHERE finished_at IS NULL`))[0];

      /** A restarted process finishes the migration; every version of every user decrypts. */
      async function assertFinishedAfterRestart(toMove: number): Promise<void> {
        await restart();
        let done = await status(service!);
        await waitFor(
          'the migration to finish',
          async () => {
            done = await status(service!);
            assert.ok(done.complete && done.migration?.outcome === 'done', JSON.stringify(done));
          },
          120_000,
          250,
        );
        assert.equal(done.migration!.resealed, toMove, 'each sealed key re-sealed (committed) once');
        await decryptEverythingOf(stack.contract, service!.url, token, written);
      }

      it('kms-migration.after-reseal, kill: the batch in flight is rolled back, every key still decrypts, and a restart finishes the migration', async () => {
        const { toMove, targetKeyId, exited } = await migrationOn('kms-migration.after-reseal', 'kill');
        assert.equal((await exited)[1], 'SIGKILL');
        assert.equal(await notUnder(targetKeyId), toMove, 'nothing committed');
        assert.equal((await running()).resealed, 0);
        await assertFinishedAfterRestart(toMove);
        assert.equal(await notUnder(targetKeyId), 0);
      });

      it('kms-migration.after-reseal, fail: a failed batch moves nothing and is retried; every key decrypts meanwhile, and a restart finishes the migration', async () => {
        const { armedProcess, toMove, targetKeyId } = await migrationOn('kms-migration.after-reseal', 'fail');
        await waitFor('a failed batch', async () => {
          const metrics = (await checkedAgent(request.agent(armedProcess.url), stack.contract).get('/metrics')).text;
          assert.ok(metricValue(metrics, 'pii_api_kms_migration_backoffs_total') >= 1);
        });
        assert.equal(await notUnder(targetKeyId), toMove, 'nothing committed');
        await decryptEverythingOf(stack.contract, armedProcess.url, token, written);
        await armedProcess.stop();
        await assertFinishedAfterRestart(toMove);
      });

      it('kms-migration.after-commit, kill: exactly the committed batch stays re-sealed, every key decrypts, and a restart finishes the migration', async () => {
        const { toMove, targetKeyId, exited } = await migrationOn('kms-migration.after-commit', 'kill');
        assert.equal((await exited)[1], 'SIGKILL');
        assert.equal(await notUnder(targetKeyId), toMove - MIGRATION_RATE, 'one batch committed');
        assert.equal((await running()).resealed, MIGRATION_RATE);
        await assertFinishedAfterRestart(toMove);
      });

      it('kms-migration.after-commit, fail: each committed batch stays and the job goes on after the failure, finishing the migration; every key decrypts after a restart', async () => {
        const { armedProcess, toMove } = await migrationOn('kms-migration.after-commit', 'fail');
        await waitFor(
          'the migration to finish on the failing process',
          async () => assert.equal((await status(armedProcess)).migration?.outcome, 'done'),
          120_000,
          250,
        );
        assert.equal((await status(armedProcess)).migration!.resealed, toMove, 'each sealed key re-sealed once');
        await armedProcess.stop();
        assert.match(logOf(armedProcess, 'kms-migration.after-commit-fail'), /KMS key migration batch failed \(FailpointError\)/);
        await restart();
        await decryptEverythingOf(stack.contract, service!.url, token, written);
        assert.equal((await status(service!)).complete, true);
      });
    });
  });
}
