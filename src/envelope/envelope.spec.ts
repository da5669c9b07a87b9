import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { formatCiphertext, parseCiphertext } from './ciphertext-format';
import { decryptBatch, encryptBatch } from './envelope';
import { AuthenticationFailedError } from './open-batch';

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const recipient = { userId: '42', keyVersion: 1, publicKey };
const keys = (version: number) => (version === 1 ? privateKey : undefined);

const decrypt = (userId: string, items: string[], keyFor = keys) =>
  decryptBatch(
    userId,
    items.map((item) => parseCiphertext(item)),
    keyFor,
  );

describe('envelope', () => {
  it('decrypts what it encrypted, in order, including unicode and empty strings', () => {
    const items = ['Jane Doe', '046 454 286', '', 'Zoë Ðaniel 山田 🙂'];
    assert.deepEqual(decrypt('42', encryptBatch(items, recipient)), items);
  });

  it('uses one data key per batch and a fresh IV per item', () => {
    const [a, b] = encryptBatch(['same', 'same'], recipient).map((item) => parseCiphertext(item));
    assert.deepEqual(a.wrappedKey, b.wrappedKey);
    assert.notDeepEqual(a.iv, b.iv);
    assert.notDeepEqual(a.ciphertext, b.ciphertext);
  });

  it('never produces the same ciphertext twice for the same input', () => {
    const [first] = encryptBatch(['same'], recipient);
    const [second] = encryptBatch(['same'], recipient);
    assert.notEqual(first, second);
  });

  it('refuses a ciphertext decrypted as another user (AAD binds the user id)', () => {
    const items = encryptBatch(['secret'], recipient);
    assert.throws(() => decrypt('43', items), AuthenticationFailedError);
  });

  it('refuses a ciphertext whose key version was edited', () => {
    const [item] = encryptBatch(['secret'], recipient);
    const edited = formatCiphertext({ ...parseCiphertext(item), keyVersion: 2 });
    assert.throws(() => decrypt('42', [edited], () => privateKey), AuthenticationFailedError);
  });

  it('refuses a flipped bit anywhere in ciphertext, IV, tag or wrapped key, naming the item', () => {
    const items = encryptBatch(['a', 'b', 'secret'], recipient);
    for (const field of ['ciphertext', 'iv', 'tag', 'wrappedKey'] as const) {
      const parts = parseCiphertext(items[2]);
      const tampered = Buffer.from(parts[field]);
      tampered[0] ^= 0x01;
      const edited = formatCiphertext({ ...parts, [field]: tampered });
      assert.throws(
        () => decrypt('42', [items[0], items[1], edited]),
        (error: unknown) => error instanceof AuthenticationFailedError && error.index === 2,
        field,
      );
    }
  });

  it('refuses a version the user does not have', () => {
    const items = encryptBatch(['x'], recipient);
    assert.throws(() => decrypt('42', items, () => undefined), AuthenticationFailedError);
  });

  it('refuses a data key wrapped for someone else’s key pair', () => {
    const items = encryptBatch(['x'], { ...recipient, publicKey: other.publicKey });
    assert.throws(() => decrypt('42', items), AuthenticationFailedError);
  });

  it('decrypts items of several versions in one batch', () => {
    const v1 = encryptBatch(['one'], recipient);
    const v2 = encryptBatch(['two'], { userId: '42', keyVersion: 2, publicKey: other.publicKey });
    const keyFor = (v: number) =>
      v === 1 ? privateKey : v === 2 ? createPrivateKey(other.privateKey.export({ type: 'pkcs8', format: 'pem' })) : undefined;
    assert.deepEqual(decrypt('42', [...v2, ...v1], keyFor), ['two', 'one']);
  });

  it('encrypts an empty batch to an empty batch', () => {
    assert.deepEqual(encryptBatch([], recipient), []);
  });
});
