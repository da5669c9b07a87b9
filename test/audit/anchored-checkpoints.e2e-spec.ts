import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataSource } from 'typeorm';
import { eventHash } from '../../src/audit/audit-chain';
import { fromRow } from '../../src/audit/audit-store.service';
import { CHECKPOINT_JWS_TYPE, digestId, digestName } from '../../src/audit/checkpoint-anchor';
import { AuditEventRow } from '../../src/repositories/entities/audit-event.entity';
import { CHECKPOINT_DOCUMENTS, DirectoryDocuments, S3Documents, WriteOnceDocuments } from '../../src/shred-log/write-once-documents';
import { Stack, STACKS } from '../support/stacks';
import { eventsOf, newRequestId } from './support';

const OFFLINE_CLI = join(__dirname, '../../src/cli/verify-audit-offline.js');
const RECEIPT_CLI = join(__dirname, '../../src/cli/verify-receipt.js');

interface Checkpoint {
  chain_id: string;
  seq: string;
  event_id: string;
  hash: string;
}

for (const definition of STACKS) {
  describe(`audit checkpoints anchored outside the database — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    let auditor: string;
    let ciphertexts: string[];
    let store: WriteOnceDocuments;
    const work = mkdtempSync(join(tmpdir(), 'anchored-checkpoints-'));

    const verify = async (full = false) =>
      (
        await stack
          .as(auditor)
          .get(`/api/v1/audit/verify${full ? '?full=true' : ''}`)
          .expect(200)
      ).body;
    const decrypt = async () => {
      const requestId = newRequestId();
      await stack.as(token).post('/api/v1/decrypt').set('X-Request-Id', requestId).send({ userId: '712', data: ciphertexts }).expect(200);
      return (await eventsOf(stack, requestId))[0];
    };
    const checkpointOf = async (chainId: string) =>
      (await stack.query<Checkpoint>(`SELECT chain_id, seq, event_id, hash FROM audit_checkpoints WHERE chain_id = $1`, [chainId]))[0];
    const storedEvent = async (id: string) => fromRow(await stack.app.get(DataSource).getRepository(AuditEventRow).findOneByOrFail({ id }));
    const withTriggerDisabled = async (tamper: () => Promise<void>) => {
      await stack.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
      try {
        await tamper();
      } finally {
        await stack.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
      }
    };
    const brokenAt = (result: { brokenLink?: Record<string, unknown> }) => ({ ...result.brokenLink, description: undefined });
    const link = (chainId: string, seq: string | number, eventId: string, problem: string) => ({
      chainId,
      seq: Number(seq),
      eventId,
      problem,
      description: undefined,
    });
    /** Every digest in the anchor store, oldest first, as stored (compact JWS). */
    const digests = async () => {
      const all: string[] = [];
      for (let number = 1; ; number++) {
        const jws = await store.read(digestName(number));
        if (jws === undefined) return all;
        all.push(jws);
      }
    };
    const receiptKeys = async () => (await stack.http().get('/.well-known/receipt-keys.json').expect(200)).body;
    /** The whole trail as an auditor exports it: every page of GET /api/v1/audit, one JSON line each. */
    const exportTrail = async (file: string) => {
      const pages: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: { events: unknown[]; nextCursor: string | null } } = await stack
          .as(auditor)
          .get('/api/v1/audit')
          .query({ limit: 500, ...(cursor && { cursor }) })
          .expect(200);
        pages.push(JSON.stringify(page.body));
        cursor = page.body.nextCursor;
      } while (cursor);
      writeFileSync(file, `${pages.join('\n')}\n`);
    };
    const offline = (exportFile: string, jwksFile: string) => {
      const anchors = store instanceof S3Documents ? `s3://${store.bucket}/${store.prefix}` : (store as DirectoryDocuments).directory;
      const run = spawnSync(
        process.execPath,
        [
          OFFLINE_CLI,
          '--events',
          exportFile,
          '--anchors',
          anchors,
          '--jwks',
          jwksFile,
          ...(stack.env.SHRED_LOG_ENDPOINT ? ['--endpoint', stack.env.SHRED_LOG_ENDPOINT] : []),
        ],
        { encoding: 'utf8', env: { ...process.env, ...stack.env } },
      );
      return { status: run.status, output: run.stdout ? JSON.parse(run.stdout) : run.stderr };
    };

    before(async () => {
      // A sample that covers every checkpointed link, so that what it finds does not depend on chance.
      stack = await definition.start({ AUDIT_VERIFY_SAMPLE: '1000000' });
      store = stack.app.get(CHECKPOINT_DOCUMENTS);
      token = await stack.token();
      auditor = await stack.token(['audit:read']);
      await stack.as(token).post('/api/v1/keys').send({ userId: '712' }).expect(201);
      ciphertexts = (
        await stack
          .as(token)
          .post('/api/v1/encrypt')
          .send({ userId: '712', data: ['a'] })
          .expect(200)
      ).body.encryptedData;
    });
    after(async () => {
      await stack?.close();
      rmSync(work, { recursive: true, force: true });
    });

    it('an incremental verification finds an edit of a checkpointed event through its random sample, re-hashed or not', async () => {
      const target = await decrypt();
      await decrypt();
      await verify();
      await decrypt();
      const intact = await verify();
      assert.ok(
        Number((await checkpointOf(target.chain_id)).seq) > Number(target.seq) + 1,
        'the target and the next event are checkpointed',
      );
      assert.equal(intact.ok, true, JSON.stringify(intact.brokenLink));
      assert.equal(intact.sampled, intact.checkpointed, 'every checkpointed link was re-checked');
      assert.ok(intact.events < intact.checkpointed, 'without walking them again');

      const original = await storedEvent(target.id);
      const following = (
        await stack.query<{ id: string }>(`SELECT id FROM audit_events WHERE chain_id = $1 AND seq = $2`, [
          target.chain_id,
          Number(target.seq) + 1,
        ])
      )[0];
      await withTriggerDisabled(async () => {
        await stack.query(`UPDATE audit_events SET purpose = 'edited' WHERE id = $1`, [target.id]);
        const edited = await verify();
        assert.equal(edited.ok, false);
        assert.equal(edited.mode, 'incremental');
        assert.deepEqual(brokenAt(edited), link(target.chain_id, target.seq, target.id, 'content-hash-mismatch'));

        await stack.query(`UPDATE audit_events SET hash = $2 WHERE id = $1`, [target.id, eventHash(await storedEvent(target.id))]);
        const rehashed = await verify();
        assert.equal(rehashed.ok, false);
        assert.deepEqual(brokenAt(rehashed), link(target.chain_id, Number(target.seq) + 1, following.id, 'previous-hash-mismatch'));
        await stack.query(`UPDATE audit_events SET purpose = $2, hash = $3 WHERE id = $1`, [target.id, original.purpose, original.hash]);
      });
      assert.equal((await verify()).ok, true);
    });

    it('an edited, moved or deleted checkpoint row is found by comparison with the signed checkpoint in the anchor store', async () => {
      const event = await decrypt();
      await verify();
      const held = await checkpointOf(event.chain_id);
      const restore = async () => {
        await stack.query(`DELETE FROM audit_checkpoints WHERE chain_id = $1`, [held.chain_id]);
        await stack.query(`INSERT INTO audit_checkpoints (chain_id, seq, event_id, hash, verified_at) VALUES ($1, $2, $3, $4, now())`, [
          held.chain_id,
          held.seq,
          held.event_id,
          held.hash,
        ]);
      };

      await stack.query(`UPDATE audit_checkpoints SET hash = $2 WHERE chain_id = $1`, [held.chain_id, 'f'.repeat(64)]);
      for (const full of [false, true]) {
        const edited = await verify(full);
        assert.equal(edited.ok, false);
        assert.deepEqual(brokenAt(edited), link(held.chain_id, held.seq, held.event_id, 'checkpoint-anchor-mismatch'));
      }
      await restore();

      await stack.query(`DELETE FROM audit_checkpoints WHERE chain_id = $1`, [held.chain_id]);
      const deleted = await verify();
      assert.equal(deleted.ok, false);
      assert.deepEqual(brokenAt(deleted), link(held.chain_id, held.seq, held.event_id, 'checkpoint-anchor-mismatch'));
      await restore();

      // Moved forward to a later event with its true hash: a checkpoint no verification signed.
      const later = (
        await stack.query<{ id: string; seq: string; hash: string }>(
          `SELECT id, seq, hash FROM audit_events WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT 1`,
          [held.chain_id, held.seq],
        )
      )[0];
      await stack.query(`UPDATE audit_checkpoints SET seq = $2, event_id = $3, hash = $4 WHERE chain_id = $1`, [
        held.chain_id,
        later.seq,
        later.id,
        later.hash,
      ]);
      const moved = await verify();
      assert.equal(moved.ok, false);
      assert.deepEqual(brokenAt(moved), link(held.chain_id, later.seq, later.id, 'checkpoint-not-anchored'));
      await restore();

      assert.equal((await verify()).ok, true);
    });

    it('each anchored digest is signed with a published receipt key as an audit checkpoint, names the one before it, and holds the checkpoints', async () => {
      await decrypt();
      await verify();
      const stored = await digests();
      assert.ok(stored.length >= 1);
      const keys = await receiptKeys();
      let previous: string | undefined;
      for (const [index, jws] of stored.entries()) {
        const { payload, protectedHeader } = await compactVerify(jws, createLocalJWKSet(keys), { algorithms: ['EdDSA'] });
        assert.equal(protectedHeader.typ, CHECKPOINT_JWS_TYPE);
        assert.ok(keys.keys.some((key: { kid: string }) => key.kid === protectedHeader.kid));
        const digest = JSON.parse(new TextDecoder().decode(payload));
        assert.equal(digest.number, index + 1);
        assert.equal(digest.previous, previous === undefined ? null : digestId(previous));
        previous = jws;
      }
      const newest = JSON.parse(new TextDecoder().decode((await compactVerify(stored.at(-1)!, createLocalJWKSet(keys))).payload));
      for (const row of await stack.query<Checkpoint>(`SELECT chain_id, seq, event_id, hash FROM audit_checkpoints`)) {
        const anchored = newest.checkpoints.find((c: { chainId: string }) => c.chainId === row.chain_id);
        assert.deepEqual(
          { chainId: anchored.chainId, seq: anchored.seq, eventId: anchored.eventId, hash: anchored.hash },
          { chainId: row.chain_id, seq: Number(row.seq), eventId: row.event_id, hash: row.hash },
        );
        assert.ok(!Number.isNaN(Date.parse(anchored.verifiedAt)));
      }
      // The same key, another typ: the receipt checker does not take a digest for a receipt.
      const jwksFile = join(work, 'digest-keys.json');
      writeFileSync(jwksFile, JSON.stringify(keys));
      assert.equal(decodeProtectedHeader(stored[0]).typ, CHECKPOINT_JWS_TYPE);
      assert.equal(spawnSync(process.execPath, [RECEIPT_CLI, stored[0], '--jwks', jwksFile], { encoding: 'utf8' }).status, 1);
    });

    it('npm run verify-audit-offline passes on an intact export of the trail and fails on an edited one, naming the first broken link', async () => {
      await decrypt();
      await verify();
      const jwksFile = join(work, 'receipt-keys.json');
      writeFileSync(jwksFile, JSON.stringify(await receiptKeys()));
      const exportFile = join(work, 'trail.jsonl');
      await exportTrail(exportFile);

      const intact = offline(exportFile, jwksFile);
      assert.equal(intact.status, 0, JSON.stringify(intact.output));
      assert.equal(intact.output.ok, true);
      assert.ok(intact.output.digests >= 1);

      const pages = readFileSync(exportFile, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      const edited = pages.at(-1).events.at(-1); // the oldest event of the export: checkpointed long ago
      edited.purpose = 'edited';
      const editedFile = join(work, 'trail-edited.jsonl');
      writeFileSync(editedFile, `${pages.map((page) => JSON.stringify(page)).join('\n')}\n`);
      const broken = offline(editedFile, jwksFile);
      assert.equal(broken.status, 1, JSON.stringify(broken.output));
      assert.equal(broken.output.ok, false);
      assert.deepEqual(brokenAt(broken.output), link(edited.chainId, edited.seq, edited.id, 'content-hash-mismatch'));
    });
  });
}
