import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, decapsulate } from 'node:crypto';
import { describe, it } from 'node:test';
import { ml_kem768_x25519 as nobleXWing } from '@noble/post-quantum/hybrid.js';
import {
  generateXWingSeed,
  XWING_CIPHERTEXT_BYTES,
  XWING_PUBLIC_KEY_BYTES,
  XWING_SHARED_SECRET_BYTES,
  xwingDecapsulate,
  xwingEncapsulate,
  XWingInputError,
  XWingPrivateKey,
  XWingPublicKey,
  xwingPublicKey,
} from './xwing';

/**
 * The three test vectors of draft-connolly-cfrg-xwing-kem (Appendix C, identical from -06 to -10).
 * seed, eseed and ss are the draft's bytes; its 1216-byte pk and 1120-byte ct are held as their
 * SHA-256, so each is still checked byte for byte: pk is derived here from the seed, and ct is
 * rebuilt by @noble/post-quantum's derandomized encapsulation from eseed (node:crypto's ML-KEM
 * draws its own randomness and takes no eseed) before it is decapsulated here.
 */
const VECTORS = [
  {
    seed: '7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26',
    eseed:
      '3cb1eea988004b93103cfb0aeefd2a686e01fa4a58e8a3639ca8a1e3f9ae57e235b8cc873c23dc62b8d260169afa2f75ab916a58d974918835d25e6a435085b2',
    pkSha256: '2e816deebcd76c5c80d0cd2d174478871658e8e2ff42bc9d4a6e486372e856bb',
    ctSha256: '17cd532d657e44c897ca6583e548a5424fc70bf54f99515a4d2bcf99e3469f33',
    ss: 'd2df0522128f09dd8e2c92b1e905c793d8f57a54c3da25861f10bf4ca613e384',
  },
  {
    seed: 'badfd6dfaac359a5efbb7bcc4b59d538df9a04302e10c8bc1cbf1a0b3a5120ea',
    eseed:
      '17cda7cfad765f5623474d368ccca8af0007cd9f5e4c849f167a580b14aabdefaee7eef47cb0fca9767be1fda69419dfb927e9df07348b196691abaeb580b32d',
    pkSha256: 'c42ba5f8430d7d2c83739338203819f090e8303ce9c8b02107c272bfa5376916',
    ctSha256: '1661ea86d608a1924ba30840cb0a65f13ae051e3aec9cf0f064efc0bc92f2154',
    ss: 'f2e86241c64d60f6649fbc6c5b7d17180b780a3f34355e64a85749949c45f150',
  },
  {
    seed: 'ef58538b8d23f87732ea63b02b4fa0f4873360e2841928cd60dd4cee8cc0d4c9',
    eseed:
      '22a96188d032675c8ac850933c7aff1533b94c834adbb69c6115bad4692d8619f90b0cdf8a7b9c264029ac185b70b83f2801f2f4b3f70c593ea3aeeb613a7f1b',
    pkSha256: '6b080d6b84f095342092fa7a22423e58bd681397ad0ef00eac92bd254db4fa95',
    ctSha256: 'd3ca5578500344b5896cffc4fd740c9311946b82951df155e6fd86a7966b43c6',
    ss: '953f7f4e8c5b5049bdc771d1dffada0dd961477d1a2ae0988baa7ea6898d893f',
  },
];

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const hex = (text: string) => Buffer.from(text, 'hex');

/** The u-coordinates of Curve25519's points of order 1, 2, 4 and 8, and non-canonical spellings of them (RFC 7748 §5 decoding). */
const LOW_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

