import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import request from 'supertest';
import { KmsFaultProxy } from './support/kms-fault-proxy';
import { keyIdOf, Moto, MOTO_REGION } from './support/moto';
import { checkedAgent } from './support/openapi-contract';
import { waitFor } from './support/processes';
import { embeddedSocketUrl, metricValue, ServiceProcess, spawnService } from './support/service-process';
import { awsStack, Environment, Stack, STACKS } from './support/stacks';
import { decryptEverything as decryptEverythingOf, writeVersions } from './support/versions';

/**
 * The online KMS key migration as it runs in a deployment: replicas in processes of their own,
 * one killed (SIGKILL) half-way, two resuming it together on the shared database, KMS throttling
 * in the middle, and the operator command. Every version of every user is decrypted before,
 * during and after.
 */

// One operator starts migrations here: the two-person rule (DUAL_CONTROL) is tested in test/dual-control.e2e-spec.ts.
const UNTHROTTLED = { RATE_LIMIT_PER_MINUTE: '100000', DUAL_CONTROL: 'off' };
const USERS = 30;
const VERSIONS = 3;
/** Per replica: slow enough that a kill lands half-way, as KMS_MIGRATION_RATE_PER_SECOND is meant to pace it. */
const RATE = 4;
const KMS_MIGRATION_CLI = join(__dirname, '..', 'src', 'cli', 'kms-migration.js');

type Status = {
  currentKeyId: string;
  migration: { id: number; targetKeyId: string; resealed: number; outcome: string | null; finishedAt: string | null } | null;
  remaining: { total: number; userKeys: number; userKeyHistory: number };
  complete: boolean;
};

