import { generateKeyPair as generateKeyPairCallback } from 'node:crypto';
import { promisify } from 'node:util';

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
