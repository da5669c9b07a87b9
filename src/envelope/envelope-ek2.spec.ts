import assert from 'node:assert/strict';
import { createCipheriv, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MalformedCiphertextError } from './ciphertext-format';
import { Ek2CiphertextParts, formatEk2Ciphertext, parseEk2Ciphertext } from './ciphertext-format-ek2';
import { encryptBatch } from './envelope';
import { AuthenticationFailedError } from './open-batch';
import { decryptBatchEk2, ek2DataKey, encryptBatchEk2 } from './envelope-ek2';
import { xwingPublicKeyObject } from './public-key-objects';
import { generateXWingSeed, XWingPrivateKey, XWingPublicKey } from './xwing';

const privateKey = XWingPrivateKey.fromSeed(generateXWingSeed());
const other = XWingPrivateKey.fromSeed(generateXWingSeed());
const recipient = { userId: '42', keyVersion: 1, publicKey: XWingPublicKey.fromBytes(privateKey.publicKey) };
const keys = (version: number) => (version === 1 ? privateKey : undefined);

const decrypt = (userId: string, items: string[], keyFor = keys) =>
  decryptBatchEk2(
    userId,
    items.map((item) => parseEk2Ciphertext(item)),
    keyFor,
  );
const failsAt = (index: number) => (error: unknown) => error instanceof AuthenticationFailedError && error.index === index;

