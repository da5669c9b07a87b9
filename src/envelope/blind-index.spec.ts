import assert from 'node:assert/strict';
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { blindIndex, normalise, NormalisationError, planIndex } from './blind-index';

describe('blind-index normalisation', () => {
  it('digits: a SIN typed with spaces, dashes or full-width digits is one value', () => {
    for (const spelling of ['046 454 286', '046-454-286', '046454286', ' 046.454.286\n', '０４６４５４２８６']) {
      assert.equal(normalise(spelling, { normalisation: 'digits' }), '046454286', spelling);
    }
  });

  it('digits: a value without any digit is refused, without quoting it', () => {
    assert.throws(
      () => normalise('no digits here', { normalisation: 'digits' }),
      (error) => {
        assert.ok(error instanceof NormalisationError);
        assert.doesNotMatch(error.message, /no digits here/);
        return true;
      },
    );
  });

  it('email: trimmed, the domain lower-cased (and in punycode), the local part kept as written by default', () => {
    assert.equal(normalise('  Jane.Doe@Example.COM ', { normalisation: 'email' }), 'Jane.Doe@example.com');
    assert.equal(normalise('jane@EXAMPLE.com.', { normalisation: 'email' }), 'jane@example.com');
    assert.equal(normalise('jane@Bücher.example', { normalisation: 'email' }), 'jane@xn--bcher-kva.example');
    assert.notEqual(normalise('Jane@example.com', { normalisation: 'email' }), normalise('jane@example.com', { normalisation: 'email' }));
  });

  it('email: a definition may lower-case the local part too', () => {
    const rule = { normalisation: 'email', emailLocalPart: 'lowercase' } as const;
    assert.equal(normalise(' Jane.Doe@Example.com', rule), normalise('jane.doe@example.COM', rule));
  });

  it('email: text without a local part and a domain is refused', () => {
    for (const bad of ['jane', '@example.com', 'jane@', 'ja ne@example.com']) {
      assert.throws(() => normalise(bad, { normalisation: 'email' }), NormalisationError, bad);
    }
  });

  it('text: NFKC, case-folded, whitespace collapsed', () => {
    const rule = { normalisation: 'text' } as const;
    assert.equal(normalise('  Ｊａｎｅ\t DOE ', rule), 'jane doe');
    assert.equal(normalise('STRASSE', rule), normalise('straße', rule));
    assert.equal(normalise('Ｃａｆé\u00a0\u2003Noir', rule), normalise('CAFÉ noir', rule));
    assert.throws(() => normalise(' \t\n', rule), NormalisationError);
  });
});

describe('blind index value', () => {
  const key = createSecretKey(randomBytes(32));

  it('is the HMAC-SHA256 of the normalised value under the key, truncated to the configured bits', () => {
    const full = createHmac('sha256', key).update('046454286').digest();
    assert.equal(blindIndex(key, '046454286', 256), full.toString('base64url'));
    assert.equal(blindIndex(key, '046454286', 16), full.subarray(0, 2).toString('base64url'));
    const twelve = Buffer.from(blindIndex(key, '046454286', 12), 'base64url');
    assert.equal(twelve.length, 2);
    assert.equal(twelve[0], full[0]);
    assert.equal(twelve[1], full[1] & 0xf0, 'the 4 bits past the 12th are zero');
  });

  it('takes at most 2^bits values, however many inputs there are', () => {
    const seen = new Set(Array.from({ length: 500 }, (_, i) => blindIndex(key, String(i), 4)));
    assert.ok(seen.size <= 16);
    assert.ok(seen.size > 8, 'and uses most of them');
  });

  it('differs under another key for the same value', () => {
    assert.notEqual(blindIndex(key, 'x', 64), blindIndex(createSecretKey(randomBytes(32)), 'x', 64));
  });
});

describe('leakage planner', () => {
  it('reports cardinality / 2^bits coincidences per lookup', () => {
    assert.equal(planIndex(1_000_000, 16).expectedCoincidences, 1_000_000 / 65_536);
    assert.equal(planIndex(1_000_000, 16).unique, false);
  });

  it('calls a size unique when fewer than two values would share an index', () => {
    assert.equal(planIndex(1_000_000, 19).unique, true, '1.9 values per index');
    assert.equal(planIndex(1_000_000, 18).unique, false, '3.8 values per index');
  });

  it('recommends sizes between √cardinality candidates and two values per index', () => {
    assert.deepEqual(planIndex(1_000_000, 16).recommendedBits, { min: 10, max: 18 });
    assert.equal(planIndex(3, 1).recommendedBits, null, 'three values cannot be indexed without leaking');
  });
});
