import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { DATA_KEY_BYTES, formatItem, IV_BYTES, sharedPrefix } from './ciphertext-format';
import { EK2_PREFIX, ek2AdditionalData, Ek2CiphertextParts } from './ciphertext-format-ek2';
import { AuthenticationFailedError, openBatch } from './open-batch';
import { XWingInputError, XWingPrivateKey, XWingPublicKey } from './xwing';

/**
 * The ek2 envelope (docs/ciphertext-format.md) as pure functions, in the shape of ek1's
 * encryptBatch/decryptBatch: one X-Wing encapsulation per batch, whose 32-byte shared secret
 * through HKDF-SHA-256 (empty salt, info EK2_KEY_INFO) is the batch's AES-256-GCM key, and a
 * random 12-byte IV per item. A KEM and a DEM with nothing between them: no wrapped data key.
 */
export const EK2_KEY_INFO = 'ek2 aes-256-gcm key';

/** The AES-256 key of an X-Wing shared secret; zeroes the secret. */
export function ek2DataKey(sharedSecret: Buffer): Buffer {
  try {
    return Buffer.from(hkdfSync('sha256', sharedSecret, Buffer.alloc(0), EK2_KEY_INFO, DATA_KEY_BYTES));
  } finally {
    sharedSecret.fill(0);
  }
}

/** Encrypts a batch under one fresh X-Wing encapsulation to the user's public key of that version. */
export function encryptBatchEk2(
  items: readonly string[],
  recipient: { userId: string; keyVersion: number; publicKey: XWingPublicKey },
): string[] {
  if (items.length === 0) return [];
  const { ciphertext: encapsulation, sharedSecret } = recipient.publicKey.encapsulate();
  const dataKey = ek2DataKey(sharedSecret);
  try {
    const aad = ek2AdditionalData(recipient.userId, recipient.keyVersion);
    // The 1,120-byte encapsulation, shared by every item, encoded once.
    const prefix = sharedPrefix(EK2_PREFIX, recipient.keyVersion, encapsulation);
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
 * Decrypts parsed ek2 items of one user. `privateKeyFor` returns the (expanded) X-Wing private key
 * of a version, or undefined when the user has no such version. Each distinct encapsulation is
 * decapsulated once. Throws AuthenticationFailedError for the first item that does not
 * authenticate, including one whose encapsulation is not 1120 bytes (XWingInputError).
 */
export function decryptBatchEk2(
  userId: string,
  items: readonly Ek2CiphertextParts[],
  privateKeyFor: (keyVersion: number) => XWingPrivateKey | undefined,
): string[] {
  return openBatch(userId, items, {
    sharedKeyOf: (item) => item.encapsulation,
    openDataKey: (item, index) => {
      const privateKey = privateKeyFor(item.keyVersion);
      if (!privateKey) throw new AuthenticationFailedError(index);
      return decapsulateDataKey(privateKey, item.encapsulation, index);
    },
    additionalData: ek2AdditionalData,
  });
}

function decapsulateDataKey(privateKey: XWingPrivateKey, encapsulation: Buffer, index: number): Buffer {
  try {
    // Implicit rejection: a changed encapsulation gives another key, which the GCM tag then refuses.
    return ek2DataKey(privateKey.decapsulate(encapsulation));
  } catch (error) {
    if (error instanceof XWingInputError) throw new AuthenticationFailedError(index);
    throw error;
  }
}