describe('envelope ek2 (X-Wing)', () => {
  it('decrypts what it encrypted, in order, including unicode and empty strings', () => {
    const items = ['Jane Doe', '046 454 286', '', 'Zoë Ðaniel 山田 🙂'];
    assert.deepEqual(decrypt('42', encryptBatchEk2(items, recipient)), items);
  });

  it('uses one encapsulation per batch and a fresh IV per item', () => {
    const [a, b] = encryptBatchEk2(['same', 'same'], recipient).map((item) => parseEk2Ciphertext(item));
    assert.equal(a.encapsulation.length, 1120);
    assert.deepEqual(a.encapsulation, b.encapsulation);
    assert.notDeepEqual(a.iv, b.iv);
    assert.notDeepEqual(a.ciphertext, b.ciphertext);
  });

  it('never produces the same ciphertext twice for the same input', () => {
    const [first] = encryptBatchEk2(['same'], recipient);
    const [second] = encryptBatchEk2(['same'], recipient);
    assert.notEqual(first, second);
    assert.notDeepEqual(parseEk2Ciphertext(first).encapsulation, parseEk2Ciphertext(second).encapsulation);
  });

  it('refuses a ciphertext decrypted as another user (AAD binds the user id)', () => {
    assert.throws(() => decrypt('43', encryptBatchEk2(['secret'], recipient)), failsAt(0));
  });

  it('refuses a ciphertext whose key version was edited, even when that version has the same key', () => {
    const [item] = encryptBatchEk2(['secret'], recipient);
    const edited = formatEk2Ciphertext({ ...parseEk2Ciphertext(item), keyVersion: 2 });
    assert.throws(() => decrypt('42', [edited], () => privateKey), failsAt(0));
  });

  it('binds format and algorithm: the right key under any other additional data fails, the ek2 one decrypts', () => {
    const { ciphertext: encapsulation, sharedSecret } = recipient.publicKey.encapsulate();
    const dataKey = ek2DataKey(sharedSecret);
    const sealed = (aad: string) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
      cipher.setAAD(Buffer.from(aad, 'ascii'));
      const ciphertext = Buffer.concat([cipher.update('secret', 'utf8'), cipher.final()]);
      return formatEk2Ciphertext({ keyVersion: 1, encapsulation, iv, ciphertext, tag: cipher.getAuthTag() });
    };
    assert.deepEqual(decrypt('42', [sealed('ek2|42|1|X-Wing')]), ['secret']);
    for (const aad of ['ek1|42|1', 'ek2|42|1', 'ek2|42|1|RSA-OAEP-256', 'ek2|42|1|x-wing', 'ek1|42|1|X-Wing']) {
      assert.throws(() => decrypt('42', [sealed(aad)]), failsAt(0), aad);
    }
  });

  it('refuses a flipped bit anywhere in ciphertext, IV, tag or either half of the encapsulation, naming the item', () => {
    const items = encryptBatchEk2(['a', 'b', 'secret'], recipient);
    const flips: Array<[keyof Ek2CiphertextParts, number]> = [
      ['ciphertext', 0],
      ['iv', 0],
      ['tag', 15],
      ['encapsulation', 0],
      ['encapsulation', 1087],
      ['encapsulation', 1088],
      ['encapsulation', 1119],
    ];
    for (const [field, position] of flips) {
      const parts = parseEk2Ciphertext(items[2]);
      const tampered = Buffer.from(parts[field] as Buffer);
      tampered[position] ^= 0x01;
      const edited = formatEk2Ciphertext({ ...parts, [field]: tampered });
      assert.throws(() => decrypt('42', [items[0], items[1], edited]), failsAt(2), `${field}[${position}]`);
    }
  });

  it('refuses an encapsulation whose X25519 half is a low-order point, as a failed authentication', () => {
    const [item] = encryptBatchEk2(['secret'], recipient);
    const parts = parseEk2Ciphertext(item);
    const encapsulation = Buffer.concat([parts.encapsulation.subarray(0, 1088), Buffer.alloc(32)]);
    assert.throws(() => decrypt('42', [formatEk2Ciphertext({ ...parts, encapsulation })]), failsAt(0));
  });

  it('refuses a truncated or over-long encapsulation: ENC001 from the parser, like ek1’s wrapped key, and ENC002 past it', () => {
    const [item] = encryptBatchEk2(['secret'], recipient);
    const parts = parseEk2Ciphertext(item);
    for (const encapsulation of [parts.encapsulation.subarray(0, 1119), Buffer.concat([parts.encapsulation, Buffer.alloc(1)])]) {
      assert.throws(() => parseEk2Ciphertext(formatEk2Ciphertext({ ...parts, encapsulation })), MalformedCiphertextError);
      assert.throws(() => decryptBatchEk2('42', [{ ...parts, encapsulation }], keys), failsAt(0));
    }
  });

  it('refuses a version the user does not have', () => {
    assert.throws(() => decrypt('42', encryptBatchEk2(['x'], recipient), () => undefined), failsAt(0));
  });

  it('refuses a batch encapsulated to someone else’s key pair', () => {
    const items = encryptBatchEk2(['x'], { ...recipient, publicKey: XWingPublicKey.fromBytes(other.publicKey) });
    assert.throws(() => decrypt('42', items), failsAt(0));
  });

  it('decrypts items of several versions in one batch, decapsulating each encapsulation once', () => {
    const v1 = encryptBatchEk2(['one', 'uno'], recipient);
    const v2 = encryptBatchEk2(['two'], { userId: '42', keyVersion: 2, publicKey: XWingPublicKey.fromBytes(other.publicKey) });
    const asked: number[] = [];
    const keyFor = (v: number) => {
      asked.push(v);
      return v === 1 ? privateKey : v === 2 ? other : undefined;
    };
    assert.deepEqual(decrypt('42', [...v2, ...v1], keyFor), ['two', 'one', 'uno']);
    assert.deepEqual(asked, [2, 1]);
  });

  it('encrypts an empty batch to an empty batch', () => {
    assert.deepEqual(encryptBatchEk2([], recipient), []);
  });

  it('parses a published public key (standard base64 of 1216 bytes) once, and refuses another spelling', () => {
    const published = privateKey.publicKey.toString('base64');
    assert.equal(xwingPublicKeyObject(published), xwingPublicKeyObject(published));
    assert.deepEqual(xwingPublicKeyObject(published).bytes, privateKey.publicKey);
    assert.throws(() => xwingPublicKeyObject(privateKey.publicKey.toString('base64url')), /standard base64/);
  });

  describe('docs/ciphertext-format.md', () => {
    const docs = join(process.cwd(), 'docs');

    it('has an ek2 test vector that decrypts with the private key of its seed, whose public key it publishes', () => {
      const vector = JSON.parse(readFileSync(join(docs, 'ciphertext-test-vector-ek2.json'), 'utf8'));
      const key = XWingPrivateKey.fromSeed(Buffer.from(vector.privateKeySeed, 'hex'));
      assert.equal(vector.algorithm, 'X-Wing');
      assert.equal(key.publicKey.toString('base64'), vector.publicKey);
      const decrypted = decryptBatchEk2(vector.userId, [parseEk2Ciphertext(vector.ciphertext)], (v) =>
        v === vector.keyVersion ? key : undefined,
      );
      assert.deepEqual(decrypted, [vector.plaintext]);
      const markdown = readFileSync(join(docs, 'ciphertext-format.md'), 'utf8');
      assert.ok(markdown.includes(vector.ciphertext), 'the page shows the vector’s ciphertext');
      assert.ok(markdown.includes(vector.privateKeySeed), 'the page shows the vector’s seed');
    });

    it('states the real length of one item’s ciphertext under ek1 (RSA-2048) and ek2 in its size table', () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
      const markdown = readFileSync(join(docs, 'ciphertext-format.md'), 'utf8');
      for (const bytes of [10, 100, 1000]) {
        const plaintext = 'x'.repeat(bytes);
        const [ek1] = encryptBatch([plaintext], { userId: '42', keyVersion: 1, publicKey: rsa });
        const [ek2] = encryptBatchEk2([plaintext], recipient);
        const row = new RegExp(
          `^\\| ${bytes.toLocaleString('en')} \\| ${ek1.length.toLocaleString('en')} \\| ${ek2.length.toLocaleString('en')} \\|`,
          'm',
        );
        assert.match(markdown, row, `${bytes} bytes: ek1 ${ek1.length}, ek2 ${ek2.length} characters`);
      }
    });
  });
});
