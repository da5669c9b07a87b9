import { generateKeyPair as generateKeyPairCallback } from 'node:crypto';
import { promisify } from 'node:util';
import { generateXWingSeed, XWingPrivateKey } from './xwing';

const generateKeyPairAsync = promisify(generateKeyPairCallback);

export interface GeneratedKeyPair {
  /** SPKI PEM, published to callers. */
  publicKeyPem: string;
  /** PKCS#8 DER; the caller seals it and then zeroes this buffer. */
  privateKeyDer: Buffer;
}

/**
 * Generates an RSA key pair on libuv's thread pool (node:crypto's async generateKeyPair), so the
 * ~100 ms of RSA-2048 prime search never blocks the event loop.
 */
export async function generateRsaKeyPair(modulusLength: number): Promise<GeneratedKeyPair> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  return { publicKeyPem: publicKey, privateKeyDer: privateKey };
}

/** A new X-Wing key: its published public key and its private key, the seed. */
export interface GeneratedXWingKey {
  /** Standard base64 (with padding) of the 1216-byte public key, as GET /keys publishes it. */
  publicKeyBase64: string;
  /** The 32-byte seed; the caller seals it and then zeroes this buffer. */
  seed: Buffer;
}

/**
 * Generates an X-Wing key on the event loop: 32 random bytes and one expansion (about 0.1 ms),
 * cheaper than a hop to the thread pool.
 */
export function generateXWingKey(): GeneratedXWingKey {
  const seed = generateXWingSeed();
  return { publicKeyBase64: XWingPrivateKey.fromSeed(seed).publicKey.toString('base64'), seed };
}
