import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { ApiError } from '../common/api-error';
import { encryptBatch } from './envelope';
import { findCiphertexts, replaceCiphertexts } from './json-ciphertexts';

const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const [c1, c2, c3] = encryptBatch(['a', 'b', 'c'], { userId: '42', keyVersion: 1, publicKey });

describe('ciphertexts inside JSON', () => {
  const document = {
    name: c1,
    accounts: [{ sin: c2, note: 'ek1: not a ciphertext', amount: 12.5 }, null, [true, c3]],
    'odd key': 'plain',
    nested: { deeper: { empty: [] } },
  };

  it('finds every ciphertext with its JSON path, skipping look-alikes and other values', () => {
    const found = findCiphertexts(document, 'data', 1000);
    assert.deepEqual(
      found.map((f) => f.path),
      ['data.name', 'data.accounts[0].sin', 'data.accounts[2][1]'],
    );
  });

  it('replaces exactly those strings and leaves everything else identical', () => {
    const replaced = replaceCiphertexts(document, ['X', 'Y', 'Z']);
    assert.deepEqual(replaced, {
      name: 'X',
      accounts: [{ sin: 'Y', note: 'ek1: not a ciphertext', amount: 12.5 }, null, [true, 'Z']],
      'odd key': 'plain',
      nested: { deeper: { empty: [] } },
    });
    assert.deepEqual(Object.keys(replaced as object), Object.keys(document));
  });

  it('quotes keys that are not identifiers in paths', () => {
    assert.equal(findCiphertexts({ 'account no': c1 }, 'data', 10)[0].path, 'data["account no"]');
  });

  it('accepts a bare ciphertext string or array as the document', () => {
    assert.equal(findCiphertexts(c1, 'data', 10).length, 1);
    assert.equal(findCiphertexts([c1, 'x', c2], 'data', 10).length, 2);
  });

  it('refuses more ciphertexts than the batch limit', () => {
    assert.throws(
      () => findCiphertexts([c1, c2, c3], 'data', 2),
      (e: unknown) => e instanceof ApiError && e.code === 'ENC001',
    );
  });

  it('refuses documents nested deeper than 32 levels', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 40; i++) deep = [deep];
    assert.throws(() => findCiphertexts(deep, 'data', 10), /nested deeper than 32/);
  });
});
