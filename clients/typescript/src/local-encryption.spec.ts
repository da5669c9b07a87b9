import assert from 'node:assert/strict';
import { constants, createDecipheriv, generateKeyPairSync, privateDecrypt, type KeyObject } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { parseEk2Ciphertext } from '../../../src/envelope/ciphertext-format-ek2';
import { AuthenticationFailedError } from '../../../src/envelope/open-batch';
import { decryptBatchEk2 } from '../../../src/envelope/envelope-ek2';
import { generateXWingSeed, XWingPrivateKey } from '../../../src/envelope/xwing';
import { ciphertextKeyVersion, encryptLocally, type KeyAlgorithm } from './local-encryption';

/** Decryption exactly as docs/ciphertext-format.md specifies it, written apart from the encryption. */
function decryptPerSpecification(privateKey: KeyObject, userId: string, ciphertext: string): string {
  const [prefix, version, wrappedKey, iv, body, tag] = ciphertext.split(':');
  assert.equal(prefix, 'ek1');
  const dataKey = privateDecrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    Buffer.from(wrappedKey, 'base64url'),
  );
  const decipher = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(`ek1|${userId}|${version}`, 'ascii'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}

describe('local encryption (ciphertext format ek1)', () => {
  let publicKey: string;
  let privateKey: KeyObject;
  before(() => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    publicKey = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    privateKey = pair.privateKey;
  });

  it('produces ciphertexts that decrypt as the format document specifies, in order, with the user and version bound in', () => {
    const items = ['Jane Doe', '', 'SIN 046 454 286', 'Zoë 🙂 Łódź'];
    const ciphertexts = encryptLocally(publicKey, '42', 3, items);
    assert.equal(ciphertexts.length, items.length);
    for (const [index, ciphertext] of ciphertexts.entries()) {
      const fields = ciphertext.split(':');
      assert.equal(fields.length, 6);
      assert.equal(fields[1], '3');
      for (const field of fields.slice(2)) assert.match(field, /^[A-Za-z0-9_-]*$/);
      assert.equal(Buffer.from(fields[2], 'base64url').length, 256);
      assert.equal(Buffer.from(fields[3], 'base64url').length, 12);
      assert.equal(Buffer.from(fields[5], 'base64url').length, 16);
      assert.equal(decryptPerSpecification(privateKey, '42', ciphertext), items[index]);
      assert.equal(ciphertextKeyVersion(ciphertext), 3);
    }
    // One data key per batch, a fresh IV per item.
    assert.equal(new Set(ciphertexts.map((c) => c.split(':')[2])).size, 1);
    assert.equal(new Set(ciphertexts.map((c) => c.split(':')[3])).size, items.length);
    // Moved to another user, it no longer authenticates.
    assert.throws(() => decryptPerSpecification(privateKey, '43', ciphertexts[0]), /authenticate/);
  });

  it('never contains the plaintext, and encrypts the same text differently each time', () => {
    const [a, b] = encryptLocally(publicKey, '42', 1, ['Jane Doe', 'Jane Doe']);
    assert.notEqual(a, b);
    for (const encoding of ['utf8', 'base64', 'base64url'] as const) assert.ok(!a.includes(Buffer.from('Jane Doe').toString(encoding)));
  });

  it('refuses what the service would refuse, before encrypting anything', () => {
    assert.throws(() => encryptLocally(publicKey, '042', 1, ['x']), TypeError);
    assert.throws(() => encryptLocally(publicKey, '9223372036854775808', 1, ['x']), TypeError);
    assert.throws(() => encryptLocally(publicKey, '42', 0, ['x']), TypeError);
    assert.throws(() => encryptLocally(publicKey, '42', 2_147_483_648, ['x']), TypeError);
    assert.throws(() => encryptLocally(publicKey, '42', 1, ['ok', 'half a pair \ud800']), /strings\[1\].*surrogate/);
    assert.throws(() => encryptLocally(publicKey, '42', 1, [42 as unknown as string]), /strings\[0\]/);
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    assert.throws(() => encryptLocally(ecKey, '42', 1, ['x']), /RSA public key/);
    assert.deepEqual(encryptLocally(publicKey, '42', 1, []), []);
  });

  it('encrypts an RSA-OAEP-256 key version given as published ({ algorithm, publicKey, keyVersion }) in ek1, as before', () => {
    const [ciphertext] = encryptLocally({ algorithm: 'RSA-OAEP-256', publicKey, keyVersion: 2 }, '42', ['Jane Doe']);
    assert.match(ciphertext, /^ek1:2:/);
    assert.equal(decryptPerSpecification(privateKey, '42', ciphertext), 'Jane Doe');
  });

  it('reads the key version of a ciphertext, and nothing from other strings', () => {
    assert.equal(ciphertextKeyVersion('ek1:17:a:b:c:d'), 17);
    assert.equal(ciphertextKeyVersion('ek2:18:a:b:c:d'), 18);
    assert.equal(ciphertextKeyVersion('ek3:18:a:b:c:d'), undefined);
    assert.equal(ciphertextKeyVersion('ek1:0:a:b:c:d'), undefined);
    assert.equal(ciphertextKeyVersion('ek1:2147483648:a'), undefined);
    assert.equal(ciphertextKeyVersion('Jane Doe'), undefined);
  });
});

