import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MalformedCiphertextError, parseCiphertext, tryParseCiphertext } from './ciphertext-format';
import {
  EK2_CIPHERTEXT_PATTERN,
  formatEk2Ciphertext,
  looksLikeEk2Ciphertext,
  parseEk2Ciphertext,
  tryParseEk2Ciphertext,
} from './ciphertext-format-ek2';

const parts = () => ({
  keyVersion: 3,
  encapsulation: randomBytes(1120),
  iv: randomBytes(12),
  ciphertext: randomBytes(20),
  tag: randomBytes(16),
});

const withField = (text: string, index: number, value: string) => {
  const fields = text.split(':');
  fields[index] = value;
  return fields.join(':');
};

describe('ciphertext format ek2', () => {
  it('parses what it formats, field for field', () => {
    const original = parts();
    const text = formatEk2Ciphertext(original);
    assert.match(text, /^ek2:3:[A-Za-z0-9_-]{1494}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(parseEk2Ciphertext(text), original);
  });

  it('accepts an empty ciphertext field (the empty string encrypted)', () => {
    assert.equal(parseEk2Ciphertext(formatEk2Ciphertext({ ...parts(), ciphertext: Buffer.alloc(0) })).ciphertext.length, 0);
  });

  const rejects: Array<[string, (text: string) => string, RegExp]> = [
    ['the ek1 prefix', (t) => t.replace(/^ek2/, 'ek1'), /not an ek2 ciphertext/],
    ['a missing field', (t) => t.split(':').slice(0, 5).join(':'), /not an ek2 ciphertext/],
    ['an extra field', (t) => `${t}:AA`, /not an ek2 ciphertext/],
    ['version zero', (t) => t.replace(/^ek2:3:/, 'ek2:0:'), /invalid key version/],
    ['a version with a leading zero', (t) => t.replace(/^ek2:3:/, 'ek2:03:'), /invalid key version/],
    ['a version above 2^31-1', (t) => t.replace(/^ek2:3:/, 'ek2:2147483648:'), /invalid key version/],
    ['padding', (t) => `${t}==`, /invalid tag encoding/],
    ['a truncated encapsulation', (t) => withField(t, 2, randomBytes(1119).toString('base64url')), /encapsulation of the wrong length/],
    ['an over-long encapsulation', (t) => withField(t, 2, randomBytes(1121).toString('base64url')), /encapsulation of the wrong length/],
    [
      'an RSA-sized wrapped key in place of the encapsulation',
      (t) => withField(t, 2, randomBytes(256).toString('base64url')),
      /wrong length/,
    ],
    [
      'a standard-base64 character in the encapsulation',
      (t) => withField(t, 2, `${t.split(':')[2].slice(0, -1)}/`),
      /invalid encapsulation encoding/,
    ],
    ['a short IV', (t) => withField(t, 3, randomBytes(8).toString('base64url')), /IV of the wrong length/],
    ['a short tag', (t) => withField(t, 5, randomBytes(15).toString('base64url')), /tag of the wrong length/],
  ];
  for (const [what, mutate, message] of rejects) {
    it(`rejects ${what} with MalformedCiphertextError (ENC001), as ek1 does`, () => {
      assert.throws(
        () => parseEk2Ciphertext(mutate(formatEk2Ciphertext(parts()))),
        (error: Error) => error instanceof MalformedCiphertextError && message.test(error.message),
      );
    });
  }

  it('is not an ek1 ciphertext, and an ek1 ciphertext is not an ek2 one', () => {
    const text = formatEk2Ciphertext(parts());
    assert.equal(tryParseCiphertext(text), undefined);
    assert.throws(() => parseCiphertext(text), /not an ek1 ciphertext/);
    assert.equal(tryParseEk2Ciphertext(text.replace(/^ek2/, 'ek1')), undefined);
    assert.equal(looksLikeEk2Ciphertext(text), true);
    assert.equal(looksLikeEk2Ciphertext('ek1:1:a:b:c:d'), false);
    assert.equal(looksLikeEk2Ciphertext('Jane ek2:1'), false);
  });

  it('tells a ciphertext from a look-alike without throwing', () => {
    for (const lookAlike of ['ek2:', 'ek2:1:x', `ek2:${':'.repeat(1_000_000)}`, `ek2:1:${'A'.repeat(100_000)}:AAAA:AAAA:AAAA`]) {
      assert.equal(tryParseEk2Ciphertext(lookAlike), undefined);
    }
  });

  it('states in its pattern exactly the strings the parser accepts', () => {
    const bytes = (...lengths: number[]) =>
      fc.constantFrom(...lengths).chain((length) => fc.uint8Array({ minLength: length, maxLength: length }));
    const wellFormed = fc
      .record({
        keyVersion: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constant(2_147_483_647)),
        encapsulation: bytes(1120),
        iv: bytes(12),
        ciphertext: fc.uint8Array({ maxLength: 40 }),
        tag: bytes(16),
      })
      .map((p) =>
        formatEk2Ciphertext({
          ...p,
          encapsulation: Buffer.from(p.encapsulation),
          iv: Buffer.from(p.iv),
          ciphertext: Buffer.from(p.ciphertext),
          tag: Buffer.from(p.tag),
        }),
      );
    const nearMiss = fc
      .tuple(
        wellFormed,
        fc.integer({ min: 0, max: 5 }),
        fc.oneof(fc.stringMatching(/^[A-Za-z0-9_=+/:-]{0,24}$/), fc.constantFrom('0', '01', '2147483648', 'ek1', '')),
        fc.boolean(),
      )
      .map(([text, field, replacement, append]) => {
        const fields = text.split(':');
        fields[field] = append ? fields[field] + replacement : replacement;
        return fields.join(':');
      });
    fc.assert(
      fc.property(fc.oneof(wellFormed, nearMiss), (text) => {
        assert.equal(EK2_CIPHERTEXT_PATTERN.test(text), tryParseEk2Ciphertext(text) !== undefined, text.slice(0, 80));
      }),
      { seed: 1, numRuns: 1000 },
    );
  });
});
