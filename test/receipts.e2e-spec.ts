import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ReceiptSigner } from '../src/keys/receipt-signer.service';
import { awsStack, Stack, STACKS } from './support/stacks';

const VERIFY_CLI = join(__dirname, '../src/cli/verify-receipt.js');
const ROTATE_CLI = join(__dirname, '../src/cli/receipt-key.js');

interface Jwks {
  keys: Array<webcrypto.JsonWebKey & { kid: string }>;
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const parts = (receipt: string) => {
  const [header, payload, signature] = receipt.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString()),
    signature,
  };
};

/** The check any verifier can make with node:crypto alone, independently of the service's JOSE library. */
function verifiesWithNodeCrypto(receipt: string, jwks: Jwks): boolean {
  const [header, payload, signature] = receipt.split('.');
  const jwk = jwks.keys.find((key) => key.kid === parts(receipt).header.kid);
  if (!jwk || parts(receipt).header.alg !== 'EdDSA') return false;
  const { kid: _kid, alg: _alg, use: _use, ...keyOnly } = jwk as webcrypto.JsonWebKey & { kid: string; alg?: string; use?: string };
  const publicKey = createPublicKey({ key: keyOnly, format: 'jwk' });
  return verify(null, Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url'));
}

for (const definition of STACKS) {
  describe(`crypto-shred receipts — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    let dir: string;
    before(async () => {
      stack = await definition.start();
      token = await stack.token();
      dir = mkdtempSync(join(tmpdir(), 'receipts-'));
    });
    after(async () => {
      await stack?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    async function keysPublished(): Promise<Jwks> {
      const response = await stack.http().get('/.well-known/receipt-keys.json');
      assert.equal(response.status, 200);
      return response.body as Jwks;
    }

    /** A user with `rotations` retired versions besides the current one. */
    async function userWithVersions(userId: string, rotations: number): Promise<void> {
      assert.equal((await stack.as(token).post('/api/v1/keys').send({ userId })).status, 201);
      for (let i = 0; i < rotations; i++) {
        const rotated = await stack.as(token).post('/api/v1/rotate').send({ userId, data: [] });
        assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      }
    }

    function cli(receipt: string, jwks: Jwks): { status: number | null; stdout: string } {
      const file = join(dir, `jwks-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, JSON.stringify(jwks));
      const run = spawnSync(process.execPath, [VERIFY_CLI, receipt, '--jwks', file], { encoding: 'utf8' });
      return { status: run.status, stdout: run.stdout };
    }

    it('publishes the receipt keys without a token, cacheable', async () => {
      const response = await stack.http().get('/.well-known/receipt-keys.json');
      assert.equal(response.status, 200);
      assert.match(response.headers['cache-control'], /public, max-age=\d+/);
      assert.equal(response.body.keys.length, 1);
      assert.deepEqual(Object.keys(response.body.keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      assert.equal(response.body.keys[0].crv, 'Ed25519');
    });

    it('answers a crypto-shred with a receipt any verifier can check, committing to every destroyed key and to the audit event', async () => {
      await userWithVersions('7001', 2);
      const sealed = await stack.query<{ key_version: number; sealed: Buffer }>(
        `SELECT key_version, sealed_private_key AS sealed FROM user_keys WHERE user_id = 7001
         UNION ALL SELECT key_version, sealed_private_key FROM user_key_history WHERE user_id = 7001 ORDER BY key_version`,
      );
      const response = await stack.as(token).delete('/api/v1/keys/7001');
      assert.equal(response.status, 200);
      assert.equal(response.body.userId, '7001');
      assert.equal(response.body.versionsDestroyed, 3);

      const { receipt } = response.body;
      assert.ok(verifiesWithNodeCrypto(receipt, await keysPublished()), 'node:crypto verifies the receipt against the published key');
      const { payload, header } = parts(receipt);
      assert.equal(header.alg, 'EdDSA');
      assert.equal(payload.userId, '7001');
      assert.equal(payload.destroyedAt, response.body.destroyedAt);
      assert.deepEqual(
        payload.versions,
        sealed.map((row) => ({
          keyVersion: row.key_version,
          sealedPrivateKeySha256: createHash('sha256').update(row.sealed).digest('hex'),
        })),
      );
      const [event] = await stack.query(`SELECT action, outcome, target_user_id, hash FROM audit_events WHERE id = $1`, [
        payload.auditEvent.id,
      ]);
      assert.deepEqual(
        { ...event, hash: event.hash.trim() },
        { action: 'key.delete', outcome: 'success', target_user_id: '7001', hash: payload.auditEvent.hash },
      );
      const success = await stack.query(
        `SELECT id FROM audit_events WHERE action = 'key.delete' AND target_user_id = 7001 AND outcome = 'success'`,
      );
      assert.equal(success.length, 1, 'one success event for the operation, the one the receipt names');
      assert.equal(cli(receipt, await keysPublished()).status, 0, 'npm run verify-receipt accepts it');
    });

    it('answers a repeated DELETE of the same shredding with the same receipt', async () => {
      await userWithVersions('7002', 0);
      const first = await stack.as(token).delete('/api/v1/keys/7002');
      const again = await stack.as(token).delete('/api/v1/keys/7002');
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, first.body);
    });

    it('keeps the proof of erasure when the audit trail cannot store the success event: the DELETE answers 503, a repeated DELETE answers one verifiable receipt', async () => {
      await userWithVersions('7009', 1);
      const sealed = await stack.query<{ key_version: number; sealed: Buffer }>(
        `SELECT key_version, sealed_private_key AS sealed FROM user_keys WHERE user_id = 7009
         UNION ALL SELECT key_version, sealed_private_key FROM user_key_history WHERE user_id = 7009 ORDER BY key_version`,
      );
      // The trail refuses exactly the shredding's success event, after the keys are destroyed.
      await stack.query(`CREATE OR REPLACE FUNCTION refuse_shred_success() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN RAISE EXCEPTION 'audit outage'; END $$`);
      await stack.query(`CREATE TRIGGER refuse_shred_success BEFORE INSERT ON audit_events FOR EACH ROW
                         WHEN (NEW.action = 'key.delete' AND NEW.outcome = 'success') EXECUTE FUNCTION refuse_shred_success()`);
      let failed;
      try {
        failed = await stack.as(token).delete('/api/v1/keys/7009');
      } finally {
        await stack.query(`DROP TRIGGER refuse_shred_success ON audit_events`);
      }
      assert.equal(failed.status, 503, JSON.stringify(failed.body));
      assert.equal(failed.body.code, 'SYS002');
      assert.equal((await stack.as(token).get('/api/v1/keys/7009')).body.code, 'KEY001', 'the keys were destroyed all the same');

      const repeated = await stack.as(token).delete('/api/v1/keys/7009');
      assert.equal(repeated.status, 200, JSON.stringify(repeated.body));
      assert.equal(repeated.body.versionsDestroyed, 2);
      const { receipt } = repeated.body;
      assert.ok(verifiesWithNodeCrypto(receipt, await keysPublished()));
      assert.equal(cli(receipt, await keysPublished()).status, 0, 'npm run verify-receipt accepts it');
      const { payload } = parts(receipt);
      assert.equal(payload.userId, '7009');
      assert.deepEqual(
        payload.versions,
        sealed.map((row) => ({
          keyVersion: row.key_version,
          sealedPrivateKeySha256: createHash('sha256').update(row.sealed).digest('hex'),
        })),
      );
      assert.equal(payload.auditEvent, null, 'no key.delete success event was stored for it to name');
      assert.deepEqual((await stack.as(token).delete('/api/v1/keys/7009')).body, repeated.body, 'every repeat answers the same');
    });

    it('starts afresh when a new key is created after a shredding: another DELETE gives a new receipt', async () => {
      await userWithVersions('7003', 0);
      const first = await stack.as(token).delete('/api/v1/keys/7003');
      assert.equal((await stack.as(token).post('/api/v1/keys').send({ userId: '7003' })).status, 201);
      const second = await stack.as(token).delete('/api/v1/keys/7003');
      assert.equal(second.status, 200);
      assert.notEqual(second.body.receipt, first.body.receipt);
      assert.deepEqual(
        parts(second.body.receipt).payload.versions.map((v: { keyVersion: number }) => v.keyVersion),
        [2],
      );
    });

    it('rejects a tampered receipt', async () => {
      await userWithVersions('7004', 0);
      const { receipt } = (await stack.as(token).delete('/api/v1/keys/7004')).body;
      const [header, payload, signature] = receipt.split('.');
      const tampered = `${header}.${b64({ ...parts(receipt).payload, userId: '7005' })}.${signature}`;
      const jwks = await keysPublished();
      assert.equal(verifiesWithNodeCrypto(tampered, jwks), false);
      const run = cli(tampered, jwks);
      assert.equal(run.status, 1);
      assert.equal(JSON.parse(run.stdout).valid, false);
      assert.equal(cli(`${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`, jwks).status, 1);
    });

    it('rejects a receipt signed by a key the service does not publish, even under a published kid', async () => {
      const { privateKey } = generateKeyPairSync('ed25519');
      const jwks = await keysPublished();
      const header = b64({ alg: 'EdDSA', typ: 'crypto-shred-receipt+jws', kid: jwks.keys[0].kid });
      const payload = b64({ typ: 'crypto-shred', userId: '7006', destroyedAt: new Date().toISOString(), versions: [], auditEvent: null });
      const forged = `${header}.${payload}.${sign(null, Buffer.from(`${header}.${payload}`), privateKey).toString('base64url')}`;
      assert.equal(verifiesWithNodeCrypto(forged, jwks), false);
      assert.equal(cli(forged, jwks).status, 1);
      const unknownKid = `${b64({ alg: 'EdDSA', kid: 'not-a-published-key' })}.${payload}.${forged.split('.')[2]}`;
      assert.equal(cli(unknownKid, jwks).status, 1);
    });

    it('keeps verifying receipts signed before the signing key was rotated, and signs new ones with the new key', async () => {
      await userWithVersions('7007', 0);
      await userWithVersions('7008', 0);
      const before = (await stack.as(token).delete('/api/v1/keys/7007')).body.receipt;

      let newKid: string;
      if (definition === awsStack) {
        // The operator command, against the same database and KMS key as the service.
        const run = spawnSync(process.execPath, [ROTATE_CLI, 'rotate'], {
          encoding: 'utf8',
          env: { ...process.env, ...stack.env, LOG_FILE: '' },
        });
        assert.equal(run.status, 0, run.stderr);
        newKid = run.stdout.trim();
      } else {
        // The embedded database is reachable only by the running service: the same operation in-process.
        newKid = await stack.app.get(ReceiptSigner).rotate();
      }
      const after = (await stack.as(token).delete('/api/v1/keys/7008')).body.receipt;
      const jwks = await keysPublished();
      assert.equal(jwks.keys.length, 2);
      assert.equal(jwks.keys[0].kid, newKid, 'the current key is listed first');
      assert.equal(parts(after).header.kid, newKid);
      assert.notEqual(parts(before).header.kid, newKid);
      assert.ok(verifiesWithNodeCrypto(before, jwks));
      assert.ok(verifiesWithNodeCrypto(after, jwks));
      assert.equal(cli(before, jwks).status, 0);
      assert.deepEqual(
        (await stack.as(token).delete('/api/v1/keys/7007')).body.receipt,
        before,
        'a repeat still answers the original receipt',
      );
    });

    it('never stores the receipt-signing private key unsealed', async () => {
      const rows = await stack.query<{ sealed: Buffer; key_provider: string }>(
        `SELECT sealed_private_key AS sealed, key_provider FROM receipt_signing_keys`,
      );
      assert.ok(rows.length >= 1);
      for (const row of rows) {
        assert.equal(row.key_provider, definition === awsStack ? 'kms' : 'local');
        assert.throws(() => createPrivateKey({ key: row.sealed, format: 'der', type: 'pkcs8' }));
      }
    });
  });
}
