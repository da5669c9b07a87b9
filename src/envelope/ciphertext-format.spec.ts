import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CIPHERTEXT_PATTERN,
  formatCiphertext,
  keyVersionOf,
  looksLikeCiphertext,
  MalformedCiphertextError,
  parseCiphertext,
  tryParseCiphertext,
} from './ciphertext-format';

const parts = () => ({
  keyVersion: 3,
  wrappedKey: randomBytes(256),
  iv: randomBytes(12),
  ciphertext: randomBytes(20),
  tag: randomBytes(16),
});

describe('ciphertext format', () => {
  it('parses what it formats, field for field', () => {
    const original = parts();
    const text = formatCiphertext(original);
    assert.match(text, /^ek1:3:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(parseCiphertext(text), original);
  });

  it('accepts an empty ciphertext field (the empty string encrypted)', () => {
    const text = formatCiphertext({ ...parts(), ciphertext: Buffer.alloc(0) });
    assert.equal(parseCiphertext(text).ciphertext.length, 0);
  });

  const rejects: Array<[string, (text: string) => string, RegExp]> = [
    ['another prefix', (t) => t.replace(/^ek1/, 'ek2'), /not an ek1 ciphertext/],
    ['a missing field', (t) => t.split(':').slice(0, 5).join(':'), /not an ek1 ciphertext/],
    ['an extra field', (t) => `${t}:AA`, /not an ek1 ciphertext/],
    ['version zero', (t) => t.replace(/^ek1:3:/, 'ek1:0:'), /invalid key version/],
    ['a version with a leading zero', (t) => t.replace(/^ek1:3:/, 'ek1:03:'), /invalid key version/],
    ['a version above 2^31-1', (t) => t.replace(/^ek1:3:/, 'ek1:2147483648:'), /invalid key version/],
    ['standard base64 characters', (t) => t.replace(/:([^:]+)$/, ':+/+/+/+/+/+/+/+/+/+/+w'), /invalid tag encoding/],
    ['padding', (t) => `${t}==`, /invalid tag encoding/],
    [
      'a short IV',
      (t) => {
        const f = t.split(':');
        f[3] = randomBytes(8).toString('base64url');
        return f.join(':');
      },
      /IV of the wrong length/,
    ],
    [
      'a truncated wrapped key',
      (t) => {
        const f = t.split(':');
        f[2] = f[2].slice(0, 100);
        return f.join(':');
      },
      /wrapped key/,
    ],
  ];
  for (const [what, mutate, message] of rejects) {
    it(`rejects ${what}`, () => {
      assert.throws(
        () => parseCiphertext(mutate(formatCiphertext(parts()))),
        (error: Error) => {
          assert.ok(error instanceof MalformedCiphertextError);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  it('tells a ciphertext from a look-alike without throwing, whatever the look-alike holds', () => {
    const original = parts();
    assert.deepEqual(tryParseCiphertext(formatCiphertext(original)), original);
    for (const lookAlike of [
      'ek1:',
      'ek1:1:x',
      'ek1:1:a:b:c:d',
      `ek1:${':'.repeat(1_000_000)}`,
      `ek1:1:${'A'.repeat(100_000)}:AAAA:AAAA:AAAA`,
    ]) {
      assert.equal(tryParseCiphertext(lookAlike), undefined);
    }
  });

  it('recognises strings that claim the format, and nothing else', () => {
    assert.equal(looksLikeCiphertext(formatCiphertext(parts())), true);
    assert.equal(looksLikeCiphertext('ek1:garbage'), true);
    assert.equal(looksLikeCiphertext('ek12345'), false);
    assert.equal(looksLikeCiphertext('Jane ek1:1'), false);
  });

  it('reads the key version a ciphertext names without decoding it, and none from other strings', () => {
    assert.equal(keyVersionOf(formatCiphertext(parts())), 3);
    assert.equal(keyVersionOf('ek1:12:not-even-base64!'), 12);
    for (const other of ['ek1:12', 'ek1:0:x', 'ek1:01:x', 'ek1:99999999999:x', 'ek1::x', 'Jane Doe']) {
      assert.equal(keyVersionOf(other), undefined, other);
    }
  });

  it('states in its pattern exactly the strings the parser accepts', () => {
    const bytes = (...lengths: number[]) =>
      fc.constantFrom(...lengths).chain((length) => fc.uint8Array({ minLength: length, maxLength: length }));
    const wellFormed = fc
      .record({
        keyVersion: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constant(2_147_483_647)),
        wrappedKey: bytes(256, 384, 512),
        iv: bytes(12),
        ciphertext: fc.uint8Array({ maxLength: 40 }),
        tag: bytes(16),
      })
      .map((p) =>
        formatCiphertext({
          ...p,
          wrappedKey: Buffer.from(p.wrappedKey),
          iv: Buffer.from(p.iv),
          ciphertext: Buffer.from(p.ciphertext),
          tag: Buffer.from(p.tag),
        }),
      );
    // Each field of a well-formed ciphertext replaced by something near it: another length, another alphabet, padding, another version.
    const nearMiss = fc
      .tuple(
        wellFormed,
        fc.integer({ min: 0, max: 5 }),
        fc.oneof(fc.stringMatching(/^[A-Za-z0-9_=+/:-]{0,24}$/), fc.constantFrom('0', '01', '2147483648', 'ek2', '')),
        fc.boolean(),
      )
      .map(([text, field, replacement, append]) => {
        const fields = text.split(':');
        fields[field] = append ? fields[field] + replacement : replacement;
        return fields.join(':');
      });
    fc.assert(
      fc.property(fc.oneof(wellFormed, nearMiss), (text) => {
        assert.equal(CIPHERTEXT_PATTERN.test(text), tryParseCiphertext(text) !== undefined, text.slice(0, 80));
      }),
      { seed: 1, numRuns: 3000 },
    );
  });
});
