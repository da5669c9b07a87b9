import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import { ml_kem768_x25519 as noble } from '@noble/post-quantum/hybrid.js';
import { generateXWingSeed, XWingPrivateKey, xwingDecapsulate, xwingEncapsulate, xwingPublicKey } from './xwing';

/**
 * xwing.ts (node:crypto ML-KEM-768 + X25519 + SHA3-256, composed here) against two other X-Wing
 * implementations: @noble/post-quantum's ml_kem768_x25519 (pure JavaScript, independent of
 * OpenSSL) and Node's own Web Crypto MLKEM768-X25519 (experimental in Node 26; it prints an
 * ExperimentalWarning once). Both of those refuse a low-order X25519 share where xwing.ts follows
 * the draft's RFC 7748 function (all-zero ss_X, see xwing.spec.ts); with honest ciphertexts all
 * three agree byte for byte.
 */
const ROUNDS = 10;
const ALGORITHM = { name: 'MLKEM768-X25519' };

describe('X-Wing interoperability', () => {
  it('derives the same 1216-byte public key from a seed as @noble/post-quantum', () => {
    for (let round = 0; round < ROUNDS; round++) {
      const seed = generateXWingSeed();
      assert.deepEqual(xwingPublicKey(seed), Buffer.from(noble.keygen(seed).publicKey));
    }
  });

  it('decapsulates to the shared secret that @noble/post-quantum encapsulated to our public key', () => {
    for (let round = 0; round < ROUNDS; round++) {
      const seed = generateXWingSeed();
      const { cipherText, sharedSecret } = noble.encapsulate(xwingPublicKey(seed));
      assert.deepEqual(xwingDecapsulate(seed, Buffer.from(cipherText)), Buffer.from(sharedSecret));
    }
  });

  it('encapsulates a shared secret that @noble/post-quantum decapsulates with the same seed', () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { publicKey, secretKey } = noble.keygen();
      const { ciphertext, sharedSecret } = xwingEncapsulate(Buffer.from(publicKey));
      assert.deepEqual(Buffer.from(noble.decapsulate(ciphertext, secretKey)), sharedSecret);
    }
  });

  it('agrees with Node’s Web Crypto MLKEM768-X25519 on public keys and shared secrets, both ways', async () => {
    const { subtle } = webcrypto;
    for (let round = 0; round < ROUNDS; round++) {
      const seed = generateXWingSeed();
      const privateKey = XWingPrivateKey.fromSeed(seed);
      const imported = await subtle.importKey('raw-seed', new Uint8Array(seed), ALGORITHM, true, ['decapsulateBits']);
      const publicKey = await subtle.getPublicKey(imported, ['encapsulateBits']);
      assert.deepEqual(Buffer.from(await subtle.exportKey('raw-public', publicKey)), privateKey.publicKey);

      const theirs = await subtle.encapsulateBits(ALGORITHM, publicKey);
      assert.deepEqual(privateKey.decapsulate(Buffer.from(theirs.ciphertext)), Buffer.from(theirs.sharedKey));

      const ours = xwingEncapsulate(privateKey.publicKey);
      assert.deepEqual(Buffer.from(await subtle.decapsulateBits(ALGORITHM, imported, new Uint8Array(ours.ciphertext))), ours.sharedSecret);
    }
  });
});
