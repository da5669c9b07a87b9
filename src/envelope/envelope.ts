import { constants, createCipheriv, KeyObject, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { additionalData, CiphertextParts, DATA_KEY_BYTES, FORMAT_PREFIX, formatItem, IV_BYTES, sharedPrefix } from './ciphertext-format';
import { AuthenticationFailedError, openBatch } from './open-batch';

/**
 * The hybrid envelope of docs/ciphertext-format.md as pure functions: no I/O, no Nest, so the benchmark's
 * in-process ceiling and the service run exactly the same code.
 */
const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' } as const;

/** Encrypts a batch under one fresh data key wrapped with the user's public key. */
export function encryptBatch(items: readonly string[], recipient: { userId: string; keyVersion: number; publicKey: KeyObject }): string[] {
  if (items.length === 0) return [];
  const dataKey = randomBytes(DATA_KEY_BYTES);
  try {
    const wrappedKey = publicEncrypt({ key: recipient.publicKey, ...OAEP }, dataKey);
    const aad = additionalData(recipient.userId, recipient.keyVersion);
    // The wrapped key, shared by every item, encoded once.
    const prefix = sharedPrefix(FORMAT_PREFIX, recipient.keyVersion, wrappedKey);
    // Every item's IV from one draw: a randomBytes call per item cost more than its AES-GCM.
    const ivs = randomBytes(IV_BYTES * items.length);
    return items.map((item, index) => {
      const iv = ivs.subarray(index * IV_BYTES, (index + 1) * IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(item, 'utf8'), cipher.final()]);
      return formatItem(prefix, { iv, ciphertext, tag: cipher.getAuthTag() });
    });
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Decrypts parsed items of one user. `privateKeyFor` returns the private key of a version, or
 * undefined when the user has no such version. Each distinct wrapped data key is unwrapped once.
 * Throws AuthenticationFailedError for the first item that does not authenticate.
 */
export function decryptBatch(
  userId: string,
  items: readonly CiphertextParts[],
  privateKeyFor: (keyVersion: number) => KeyObject | undefined,
): string[] {
  return openBatch(userId, items, {
    sharedKeyOf: (item) => item.wrappedKey,
    openDataKey: (item, index) => {
      const privateKey = privateKeyFor(item.keyVersion);
      if (!privateKey) throw new AuthenticationFailedError(index);
      return unwrapDataKey(privateKey, item.wrappedKey, index);
    },
    additionalData,
  });
}

function unwrapDataKey(privateKey: KeyObject, wrappedKey: Buffer, index: number): Buffer {
  try {
    const dataKey = privateDecrypt({ key: privateKey, ...OAEP }, wrappedKey);
    if (dataKey.length !== DATA_KEY_BYTES) {
      dataKey.fill(0);
      throw new AuthenticationFailedError(index);
    }
    return dataKey;
  } catch {
    throw new AuthenticationFailedError(index);
  }
}
