import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEk2Ciphertext } from './ciphertext-format-ek2';
import { decryptBatchEk2, encryptBatchEk2 } from './envelope-ek2';
import { AuthenticationFailedError } from './open-batch';
import { generateXWingSeed, XWingPrivateKey, XWingPublicKey } from './xwing';

const privateKey = XWingPrivateKey.fromSeed(generateXWingSeed());
const v1 = { userId: '42', keyVersion: 1, publicKey: XWingPublicKey.fromBytes(privateKey.publicKey) };
const v2Key = XWingPrivateKey.fromSeed(generateXWingSeed());
const v2 = { userId: '42', keyVersion: 2, publicKey: XWingPublicKey.fromBytes(v2Key.publicKey) };

/** Decrypts, counting the data keys opened (each asks for its version's private key once). */
function decryptCounting(items: string[]) {
  let opened = 0;
  const plaintexts = decryptBatchEk2(
    '42',
    items.map((item) => parseEk2Ciphertext(item)),
    (version) => {
      opened += 1;
      return version === 1 ? privateKey : version === 2 ? v2Key : undefined;
    },
  );
  return { plaintexts, opened };
}

describe('opening a batch: one data key per encryption, whatever the order of the items', () => {
  it('opens the data key of items from one /encrypt answer once', () => {
    const { plaintexts, opened } = decryptCounting(encryptBatchEk2(['a', 'b', 'c', 'd'], v1));
    assert.deepEqual(plaintexts, ['a', 'b', 'c', 'd']);
    assert.equal(opened, 1);
  });

  it('opens each encryption’s key once when items of several answers and versions are interleaved', () => {
    const [a0, a1, a2] = encryptBatchEk2(['a0', 'a1', 'a2'], v1);
    const [b0, b1] = encryptBatchEk2(['b0', 'b1'], v1);
    const [c0] = encryptBatchEk2(['c0'], v2);
    const { plaintexts, opened } = decryptCounting([a0, b0, a1, c0, b1, a2]);
    assert.deepEqual(plaintexts, ['a0', 'b0', 'a1', 'c0', 'b1', 'a2']);
    assert.equal(opened, 3);
  });

  it('refuses an item whose version differs from its neighbour’s though its encapsulation is the same, naming it', () => {
    const items = encryptBatchEk2(['a', 'b'], v1);
    const moved = items[1].replace(/^ek2:1:/, 'ek2:2:');
    assert.throws(
      () => decryptCounting([items[0], moved]),
      (error: unknown) => error instanceof AuthenticationFailedError && error.index === 1,
    );
  });
});
