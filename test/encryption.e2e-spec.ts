import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { clientDecrypt, clientEncryptEk2 } from './support/client-crypto';
import { Stack, STACKS } from './support/stacks';

const vector = JSON.parse(readFileSync(join(process.cwd(), 'docs', 'ciphertext-test-vector.json'), 'utf8'));

describe('ciphertext format document', () => {
  it('its test vector decrypts with the published key, following the document alone', () => {
    assert.equal(clientDecrypt(vector.privateKey, vector.userId, vector.ciphertext), vector.plaintext);
  });

  it('its test vector does not decrypt as another user', () => {
    assert.throws(() => clientDecrypt(vector.privateKey, '43', vector.ciphertext));
  });

  it('the markdown shows the same vector as the JSON file the tests use', () => {
    const markdown = readFileSync(join(process.cwd(), 'docs', 'ciphertext-format.md'), 'utf8');
    assert.ok(markdown.includes(vector.ciphertext));
    assert.ok(markdown.includes(vector.privateKey.trim()));
  });
});

for (const definition of STACKS) {
  describe(`encrypt and decrypt — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    const encrypt = (userId: string, data: unknown) => stack.as(token).post('/api/v1/encrypt').send({ userId, data });
    const decrypt = (userId: string, data: unknown) => stack.as(token).post('/api/v1/decrypt').send({ userId, data });

    before(async () => {
      stack = await definition.start();
      token = await stack.token();
      for (const userId of ['42', '77']) {
        await stack.as(token).post('/api/v1/keys').send({ userId });
      }
    });
    after(() => stack?.close());

    it('returns the plaintexts, in order, for what it encrypted', async () => {
      const data = ['Jane Doe', '046 454 286', '', 'Zoë Ðaniel 山田 🙂', 'Jane Doe'];
      const encrypted = await encrypt('42', data);
      assert.equal(encrypted.status, 200);
      assert.equal(encrypted.body.encryptedData.length, data.length);
      // KEY_ALGORITHM's default: X-Wing key versions, ek2 ciphertexts (test/hybrid-keys.e2e-spec.ts has both algorithms).
      for (const item of encrypted.body.encryptedData) assert.match(item, /^ek2:1:/);
      assert.notEqual(encrypted.body.encryptedData[0], encrypted.body.encryptedData[4]);
      assert.doesNotMatch(encrypted.text, /Jane|046 454/);
      const decrypted = await decrypt('42', encrypted.body.encryptedData);
      assert.equal(decrypted.status, 200);
      assert.deepEqual(decrypted.body, { decryptedData: data });
    });

    it('handles a 1,000-item batch', async () => {
      const data = Array.from({ length: 1000 }, (_, i) => `account-${i}`);
      const encrypted = await encrypt('42', data);
      assert.equal(encrypted.status, 200);
      const decrypted = await decrypt('42', encrypted.body.encryptedData);
      assert.deepEqual(decrypted.body.decryptedData, data);
    });

    it('handles a 64 KiB string, and refuses one byte more with ENC001 naming the index', async () => {
      const largest = 'é'.repeat(32 * 1024);
      const encrypted = await encrypt('42', ['small', largest]);
      assert.equal(encrypted.status, 200);
      const decrypted = await decrypt('42', encrypted.body.encryptedData);
      assert.equal(decrypted.body.decryptedData[1], largest);
      const tooLarge = await encrypt('42', ['small', `${largest}x`]);
      assert.equal(tooLarge.status, 400);
      assert.equal(tooLarge.body.code, 'ENC001');
      assert.match(tooLarge.body.message, /data\[1\] exceeds 65536 bytes/);
    });

    it('refuses more than 1,000 items with ENC001', async () => {
      const response = await encrypt(
        '42',
        Array.from({ length: 1001 }, () => 'x'),
      );
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC001');
      assert.match(response.body.message, /1001 items; at most 1000/);
    });

    it('refuses a body over 1 MiB with 413', async () => {
      const response = await encrypt(
        '42',
        Array.from({ length: 20 }, () => 'x'.repeat(60_000)),
      );
      assert.equal(response.status, 413);
      assert.equal(response.body.code, 'ENC001');
    });

    it('refuses items that are not strings, naming the index', async () => {
      const response = await encrypt('42', ['ok', 7, 'ok']);
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC001');
      assert.match(response.body.message, /data\[1\] must be a string/);
      assert.equal((await encrypt('42', 'not-an-array')).body.code, 'ENC001');
    });

    it('refuses a tampered ciphertext with ENC002 naming its index, and returns nothing', async () => {
      const { body } = await encrypt('42', ['first', 'second', 'third']);
      const fields = body.encryptedData[2].split(':');
      const bytes = Buffer.from(fields[4], 'base64url');
      bytes[0] ^= 1;
      fields[4] = bytes.toString('base64url');
      const response = await decrypt('42', [body.encryptedData[0], body.encryptedData[1], fields.join(':')]);
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC002');
      assert.match(response.body.message, /data\[2\]/);
      assert.doesNotMatch(response.text, /first|second/);
    });

    it('refuses a ciphertext moved to another user with ENC002', async () => {
      const { body } = await encrypt('42', ['belongs to 42']);
      const response = await decrypt('77', body.encryptedData);
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC002');
      assert.match(response.body.message, /data\[0\]/);
    });

    it('refuses a ciphertext naming a version the user does not have with ENC002', async () => {
      const { body } = await encrypt('42', ['v1']);
      const edited = body.encryptedData[0].replace(/^(ek[12]):1:/, '$1:9:');
      assert.notEqual(edited, body.encryptedData[0]);
      const response = await decrypt('42', [edited]);
      assert.equal(response.body.code, 'ENC002');
    });

    it('refuses malformed ciphertexts with ENC001 naming the index', async () => {
      const { body } = await encrypt('42', ['ok']);
      for (const bad of ['plain text', 'ek1:1:abc', 'ek1:x:a:b:c:d', 'ek2:1:abc', 'ek3:1:a:b:c:d', `${body.encryptedData[0]}=`]) {
        const response = await decrypt('42', [body.encryptedData[0], bad]);
        assert.equal(response.status, 400, bad);
        assert.equal(response.body.code, 'ENC001');
        assert.match(response.body.message, /data\[1\]/);
      }
    });

    it('decrypts what a client encrypted locally with the published public key (X-Wing by @noble/post-quantum)', async () => {
      const key = await stack.as(token).get('/api/v1/keys/77');
      assert.equal(key.body.algorithm, 'X-Wing');
      const [local] = clientEncryptEk2(key.body.publicKey, '77', key.body.keyVersion, ['encrypted without calling /encrypt']);
      const response = await decrypt('77', [local]);
      assert.equal(response.status, 200);
      assert.deepEqual(response.body.decryptedData, ['encrypted without calling /encrypt']);
    });

    it('answers KEY001 for a user without a key, on encrypt and on decrypt', async () => {
      const { body } = await encrypt('42', ['x']);
      assert.equal((await encrypt('5555', ['x'])).body.code, 'KEY001');
      assert.equal((await decrypt('5555', body.encryptedData)).body.code, 'KEY001');
    });
  });
}
