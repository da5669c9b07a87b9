import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MalformedCiphertextError, SharedFieldMemo } from './ciphertext-format';
import {
  ANY_CIPHERTEXT_PATTERN,
  AnyCiphertextParts,
  ciphertextBodyLimitBytes,
  decryptAny,
  encryptFor,
  keyVersionOfAny,
  maxAnyCiphertextLength,
  parseAnyCiphertext,
  PrivateKeyOf,
  publishedPublicKey,
  RSA_OAEP_256,
  sharedKeyOf,
  tryParseAnyCiphertext,
  X_WING,
} from './ciphertexts';
import { AuthenticationFailedError } from './open-batch';
import { generateXWingKey } from './key-pair';
import { XWingPrivateKey } from './xwing';

const rsa = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'der' },
});
const xwing = generateXWingKey();
/** Version 1 is RSA, version 2 X-Wing: a person part-way through the move. */
const rsaRecipient = { userId: '42', keyVersion: 1, ...publishedPublicKey(RSA_OAEP_256, rsa.publicKey) };
const xwingRecipient = { userId: '42', keyVersion: 2, ...publishedPublicKey(X_WING, xwing.publicKeyBase64) };
const privateKeys = new Map<number, PrivateKeyOf>([
  [1, { algorithm: RSA_OAEP_256, privateKey: createPrivateKey({ key: rsa.privateKey, format: 'der', type: 'pkcs8' }) }],
  [2, { algorithm: X_WING, privateKey: XWingPrivateKey.fromSeed(xwing.seed) }],
]);
const decrypt = (items: string[], userId = '42') =>
  decryptAny(
    userId,
    items.map((item) => parseAnyCiphertext(item)),
    (v) => privateKeys.get(v),
  );
const failsAt = (index: number) => (error: unknown) => error instanceof AuthenticationFailedError && error.index === index;
/** The same ciphertext claiming another key version (its AAD then names the old one, so it cannot authenticate either way). */
const underVersion = (ciphertext: string, version: number) => ciphertext.replace(/^(ek[12]):\d+:/, `$1:${version}:`);