describe('X-Wing (draft-connolly-cfrg-xwing-kem)', () => {
  for (const [number, vector] of VECTORS.entries()) {
    it(`derives the draft's public key from the seed of test vector ${number + 1}`, () => {
      const publicKey = xwingPublicKey(hex(vector.seed));
      assert.equal(publicKey.length, XWING_PUBLIC_KEY_BYTES);
      assert.equal(sha256(publicKey), vector.pkSha256);
    });

    it(`decapsulates the draft's ciphertext of test vector ${number + 1} (pk and eseed) to its shared secret`, () => {
      const publicKey = xwingPublicKey(hex(vector.seed));
      const { cipherText, sharedSecret } = nobleXWing.encapsulate(publicKey, hex(vector.eseed));
      assert.equal(sha256(cipherText), vector.ctSha256, 'the rebuilt ciphertext is the draft’s');
      assert.equal(Buffer.from(sharedSecret).toString('hex'), vector.ss);
      // The X25519 half of the ciphertext is the ephemeral public key of eseed[32:64].
      const ephemeral = createPrivateKey({ key: hex(vector.eseed).subarray(32), format: 'raw-private', asymmetricKeyType: 'x25519' });
      assert.deepEqual(Buffer.from(cipherText.subarray(1088)), createPublicKey(ephemeral).export({ format: 'raw-public' }));

      assert.equal(xwingDecapsulate(hex(vector.seed), Buffer.from(cipherText)).toString('hex'), vector.ss);
    });
  }

  it('gives the holder of the seed the 32-byte secret that encapsulation produced, a new one each time', () => {
    const seed = generateXWingSeed();
    const privateKey = XWingPrivateKey.fromSeed(seed);
    const first = xwingEncapsulate(privateKey.publicKey);
    const second = XWingPublicKey.fromBytes(privateKey.publicKey).encapsulate();
    assert.equal(first.ciphertext.length, XWING_CIPHERTEXT_BYTES);
    assert.equal(first.sharedSecret.length, XWING_SHARED_SECRET_BYTES);
    assert.deepEqual(privateKey.decapsulate(first.ciphertext), first.sharedSecret);
    assert.deepEqual(xwingDecapsulate(seed, second.ciphertext), second.sharedSecret);
    assert.notDeepEqual(first.ciphertext, second.ciphertext);
    assert.notDeepEqual(first.sharedSecret, second.sharedSecret);
  });

  it('answers a different secret, without an error, for a ciphertext changed in either half (implicit rejection)', () => {
    const privateKey = XWingPrivateKey.fromSeed(generateXWingSeed());
    const { ciphertext, sharedSecret } = xwingEncapsulate(privateKey.publicKey);
    for (const position of [0, 500, 1087, 1088, 1119]) {
      const tampered = Buffer.from(ciphertext);
      tampered[position] ^= 0x01;
      const secret = privateKey.decapsulate(tampered);
      assert.equal(secret.length, XWING_SHARED_SECRET_BYTES);
      assert.notDeepEqual(secret, sharedSecret, `byte ${position}`);
    }
  });

  it('answers another key pair’s ciphertext with a different secret', () => {
    const mine = XWingPrivateKey.fromSeed(generateXWingSeed());
    const theirs = xwingEncapsulate(xwingPublicKey(generateXWingSeed()));
    assert.notDeepEqual(mine.decapsulate(theirs.ciphertext), theirs.sharedSecret);
  });

  it('refuses a ciphertext, seed or public key of the wrong length with XWingInputError', () => {
    const seed = generateXWingSeed();
    const { ciphertext } = xwingEncapsulate(xwingPublicKey(seed));
    for (const wrong of [ciphertext.subarray(0, 1119), Buffer.concat([ciphertext, Buffer.alloc(1)]), Buffer.alloc(0)]) {
      assert.throws(() => xwingDecapsulate(seed, wrong), XWingInputError, `${wrong.length} bytes`);
    }
    assert.throws(() => XWingPrivateKey.fromSeed(seed.subarray(0, 31)), XWingInputError);
    assert.throws(() => XWingPrivateKey.fromSeed(Buffer.alloc(64)), XWingInputError);
    assert.throws(() => xwingEncapsulate(xwingPublicKey(seed).subarray(1)), XWingInputError);
    assert.throws(() => xwingEncapsulate(Buffer.alloc(1217)), XWingInputError);
  });

  it('refuses a public key whose ML-KEM half fails the FIPS 203 encapsulation-key check', () => {
    const publicKey = Buffer.from(xwingPublicKey(generateXWingSeed()));
    // The first 12-bit coefficient becomes 0xfff, above q = 3329.
    publicKey[0] = 0xff;
    publicKey[1] |= 0x0f;
    assert.throws(() => xwingEncapsulate(publicKey), XWingInputError);
  });

  it('decapsulates a low-order X25519 share as the draft specifies: ss_X is all zeros, no error, and the secret still rests on ML-KEM', () => {
    const seed = generateXWingSeed();
    const privateKey = XWingPrivateKey.fromSeed(seed);
    const { ciphertext, sharedSecret } = xwingEncapsulate(privateKey.publicKey);
    // The draft's construction, written out apart from xwing.ts.
    const expanded = createHash('shake256', { outputLength: 96 }).update(seed).digest();
    const mlKem = createPrivateKey({ key: expanded.subarray(0, 64), format: 'raw-seed', asymmetricKeyType: 'ml-kem-768' });
    const ssM = decapsulate(mlKem, ciphertext.subarray(0, 1088));
    const pkX = privateKey.publicKey.subarray(1184);
    for (const point of LOW_ORDER_POINTS) {
      const ctX = hex(point);
      const lowOrder = Buffer.concat([ciphertext.subarray(0, 1088), ctX]);
      const expected = createHash('sha3-256')
        .update(Buffer.concat([ssM, Buffer.alloc(32), ctX, pkX, Buffer.from('\\.//^\\', 'ascii')]))
        .digest();
      const secret = privateKey.decapsulate(lowOrder);
      assert.deepEqual(secret, expected, point);
      assert.notDeepEqual(secret, sharedSecret);
    }
  });
});
