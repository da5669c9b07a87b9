import { constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';

/**
 * The service's ciphertext format `ek1` (its docs/ciphertext-format.md), written here from that
 * specification with node:crypto alone, so that a caller who only needs to encrypt never sends
 * the plaintext anywhere:
 *
 *   ek1:<keyVersion>:<wrappedKey>:<iv>:<ciphertext>:<tag>
 *
 * wrappedKey is a fresh AES-256 data key under the user's RSA public key (RSA-OAEP, SHA-256,
 * MGF1-SHA-256, empty label); iv is 12 random bytes per item; ciphertext and the 16-byte tag are
 * AES-256-GCM of the item's UTF-8 bytes with the additional data `ek1|<userId>|<keyVersion>`.
 * Every field but the version is base64url without padding.
 */
export const FORMAT_PREFIX = 'ek1';
export const MAX_KEY_VERSION = 2_147_483_647;
const USER_ID = /^[1-9][0-9]{0,18}$/;
const MAX_USER_ID = 9223372036854775807n;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Encrypts `strings` for `userId` under the public key of `keyVersion` (from
 * `GET /api/v1/keys/{userId}`), as `POST /encrypt` would: same order, one data key for the batch,
 * a fresh IV per item. Only the holder of that version's private key (the service) can decrypt.
 */
export function encryptLocally(publicKey: string | KeyObject, userId: string, keyVersion: number, strings: readonly string[]): string[] {
  if (typeof userId !== 'string' || !USER_ID.test(userId) || BigInt(userId) > MAX_USER_ID) {
    throw new TypeError('userId must be the decimal string of a positive 64-bit integer without leading zeros');
  }
  if (!Number.isInteger(keyVersion) || keyVersion < 1 || keyVersion > MAX_KEY_VERSION) {
    throw new TypeError(`keyVersion must be an integer from 1 to ${MAX_KEY_VERSION}`);
  }
  if (!Array.isArray(strings)) throw new TypeError('strings must be an array of strings');
  strings.forEach((item, index) => {
    if (typeof item !== 'string') throw new TypeError(`strings[${index}] is not a string`);
    // UTF-8 cannot carry a lone surrogate: Buffer.from would turn it into U+FFFD silently.
    if (LONE_SURROGATE.test(item)) throw new TypeError(`strings[${index}] contains an unpaired surrogate`);
  });
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  if (key.type !== 'public' || key.asymmetricKeyType !== 'rsa') throw new TypeError('publicKey must be an RSA public key');

  const dataKey = randomBytes(32);
  try {
    const wrappedKey = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, dataKey).toString('base64url');
    const aad = Buffer.from(`${FORMAT_PREFIX}|${userId}|${keyVersion}`, 'ascii');
    return strings.map((item) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', dataKey, iv, { authTagLength: 16 });
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(item, 'utf8'), cipher.final()]);
      return [
        FORMAT_PREFIX,
        keyVersion,
        wrappedKey,
        iv.toString('base64url'),
        ciphertext.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
      ].join(':');
    });
  } finally {
    dataKey.fill(0);
  }
}

/** The key version a ciphertext names (`ek1:<version>:…`), or undefined when it is not one. */
export function ciphertextKeyVersion(ciphertext: string): number | undefined {
  const match = /^ek1:([1-9][0-9]{0,9}):/.exec(ciphertext);
  const version = match ? Number(match[1]) : NaN;
  return version <= MAX_KEY_VERSION ? version : undefined;
}