for (const definition of STACKS) {
  describe(`KMS key migration across service processes — ${definition.name}`, { timeout: 600_000 }, () => {
    let stack: Stack;
    let moto: Moto | undefined;
    let token: string;
    const processes: ServiceProcess[] = [];
    const proxies: KmsFaultProxy[] = [];
    /** Per user, one ciphertext and its plaintext per key version. */
    const written = new Map<string, Array<{ ciphertext: string; plaintext: string }>>();
    /** The master keys (local) or KMS keys in use, oldest first. */
    const keys: string[] = [];

    /** A new key to migrate to: a KMS key, or the path of a new local master key file (created by the first process that opens it). */
    async function newKey(): Promise<string> {
      const key = moto ? await moto.createKmsKey() : join(stack.env.DATA_DIR, `master-${keys.length + 1}.key`);
      keys.push(key);
      return key;
    }

    /** What a replica sets to seal under `current` and still unseal under `previous`. */
    function keySettings(current: string, previous: string[]): Environment {
      return moto
        ? { KMS_KEY_ID: current, KMS_PREVIOUS_KEY_IDS: previous.join(',') }
        : { LOCAL_MASTER_KEY_FILE: current, LOCAL_PREVIOUS_MASTER_KEY_FILES: previous.join(',') };
    }

    /** The environment of a replica process on this stack's database; KMS calls through `proxy` when given. */
    function replicaEnv(settings: Environment, proxy?: KmsFaultProxy): Environment {
      return {
        ...stack.env,
        MIGRATIONS_RUN: 'false',
        ...(moto ? { KMS_ENDPOINT: proxy?.endpoint ?? moto.endpoint } : { DATABASE_URL: embeddedSocketUrl(stack.env.DATA_DIR) }),
        ...settings,
      };
    }

    async function replica(name: string, settings: Environment, proxy?: KmsFaultProxy): Promise<ServiceProcess> {
      const started = await spawnService(replicaEnv(settings, proxy), stack.contract, name);
      processes.push(started);
      return started;
    }

    async function proxy(): Promise<KmsFaultProxy | undefined> {
      if (!moto) return undefined;
      const started = await new KmsFaultProxy(moto.endpoint).start();
      proxies.push(started);
      return started;
    }

    const reEncrypts = (p?: KmsFaultProxy) => p?.calls.filter((operation) => operation === 'ReEncrypt').length ?? 0;

    /** Requests to a replica at `url`, as the caller holding `token` (or as anyone), checked as the stack's own are. */
    const on = (url: string) => checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), stack.contract);
    const anyoneOn = (url: string) => checkedAgent(request.agent(url), stack.contract);

    async function status(url: string): Promise<Status> {
      const { body } = await on(url).get('/api/v1/admin/kms-migration').expect(200);
      return body as Status;
    }

    async function metrics(url: string): Promise<string> {
      return (await anyoneOn(url).get('/metrics').expect(200)).text;
    }

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

    const decryptEverything = (url: string) => decryptEverythingOf(stack.contract, url, token, written);

    before(async () => {
      stack = await definition.start(UNTHROTTLED);
      moto = (stack as Stack & { moto?: Moto }).moto;
      keys.push(moto ? stack.env.KMS_KEY_ID : join(stack.env.DATA_DIR, 'master.key'));
      token = await stack.token();
      // Four users at a time: each gets a key and VERSIONS - 1 rotations, with one ciphertext per version.
      const userIds = Array.from({ length: USERS }, (_, i) => String(8000 + i));
      for (let at = 0; at < userIds.length; at += 4) {
        await Promise.all(
          userIds.slice(at, at + 4).map(async (userId) => {
            written.set(userId, await writeVersions(stack, token, userId, VERSIONS));
          }),
        );
      }
    });

    after(async () => {
      for (const service of processes) await service.stop().catch(() => undefined);
      for (const p of proxies) await p.stop();
      await stack?.close();
    });

    it('resumes a migration whose only replica was killed half-way on two replicas at once, re-sealing each key once, while every version decrypts', async () => {
      await decryptEverything(stack.url);
      const [oldKey, target] = [keys[0], await newKey()];
      const settings = { ...keySettings(target, [oldKey]), KMS_MIGRATION_RATE_PER_SECOND: String(RATE) };

      const [proxyA, proxyB, proxyC] = [await proxy(), await proxy(), await proxy()];
      const a = await replica('a', settings, proxyA);
      const initial = await status(a.url);
      assert.equal(initial.migration, null);
      const toMove = initial.remaining.total;
      assert.ok(initial.remaining.userKeys >= USERS && initial.remaining.userKeyHistory >= USERS * (VERSIONS - 1), JSON.stringify(initial));
      const started = await on(a.url).post('/api/v1/admin/kms-migration').expect(201);
      const migrationId = started.body.migration.id;

      // Decrypts through the migrating replica until a third is re-sealed, then the process is killed.
      let progress = await status(a.url);
      while (progress.migration!.resealed < toMove / 3) {
        await decryptEverything(a.url);
        progress = await status(a.url);
      }
      await a.kill();

      const remainingAtKill = await notUnder(progress.currentKeyId);
      assert.ok(remainingAtKill > 0 && remainingAtKill < toMove, `killed half-way: ${remainingAtKill} of ${toMove} left`);
      const [running] = await stack.query(`SELECT resealed::int AS resealed, finished_at FROM kms_migrations WHERE id = $1`, [migrationId]);
      assert.equal(running.finished_at, null, 'the migration is still running in the database');
      assert.equal(running.resealed, toMove - remainingAtKill, 'the counter holds exactly the committed rows');
      if (proxyA) {
        // Calls of the batch in flight at the kill were made but never committed: at most one batch.
        const wasted = reEncrypts(proxyA) - (toMove - remainingAtKill);
        assert.ok(wasted >= 0 && wasted <= RATE, `ReEncrypt calls of the killed replica beyond its committed rows: ${wasted}`);
      }

      // Two replicas with the same settings start; each finds the running migration and takes part.
      const [b, c] = await Promise.all([replica('b', settings, proxyB), replica('c', settings, proxyC)]);
      assert.ok((await notUnder(progress.currentKeyId)) > 0, 'some keys are still under the old key');
      await decryptEverything(b.url);
      const deadline = Date.now() + 120_000;
      let done = await status(b.url);
      while (!done.complete || done.migration?.outcome !== 'done') {
        assert.ok(Date.now() < deadline, `migration not done in time: ${JSON.stringify(done)}`);
        await decryptEverything(c.url);
        done = await status(b.url);
      }
      assert.equal(done.migration!.id, migrationId);
      assert.equal(done.migration!.resealed, toMove, 'each row re-sealed (committed) once in all');
      assert.equal(await notUnder(done.currentKeyId), 0);

      // After the kill, each remaining row was re-sealed by exactly one of the two replicas.
      const [byB, byC] = [
        metricValue(await metrics(b.url), 'pii_api_kms_migration_resealed_total'),
        metricValue(await metrics(c.url), 'pii_api_kms_migration_resealed_total'),
      ];
      assert.equal(byB + byC, remainingAtKill, `re-sealed by b ${byB}, by c ${byC}`);
      assert.ok(byB > 0 && byC > 0, `both replicas took part: b ${byB}, c ${byC}`);
      if (proxyB && proxyC) assert.equal(reEncrypts(proxyB) + reEncrypts(proxyC), remainingAtKill, 'one ReEncrypt per remaining row');
      assert.equal(metricValue(await metrics(b.url), 'pii_api_kms_migration_remaining'), 0);

      let events: Array<Record<string, any>> = [];
      await waitFor('the finish event', async () => {
        events = await stack.query(
          `SELECT action, outcome, details FROM audit_events WHERE action LIKE 'kms-migration.%' ORDER BY occurred_at`,
        );
        assert.ok(events.some((event) => event.action === 'kms-migration.finish'));
      });
      const finishes = events.filter((event) => event.action === 'kms-migration.finish');
      assert.equal(finishes.length, 1, 'finished once');
      assert.equal(finishes[0].details.resealed, toMove);
      assert.equal(finishes[0].details.unsealable, 0);
      assert.doesNotMatch(JSON.stringify(events), /BEGIN|PRIVATE|"plaintext"/);

      await b.stop();
      await c.stop();

      // The old key retired: a replica that no longer lists it decrypts everything; on KMS the old key is disabled too.
      if (moto) {
        const probeClient = moto.kms();
        const probe = await probeClient.send(new EncryptCommand({ KeyId: oldKey, Plaintext: Buffer.from('probe') }));
        probeClient.destroy();
        assert.equal(await moto.disableKey(oldKey), 'Disabled');
        const proxyD = (await proxy())!;
        proxyD.disabled.add(keyIdOf(oldKey));
        const viaProxy = new KMSClient({ region: MOTO_REGION, endpoint: proxyD.endpoint });
        const refused = await viaProxy.send(new DecryptCommand({ CiphertextBlob: probe.CiphertextBlob })).then(
          () => 'decrypted',
          (error: Error) => error.name,
        );
        viaProxy.destroy();
        assert.equal(refused, 'DisabledException', 'the disabled key opens nothing any more');
        const d = await replica('d', keySettings(target, []), proxyD);
        await decryptEverything(d.url);
        await d.stop();
      } else {
        const d = await replica('d', keySettings(target, []));
        await decryptEverything(d.url);
        await d.stop();
      }
    });

    const throttlingSkip =
      definition !== awsStack &&
      'the local provider seals in-process: there is no KMS quota to exceed and no call to throttle (the back-off schedule has its unit test)';
    it('backs off when KMS throttles the migration, loses nothing and finishes', { skip: throttlingSkip }, async () => {
      const [previous, target] = [keys[keys.length - 1], await newKey()];
      const kms = (await proxy())!;
      const t = await replica('throttled', { ...keySettings(target, [previous]), KMS_MIGRATION_RATE_PER_SECOND: '10' }, kms);
      const toMove = (await status(t.url)).remaining.total;
      await on(t.url).post('/api/v1/admin/kms-migration').expect(201);
      await waitFor('the first re-sealed keys', async () => assert.ok((await status(t.url)).migration!.resealed > 0));

      kms.throttling.add('ReEncrypt');
      await waitFor(
        'two batches stopped by throttling',
        async () => assert.ok(metricValue(await metrics(t.url), 'pii_api_kms_migration_backoffs_total') >= 2),
        60_000,
        200,
      );
      const during = await status(t.url);
      assert.ok(during.remaining.total > 0 && during.migration!.outcome === null, JSON.stringify(during));
      // No row half-written: each sealed blob is under the key its row names (moto's blob starts with the key id).
      const rows = await stack.query<{ sealed: Buffer; kms_key_id: string }>(
        `SELECT sealed_private_key AS sealed, kms_key_id FROM user_keys WHERE sealed_private_key IS NOT NULL
         UNION ALL SELECT sealed_private_key, kms_key_id FROM user_key_history WHERE sealed_private_key IS NOT NULL`,
      );
      for (const row of rows) assert.equal(row.sealed.subarray(0, 36).toString('utf8'), keyIdOf(row.kms_key_id));
      const seen = await metrics(t.url);
      assert.ok(metricValue(seen, 'pii_api_dependency_retries_total', 'dependency="kms"') > 0, 'the KMS calls were retried first');
      assert.ok(metricValue(seen, 'pii_api_kms_requests_total', 'operation="ReEncrypt",outcome="error"') > 0);

      kms.throttling.clear();
      const deadline = Date.now() + 120_000;
      let done = await status(t.url);
      while (!done.complete || done.migration?.outcome !== 'done') {
        assert.ok(Date.now() < deadline, `migration not done in time: ${JSON.stringify(done)}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
        done = await status(t.url);
      }
      assert.equal(done.migration!.resealed, toMove, 'every key re-sealed once, none lost');
      assert.equal(await notUnder(target), 0);
      await decryptEverything(t.url);
      await t.stop();
    });

    it('npm run kms-migration starts the migration, takes part, prints its progress until none is left, and --status only reads', async () => {
      const [previous, target] = [keys[keys.length - 1], await newKey()];
      const env = { ...replicaEnv({ ...keySettings(target, [previous]), KMS_MIGRATION_RATE_PER_SECOND: '200' }), LOG_LEVEL: 'warn' };
      delete (env as Record<string, string | undefined>).LOG_FILE;
      // Asynchronously: on the embedded stack this test process serves the database the command uses.
      const run = (args: string[]) =>
        new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
          const child = spawn(process.execPath, [KMS_MIGRATION_CLI, ...args], {
            env: { PATH: process.env.PATH!, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', ...env },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let [stdout, stderr] = ['', ''];
          child.stdout.on('data', (chunk) => (stdout += chunk));
          child.stderr.on('data', (chunk) => (stderr += chunk));
          const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
          child.once('error', reject);
          child.once('close', (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr });
          });
        });
      const migrationsBefore = await stack.query(`SELECT count(*)::int AS n FROM kms_migrations`);

      const peek = await run(['--status']);
      assert.equal(peek.status, 0, peek.stderr);
      const peeked: Status = JSON.parse(peek.stdout.trim().split('\n').pop()!);
      assert.equal(peeked.complete, false);
      assert.ok(peeked.remaining.total >= USERS * VERSIONS);
      assert.deepEqual(await stack.query(`SELECT count(*)::int AS n FROM kms_migrations`), migrationsBefore, '--status started nothing');

      const migrated = await run([]);
      assert.equal(migrated.status, 0, `${migrated.stdout}\n${migrated.stderr}`);
      const lines = migrated.stdout.trim().split('\n');
      assert.ok(
        lines.some((line) => /^Started KMS key migration \d+ to /.test(line)),
        migrated.stdout,
      );
      assert.ok(
        lines.some((line) => / \d+ re-sealed, 0 left under old keys/.test(line)),
        migrated.stdout,
      );
      const final: Status = JSON.parse(lines[lines.length - 1]);
      assert.equal(final.complete, true);
      assert.equal(final.migration!.outcome, 'done');
      assert.equal(final.migration!.resealed, peeked.remaining.total);
      assert.equal(await notUnder(final.currentKeyId), 0);

      const afterwards = await run(['--status']);
      assert.equal(afterwards.status, 0, afterwards.stderr);
      assert.equal(JSON.parse(afterwards.stdout.trim()).complete, true);
      const [start] = await stack.query(
        `SELECT actor_sub, details FROM audit_events WHERE action = 'kms-migration.start' AND outcome = 'success' ORDER BY occurred_at DESC LIMIT 1`,
      );
      assert.equal(start.actor_sub, 'operator-cli');
      assert.equal(start.details.started, true);

      const replicaOnNewKey = await replica('after-cli', keySettings(target, []), await proxy());
      await decryptEverything(replicaOnNewKey.url);
      await replicaOnNewKey.stop();
    });
  });
}
