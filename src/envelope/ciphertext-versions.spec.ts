import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { nestedCiphertextVersions, versionsIn } from './ciphertext-versions';
import { encryptBatch } from './envelope';

const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const [v1a, v1b] = encryptBatch(['a', 'b'], { userId: '42', keyVersion: 1, publicKey });
const [v3] = encryptBatch(['c'], { userId: '42', keyVersion: 3, publicKey });

describe('key versions an audit event records', () => {
  it('lists each version of a ciphertext list once, ascending, skipping anything that is not a ciphertext', () => {
    assert.deepEqual(versionsIn([v3, v1a, 'plain text', 7, v1b]), [1, 3]);
    assert.deepEqual(versionsIn('not a list'), []);
  });

  it('gives one version per ciphertext found inside a JSON document', () => {
    assert.deepEqual(nestedCiphertextVersions({ a: v3, list: [v1a, { b: v1b }], note: 'ek1: look-alike' }), [3, 1, 1]);
  });

  it('gives no versions, rather than failing, for a document too deep to walk', () => {
    let deep: unknown = v1a;
    for (let depth = 0; depth < 200; depth++) deep = [deep];
    assert.equal(nestedCiphertextVersions(deep), undefined);
  });
});
