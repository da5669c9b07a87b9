import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { awsStack, Stack, STACKS } from './support/stacks';

const KMS_MIGRATION_CLI = join(__dirname, '..', 'src', 'cli', 'kms-migration.js');
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/**
 * Issue 26: no data lost to one stolen credential. Destructive admin actions — finishing a
 * blind-index rotation (destroys the old index key), starting a KMS key migration (after which
 * the old KMS key may be disabled) — run only when a second identity approved a request: the
 * call answers 202 with the request, a different `sub` with `approvals:approve` approves it, and
 * the call repeated with X-Approval-Id runs the action, once.
 */
for (const definition of STACKS) {
  describe(`two-person rule — ${definition.name}`, { timeout: 300_000 }, () => {
    let stack: Stack;
    /** An operator: indexes:admin, keys:admin and approvals:approve. */
    let officer1: string;
    /** A second person, who may only approve. */
    let officer2: string;

    const index = async (name: string) => {
      const definition = { name, normalisation: 'digits', outputBits: 20, expectedCardinality: 1000, exactMatch: true };
      await stack.as(officer1).post('/api/v1/indexes').send(definition).expect(201);
      await stack.as(officer1).post(`/api/v1/indexes/${name}/rotate`).expect(200);
    };
    const oldKeyKept = async (name: string) =>
      (
        await stack.query(`SELECT sealed_key IS NOT NULL AS kept FROM blind_index_keys WHERE index_name = $1 AND key_version = 1`, [name])
      )[0].kept;

    before(async () => {
      stack = await definition.start();
      officer1 = await stack.identity('officer-1', ['indexes:admin', 'keys:admin', 'approvals:approve']);
      officer2 = await stack.identity('officer-2', ['approvals:approve']);
    });
    after(async () => stack?.close());

    it('finishing a blind-index rotation answers 202 and destroys nothing until a second identity approves; then X-Approval-Id finishes it, once', async () => {
      await index('dc_sin');
      await index('dc_other');
      const requested = await stack.as(officer1).post('/api/v1/indexes/dc_sin/finish-rotation').expect(202);
      assert.equal(requested.body.action, 'index.finish-rotation');
      assert.equal(requested.body.target, 'dc_sin');
      assert.equal(requested.body.state, 'pending');
      assert.equal(requested.body.approvalsRequired, 1);
      assert.equal(await oldKeyKept('dc_sin'), true, 'the request destroyed nothing');
      const id: string = requested.body.id;

      const unapproved = await stack.as(officer1).post('/api/v1/indexes/dc_sin/finish-rotation').set('X-Approval-Id', id);
      assert.deepEqual([unapproved.status, unapproved.body.code], [403, 'APPROVAL003']);
      const selfApproved = await stack.as(officer1).post(`/api/v1/approvals/${id}/approve`);
      assert.deepEqual([selfApproved.status, selfApproved.body.code], [403, 'AUTH002']);
      assert.equal(await oldKeyKept('dc_sin'), true);

      const approved = await stack.as(officer2).post(`/api/v1/approvals/${id}/approve`).expect(200);
      assert.equal(approved.body.state, 'approved');
      const elsewhere = await stack.as(officer1).post('/api/v1/indexes/dc_other/finish-rotation').set('X-Approval-Id', id);
      assert.deepEqual([elsewhere.status, elsewhere.body.code], [403, 'APPROVAL003'], 'an approval is for its own target only');
      assert.equal(await oldKeyKept('dc_other'), true);

      const finished = await stack.as(officer1).post('/api/v1/indexes/dc_sin/finish-rotation').set('X-Approval-Id', id).expect(200);
      assert.deepEqual(finished.body.versionsDestroyed, [1]);
      assert.equal(await oldKeyKept('dc_sin'), false);
      const reused = await stack.as(officer1).post('/api/v1/indexes/dc_sin/finish-rotation').set('X-Approval-Id', id);
      assert.deepEqual([reused.status, reused.body.code], [409, 'APPROVAL002']);
      const unknown = await stack.as(officer1).post('/api/v1/indexes/dc_other/finish-rotation').set('X-Approval-Id', UNKNOWN_ID);
      assert.deepEqual([unknown.status, unknown.body.code], [404, 'APPROVAL001']);
      const garbled = await stack.as(officer1).post('/api/v1/indexes/dc_other/finish-rotation').set('X-Approval-Id', 'not an id');
      assert.deepEqual([garbled.status, garbled.body.code], [404, 'APPROVAL001']);

      const view = (await stack.as(officer2).get(`/api/v1/approvals/${id}`).expect(200)).body;
      assert.equal(view.state, 'used');
      assert.equal(view.usedBy, view.requestedBy);
      const listed = (await stack.as(officer1).get('/api/v1/approvals').expect(200)).body.requests;
      assert.ok(listed.some((request: { id: string }) => request.id === id));
      const events = await stack.query(
        `SELECT details FROM audit_events WHERE action = 'index.finish-rotation' AND outcome = 'success' AND details->>'index' = 'dc_sin' ORDER BY occurred_at`,
      );
      assert.deepEqual(
        events.map((event) => event.details.approvalRequestId ?? null),
        [id, null],
        'the 202 is audited as a request made, then the finish itself',
      );
    });

    it('an approval request expires unused: it can no longer be approved or used', async () => {
      await index('dc_late');
      const { id } = (await stack.as(officer1).post('/api/v1/indexes/dc_late/finish-rotation').expect(202)).body;
      await stack.as(officer2).post(`/api/v1/approvals/${id}/approve`).expect(200);
      // A day later, as the database's clock would have it.
      await stack.query(
        `UPDATE approval_requests SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day' WHERE id = $1`,
        [id],
      );
      const used = await stack.as(officer1).post('/api/v1/indexes/dc_late/finish-rotation').set('X-Approval-Id', id);
      assert.deepEqual([used.status, used.body.code], [409, 'APPROVAL002']);
      const approved = await stack.as(officer2).post(`/api/v1/approvals/${id}/approve`);
      assert.deepEqual([approved.status, approved.body.code], [409, 'APPROVAL002']);
      assert.equal((await stack.as(officer1).get(`/api/v1/approvals/${id}`).expect(200)).body.state, 'expired');
      assert.equal(await oldKeyKept('dc_late'), true);
    });

    it('starting a KMS key migration answers 202 and starts nothing until a second identity approves; then X-Approval-Id starts it', async () => {
      const requested = await stack.as(officer1).post('/api/v1/admin/kms-migration').expect(202);
      assert.equal(requested.body.action, 'kms-migration.start');
      const status = (await stack.as(officer1).get('/api/v1/admin/kms-migration').expect(200)).body;
      assert.equal(requested.body.target, status.currentKeyId, 'the request names the key the migration goes to');
      assert.deepEqual(await stack.query(`SELECT count(*)::int AS n FROM kms_migrations`), [{ n: 0 }], 'nothing started');

      const unapproved = await stack.as(officer1).post('/api/v1/admin/kms-migration').set('X-Approval-Id', requested.body.id);
      assert.deepEqual([unapproved.status, unapproved.body.code], [403, 'APPROVAL003']);
      await stack.as(officer2).post(`/api/v1/approvals/${requested.body.id}/approve`).expect(200);
      const started = await stack.as(officer1).post('/api/v1/admin/kms-migration').set('X-Approval-Id', requested.body.id).expect(201);
      assert.equal(started.body.started, true);
      assert.equal(started.body.migration.targetKeyId, requested.body.target);
      const [execution] = await stack.query(
        `SELECT details FROM audit_events WHERE action = 'approval.execute' AND details->>'approvalRequestId' = $1`,
        [requested.body.id],
      );
      assert.equal(execution.details.action, 'kms-migration.start');
      assert.equal(execution.details.approvedBy.length, 1);
    });

    // The command on PostgreSQL (on the embedded stack this test process serves the database the command would use).
    if (definition === awsStack)
      it('npm run kms-migration starts nothing without an approved request, and starts the migration with --approval', async () => {
        // A new migration to another key: a replica's key as the command would have it.
        const moto = (stack as Stack & { moto: { createKmsKey(): Promise<string> } }).moto;
        const target = await moto.createKmsKey();
        const env: Record<string, string> = {
          ...stack.env,
          KMS_KEY_ID: target,
          KMS_PREVIOUS_KEY_IDS: stack.env.KMS_KEY_ID,
          LOG_LEVEL: 'warn',
        };
        delete env.LOG_FILE;
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
        const migrations = async () => (await stack.query(`SELECT count(*)::int AS n FROM kms_migrations`))[0].n;
        const before = await migrations();

        const alone = await run([]);
        assert.equal(alone.status, 2, alone.stderr);
        assert.match(alone.stderr, /Two-person rule/);
        assert.equal(await migrations(), before, 'nothing started');

        // The request is made through the API of a replica on the new key, and approved by a second person.
        const onNewKey = await stack.startAnother({ KMS_KEY_ID: target, KMS_PREVIOUS_KEY_IDS: stack.env.KMS_KEY_ID });
        const { default: request } = await import('supertest');
        const requested = await request(onNewKey.getHttpServer())
          .post('/api/v1/admin/kms-migration')
          .auth(officer1, { type: 'bearer' })
          .expect(202);
        assert.equal(requested.body.target, target);
        const notYet = await run(['--approval', requested.body.id]);
        assert.equal(notYet.status, 1, notYet.stderr);
        assert.match(notYet.stderr, /APPROVAL003|not yet approved|approval/i);
        await stack.as(officer2).post(`/api/v1/approvals/${requested.body.id}/approve`).expect(200);

        const migrated = await run(['--approval', requested.body.id]);
        assert.equal(migrated.status, 0, `${migrated.stdout}\n${migrated.stderr}`);
        assert.match(migrated.stdout, /^Started KMS key migration \d+ to /m);
        assert.equal(await migrations(), before + 1);
        const [execution] = await stack.query(
          `SELECT actor_sub, details FROM audit_events WHERE action = 'approval.execute' AND details->>'approvalRequestId' = $1`,
          [requested.body.id],
        );
        assert.equal(execution.actor_sub, 'operator-cli');
      });
  });
}