describe('ciphertexts of either algorithm', () => {
  it('writes ek1 for an RSA-OAEP-256 key version and ek2 for an X-Wing one', () => {
    assert.match(encryptFor(['Jane'], rsaRecipient)[0], /^ek1:1:/);
    assert.match(encryptFor(['Jane'], xwingRecipient)[0], /^ek2:2:/);
  });

  it('decrypts a batch mixing both formats, in order', () => {
    const [a, b] = encryptFor(['old RSA item', 'another'], rsaRecipient);
    const [c, d] = encryptFor(['new X-Wing item', 'Zoë 山田 🙂'], xwingRecipient);
    assert.deepEqual(decrypt([c, a, d, b]), ['new X-Wing item', 'old RSA item', 'Zoë 山田 🙂', 'another']);
  });

  it('refuses an ek2 item under an RSA version, and an ek1 item under an X-Wing version, as unauthentic', () => {
    // The version's algorithm decides: a format that is not its algorithm's never reaches a key.
    const ek2UnderRsa = underVersion(encryptFor(['x'], xwingRecipient)[0], 1);
    const ek1UnderXWing = underVersion(encryptFor(['x'], rsaRecipient)[0], 2);
    assert.throws(() => decrypt([ek2UnderRsa]), failsAt(0));
    assert.throws(() => decrypt([ek1UnderXWing]), failsAt(0));
  });

  it('names the first failing item by its position in a mixed batch, whichever format fails', () => {
    const [good1] = encryptFor(['a'], rsaRecipient);
    const [good2] = encryptFor(['b'], xwingRecipient);
    const [other] = encryptFor(['c'], xwingRecipient);
    assert.throws(() => decrypt([good1, good2, other, good1], '43'), failsAt(0));
    assert.throws(() => decrypt([good2, good1, underVersion(good1, 2), underVersion(other, 1)]), failsAt(2));
    assert.throws(() => decrypt([good1, good2, underVersion(other, 1), underVersion(good1, 2)]), failsAt(2));
    assert.throws(() => decrypt([good1, good2, good1, underVersion(other, 3)]), failsAt(3));
  });

  it('parses either format by its prefix and refuses anything else as malformed', () => {
    const ek1 = parseAnyCiphertext(encryptFor(['x'], rsaRecipient)[0]);
    const ek2 = parseAnyCiphertext(encryptFor(['x'], xwingRecipient)[0]);
    assert.equal(ek1.format, 'ek1');
    assert.equal(ek2.format, 'ek2');
    assert.equal(sharedKeyOf(ek1).length, 256);
    assert.equal(sharedKeyOf(ek2).length, 1120);
    for (const bad of ['ek3:1:a:b:c:d', 'Jane Doe', 'ek2:1:AAAA:AAAA:AAAA:AAAA', '']) {
      assert.throws(() => parseAnyCiphertext(bad), MalformedCiphertextError, bad);
      assert.equal(tryParseAnyCiphertext(bad), undefined, bad);
    }
  });

  it('reads the key version of either format without decoding it', () => {
    assert.equal(keyVersionOfAny(encryptFor(['x'], xwingRecipient)[0]), 2);
    assert.equal(keyVersionOfAny('ek1:7:anything'), 7);
    assert.equal(keyVersionOfAny('ek2:0:x'), undefined);
    assert.equal(keyVersionOfAny('ek3:7:x'), undefined);
  });

  it('states in one pattern exactly the strings either parser accepts', () => {
    const wellFormed = fc
      .tuple(fc.constantFrom(rsaRecipient, xwingRecipient), fc.string({ maxLength: 30 }))
      .map(([recipient, text]) => encryptFor([text], recipient)[0]);
    const nearMiss = fc
      .tuple(wellFormed, fc.integer({ min: 0, max: 5 }), fc.constantFrom('', 'ek1', 'ek2', 'ek3', '0', 'AA', '=', 'A'), fc.boolean())
      .map(([text, field, replacement, append]) => {
        const fields = text.split(':');
        fields[field] = append ? fields[field] + replacement : replacement;
        return fields.join(':');
      });
    fc.assert(
      fc.property(fc.oneof(wellFormed, nearMiss), (text) => {
        assert.equal(ANY_CIPHERTEXT_PATTERN.test(text), tryParseAnyCiphertext(text) !== undefined, text.slice(0, 80));
      }),
      { seed: 1, numRuns: 500 },
    );
  });

  it('allows every item /encrypt can write within the item limit, and every 1,000-item answer within the ciphertext body limit', () => {
    const maxItem = 64 * 1024;
    const longest = encryptFor(['\u{10FFFF}'.repeat(maxItem / 4)], { ...xwingRecipient, keyVersion: 2_147_483_647 })[0];
    assert.ok(longest.length <= maxAnyCiphertextLength(maxItem), `${longest.length}`);
    // A 1 MiB /encrypt body of 1,000 items answered in ek2 (the longer format), sent back as a /decrypt body.
    const items = Array.from({ length: 1000 }, () => 'x'.repeat(Math.floor((1024 * 1024 - 2000 * 3) / 1000)));
    const answer = encryptFor(items, { ...xwingRecipient, keyVersion: 2_147_483_647 });
    const body = JSON.stringify({ userId: '9223372036854775807', data: answer, purpose: '\u{1F642}'.repeat(200) });
    assert.ok(Buffer.byteLength(JSON.stringify({ userId: '1', data: items })) <= 1024 * 1024);
    assert.ok(Buffer.byteLength(body) <= ciphertextBodyLimitBytes(1024 * 1024, 1000), `${Buffer.byteLength(body)}`);
  });
});

export type { AnyCiphertextParts };

describe('parsing a batch: the shared key field is decoded once per batch', () => {
  const parseBatch = (items: string[]) => {
    const memo = new SharedFieldMemo();
    return items.map((item) => parseAnyCiphertext(item, memo));
  };

  it('gives the same parts as parsing each item alone, for mixed formats and several encryptions', () => {
    const items = [
      ...encryptFor(['a', 'b'], xwingRecipient),
      ...encryptFor(['c'], rsaRecipient),
      ...encryptFor(['d', 'e'], xwingRecipient),
    ];
    assert.deepEqual(
      parseBatch(items),
      items.map((item) => parseAnyCiphertext(item)),
    );
    assert.deepEqual(
      decryptAny('42', parseBatch(items), (v) => privateKeys.get(v)),
      ['a', 'b', 'c', 'd', 'e'],
    );
  });

  it('still refuses an item whose shared field differs from the remembered one, or is malformed, naming that item', () => {
    const [first, second] = encryptFor(['a', 'b'], xwingRecipient);
    const fields = second.split(':');
    fields[2] = `${fields[2].slice(0, -4)}AAAA`; // another encapsulation of the right length
    const changed = fields.join(':');
    assert.throws(() => decryptAny('42', parseBatch([first, changed]), (v) => privateKeys.get(v)), failsAt(1));
    fields[2] = `${fields[2]}A`; // one character more: not canonical base64url of 1,120 bytes
    assert.throws(() => parseBatch([first, fields.join(':')]), MalformedCiphertextError);
  });
});