describe('local encryption (ciphertext format ek2, X-Wing)', () => {
  const xwing = XWingPrivateKey.fromSeed(generateXWingSeed());
  const published = { algorithm: 'X-Wing' as const, publicKey: xwing.publicKey.toString('base64'), keyVersion: 4 };
  const decryptWithCore = (userId: string, ciphertexts: string[]) =>
    decryptBatchEk2(
      userId,
      ciphertexts.map((item) => parseEk2Ciphertext(item)),
      (version) => (version === 4 ? xwing : undefined),
    );

  it('produces ek2 ciphertexts that the service’s core decrypts, in order, with the user and version bound in', () => {
    const items = ['Jane Doe', '', 'SIN 046 454 286', 'Zoë 🙂 Łódź'];
    const ciphertexts = encryptLocally(published, '42', items);
    assert.equal(ciphertexts.length, items.length);
    for (const ciphertext of ciphertexts) {
      const fields = ciphertext.split(':');
      assert.deepEqual(fields.slice(0, 2), ['ek2', '4']);
      assert.equal(Buffer.from(fields[2], 'base64url').length, 1120);
      assert.equal(ciphertextKeyVersion(ciphertext), 4);
    }
    assert.deepEqual(decryptWithCore('42', ciphertexts), items);
    // One encapsulation per batch, a fresh IV per item.
    assert.equal(new Set(ciphertexts.map((c) => c.split(':')[2])).size, 1);
    assert.equal(new Set(ciphertexts.map((c) => c.split(':')[3])).size, items.length);
    assert.throws(() => decryptWithCore('43', ciphertexts.slice(0, 1)), AuthenticationFailedError);
  });

  it('never contains the plaintext, and encrypts the same text differently each time', () => {
    const [a, b] = encryptLocally(published, '42', ['Jane Doe', 'Jane Doe']);
    const [c] = encryptLocally(published, '42', ['Jane Doe']);
    assert.notEqual(a, b);
    assert.notEqual(a.split(':')[2], c.split(':')[2]);
    for (const encoding of ['utf8', 'base64', 'base64url'] as const) assert.ok(!a.includes(Buffer.from('Jane Doe').toString(encoding)));
  });

  it('refuses an X-Wing key that is not the base64 of a valid 1216-byte public key, and an unknown algorithm', () => {
    const bytes = xwing.publicKey;
    const invalidMlKem = Buffer.from(bytes);
    invalidMlKem[0] = 0xff;
    invalidMlKem[1] |= 0x0f;
    const lowOrderX25519 = Buffer.concat([bytes.subarray(0, 1184), Buffer.alloc(32)]);
    for (const publicKey of [
      bytes.subarray(1).toString('base64'),
      bytes.toString('base64url'),
      invalidMlKem.toString('base64'),
      lowOrderX25519.toString('base64'),
    ]) {
      assert.throws(() => encryptLocally({ ...published, publicKey }, '42', ['x']), TypeError);
    }
    assert.throws(() => encryptLocally({ ...published, algorithm: 'x-wing' as KeyAlgorithm }, '42', ['x']), /algorithm must be one of/);
    assert.throws(() => encryptLocally({ ...published, keyVersion: 0 }, '42', ['x']), /keyVersion/);
    assert.throws(() => encryptLocally(published, '042', ['x']), /userId/);
    assert.deepEqual(encryptLocally(published, '42', []), []);
  });
});