for (const definition of STACKS) {
  describe(`single-operator mode (DUAL_CONTROL=off) — ${definition.name}`, { timeout: 300_000 }, () => {
    let stack: Stack;
    let operator: string;

    before(async () => {
      stack = await definition.start({ DUAL_CONTROL: 'off', SHRED_MAX_PER_HOUR: '1' });
      operator = await stack.identity('lone-operator', ['indexes:admin', 'keys:admin', 'keys:write', 'keys:delete']);
    });
    after(async () => stack?.close());

    it('finishes a rotation, starts a KMS key migration and lifts the breaker at one operator’s call', async () => {
      const name = 'solo_sin';
      await stack
        .as(operator)
        .post('/api/v1/indexes')
        .send({ name, normalisation: 'digits', outputBits: 20, expectedCardinality: 1000, exactMatch: true })
        .expect(201);
      await stack.as(operator).post(`/api/v1/indexes/${name}/rotate`).expect(200);
      assert.deepEqual((await stack.as(operator).post(`/api/v1/indexes/${name}/finish-rotation`).expect(200)).body.versionsDestroyed, [1]);
      assert.equal((await stack.as(operator).post('/api/v1/admin/kms-migration').expect(201)).body.started, true);

      for (const userId of ['8801', '8802']) await stack.as(operator).post('/api/v1/keys').send({ userId }).expect(201);
      await stack.as(operator).delete('/api/v1/keys/8801').expect(200);
      assert.equal((await stack.as(operator).delete('/api/v1/keys/8802')).body.code, 'SHRED001', 'the breaker holds in this mode too');
      const lifted = (await stack.as(operator).post('/api/v1/admin/shred-breaker/lift').expect(200)).body;
      assert.equal(lifted.tripped, false);
      assert.equal(lifted.approvedBy, undefined);
      await stack.as(operator).delete('/api/v1/keys/8802').expect(200);
    });
  });
}
