import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BASE64URL_ANY_LENGTH, base64urlOfLength, positiveDecimalUpTo, whole } from './patterns';
import { isUserId, MAX_USER_ID, USER_ID_PATTERN } from './user-id';

/** Digit strings of 1 to 21 characters, leading zeros and all, biased towards the edges of 2^63 − 1. */
const decimalText = fc.oneof(
  fc.stringMatching(/^[0-9]{1,21}$/),
  fc.bigInt({ min: MAX_USER_ID - 1000n, max: MAX_USER_ID + 1000n }).map(String),
  fc.bigInt({ min: 0n, max: MAX_USER_ID * 20n }).map(String),
);

describe('number-bounded patterns', () => {
  it('accepts a user id exactly when it is a positive 64-bit integer without leading zeros', () => {
    fc.assert(
      fc.property(decimalText, (text) => {
        const expected = !text.startsWith('0') && BigInt(text) >= 1n && BigInt(text) <= MAX_USER_ID;
        assert.equal(USER_ID_PATTERN.test(text), expected, text);
        assert.equal(isUserId(text), expected, text);
      }),
      { seed: 18, numRuns: 5000 },
    );
    for (const edge of ['1', '9', '10', '9223372036854775807', '1000000000000000000']) assert.ok(isUserId(edge), edge);
    for (const edge of ['0', '01', '9223372036854775808', '9999999999999999999', '10000000000000000000', '', ' 1', '1 ']) {
      assert.ok(!isUserId(edge), edge);
    }
  });

  it('bounds any number the same way as comparing it', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 13n }), (max, value) => {
        assert.equal(whole(positiveDecimalUpTo(max)).test(String(value)), value >= 1n && value <= max, `${value} <= ${max}`);
      }),
      { seed: 63, numRuns: 3000 },
    );
  });

  it('accepts base64url text exactly when it is the one canonical spelling of its bytes', () => {
    const canonical = (text: string) => /^[A-Za-z0-9_-]*$/.test(text) && Buffer.from(text, 'base64url').toString('base64url') === text;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64url')),
          fc.string({ unit: fc.constantFrom(...'AQgwBb_-=+/ 09'), maxLength: 12 }),
        ),
        (text) => {
          assert.equal(whole(BASE64URL_ANY_LENGTH).test(text), canonical(text), text);
          const bytes = canonical(text) ? Buffer.from(text, 'base64url').length : -1;
          assert.equal(whole(base64urlOfLength(12, 16)).test(text), bytes === 12 || bytes === 16, text);
        },
      ),
      { seed: 64, numRuns: 5000 },
    );
  });
});
