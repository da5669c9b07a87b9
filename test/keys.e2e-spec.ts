import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Stack, STACKS } from './support/stacks';

for (const definition of STACKS) {
  describe(`keys — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    before(async () => {
      stack = await definition.start();
      token = await stack.token();
    });
    after(() => stack?.close());

    it('creates a key pair once: 201 created, then 200 created:false', async () => {
      const first = await stack.as(token).post('/api/v1/keys').send({ userId: '1001' });
      assert.equal(first.status, 201);
      assert.deepEqual(first.body, { success: true, created: true, keyVersion: 1 });
      const again = await stack.as(token).post('/api/v1/keys').send({ userId: '1001' });
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, { success: true, created: false, keyVersion: 1 });
    });

    it('yields exactly one key when many create calls for one user race', async () => {
      const responses = await Promise.all(Array.from({ length: 8 }, () => stack.as(token).post('/api/v1/keys').send({ userId: '1002' })));
      assert.deepEqual(responses.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 200, 200, 201]);
      assert.equal(responses.filter((r) => r.body.created).length, 1);
      const rows = await stack.query(`SELECT key_version FROM user_keys WHERE user_id = 1002`);
      assert.deepEqual(
        rows.map((r) => r.key_version),
        [1],
      );
    });

    it('shows metadata and the public key PEM, never private material', async () => {
      await stack.as(token).post('/api/v1/keys').send({ userId: '1003' });
      const response = await stack.as(token).get('/api/v1/keys/1003');
      assert.equal(response.status, 200);
      assert.equal(response.body.userId, '1003');
      assert.equal(response.body.keyVersion, 1);
      assert.equal(response.body.algorithm, 'RSA-OAEP-256');
      assert.equal(response.body.modulusBits, 2048);
      assert.equal(createPublicKey(response.body.publicKey).asymmetricKeyType, 'rsa');
      assert.deepEqual(
        response.body.versions.map((v: { keyVersion: number; status: string }) => [v.keyVersion, v.status]),
        [[1, 'current']],
      );
      assert.doesNotMatch(response.text, /PRIVATE|sealed/i);
    });

    it('stores the private key only sealed', async () => {
      const [row] = await stack.query(`SELECT key, sealed_private_key, key_provider FROM user_keys WHERE user_id = 1003`);
      assert.match(row.key, /^-----BEGIN PUBLIC KEY-----/);
      const sealed: Buffer = row.sealed_private_key;
      // An unsealed PKCS#8 RSA key starts with a DER SEQUENCE (0x30 0x82) and holds the OID rsaEncryption.
      assert.ok(!(sealed[0] === 0x30 && sealed[1] === 0x82), 'sealed key looks like plain DER');
      assert.ok(!sealed.includes(Buffer.from('2a864886f70d010101', 'hex')), 'sealed key contains the rsaEncryption OID');
      assert.equal(row.key_provider, stack.env.KEY_PROVIDER ?? 'local');
    });

    it('answers 404 KEY001 for a user without a key', async () => {
      const response = await stack.as(token).get('/api/v1/keys/999999');
      assert.equal(response.status, 404);
      assert.equal(response.body.code, 'KEY001');
      assert.equal(response.body.statusCode, 404);
      assert.ok(response.body.requestId);
    });

    it('rejects ids that are not positive 64-bit decimal strings with ENC001, writing nothing', async () => {
      for (const userId of ['0', '-1', '042', '9223372036854775808', 'abc', 42, null, '1'.repeat(20)]) {
        const response = await stack.as(token).post('/api/v1/keys').send({ userId });
        assert.equal(response.status, 400, `userId ${JSON.stringify(userId)}`);
        assert.equal(response.body.code, 'ENC001');
        assert.match(response.body.message, /userId/);
      }
      const path = await stack.as(token).get('/api/v1/keys/01');
      assert.equal(path.body.code, 'ENC001');
      const [{ count }] = await stack.query(`SELECT count(*)::int AS count FROM user_keys WHERE user_id IN (0, 42)`);
      assert.equal(count, 0);
    });

    it('accepts the largest 64-bit user id', async () => {
      const response = await stack.as(token).post('/api/v1/keys').send({ userId: '9223372036854775807' });
      assert.equal(response.status, 201);
    });

    it('rejects unknown fields with ENC001 naming them', async () => {
      const response = await stack.as(token).post('/api/v1/keys').send({ userId: '1004', admin: true });
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC001');
      assert.match(response.body.message, /admin should not exist/);
    });
  });
}
