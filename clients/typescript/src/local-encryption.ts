import * as nodeCrypto from 'node:crypto';
import { constants, createCipheriv, createHash, createPublicKey, hkdfSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';

/**
 * The service's ciphertext formats (its docs/ciphertext-format.md), written here from that
 * specification with node:crypto alone, so that a caller who only needs to encrypt never sends
 * the plaintext anywhere. Which format depends on the algorithm of the user's key version:
 *
 *   RSA-OAEP-256  ek1:<keyVersion>:<wrappedKey>:<iv>:<ciphertext>:<tag>
 *   X-Wing        ek2:<keyVersion>:<encapsulation>:<iv>:<ciphertext>:<tag>
 *
 * ek1: wrappedKey is a fresh AES-256 data key under the user's RSA public key (RSA-OAEP, SHA-256,
 * MGF1-SHA-256, empty label); additional data `ek1|<userId>|<keyVersion>`.
 * ek2: encapsulation is a fresh X-Wing (ML-KEM-768 + X25519) encapsulation to the user's 1216-byte
 * public key; the AES-256 key is HKDF-SHA-256 of its shared secret (empty salt, info
 * `ek2 aes-256-gcm key`); additional data `ek2|<userId>|<keyVersion>|X-Wing`.
 * Both: iv is 12 random bytes per item; ciphertext and the 16-byte tag are AES-256-GCM of the
 * item's UTF-8 bytes. Every field but the version is base64url without padding.
 */
export const FORMAT_PREFIX = 'ek1';
export const EK2_FORMAT_PREFIX = 'ek2';
export const MAX_KEY_VERSION = 2_147_483_647;
/** The algorithms a key version may have, as `GET /api/v1/keys/{userId}` states them. */
export const KEY_ALGORITHMS = ['RSA-OAEP-256', 'X-Wing'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/**
 * A user's published key version: for `RSA-OAEP-256` the SPKI PEM public key, for `X-Wing` the
 * standard base64 of the 1216-byte X-Wing public key (ML-KEM-768 key ‖ X25519 key).
 */
export interface PublishedPublicKey {
  algorithm: KeyAlgorithm;
  publicKey: string;
  keyVersion: number;
}

const USER_ID = /^[1-9][0-9]{0,18}$/;
const MAX_USER_ID = 9223372036854775807n;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const XWING_PUBLIC_KEY_BYTES = 1216;
const ML_KEM_768_PUBLIC_KEY_BYTES = 1184;
/** DER prefixes of the SubjectPublicKeyInfo of a raw ML-KEM-768 and X25519 public key. */
const ML_KEM_768_SPKI_PREFIX = Buffer.from('308204b2300b0609608648016503040402038204a100', 'hex');
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
/** X-Wing's combiner label `\./` `/^\`. */
const XWING_LABEL = Buffer.from('5c2e2f2f5e5c', 'hex');
const EK2_KEY_INFO = 'ek2 aes-256-gcm key';

/**
 * Encrypts `strings` for `userId` under a published key version (from `GET /api/v1/keys/{userId}`),
 * as `POST /encrypt` would: same order, one data key for the batch, a fresh IV per item, in the
 * format of the version's algorithm. Only the holder of that version's private key (the service)
 * can decrypt. The older form `encryptLocally(publicKeyPem, userId, keyVersion, strings)` is an
 * RSA key version.
 */
export function encryptLocally(key: PublishedPublicKey, userId: string, strings: readonly string[]): string[];
export function encryptLocally(publicKey: string | KeyObject, userId: string, keyVersion: number, strings: readonly string[]): string[];
export function encryptLocally(
  key: PublishedPublicKey | string | KeyObject,
  userId: string,
  versionOrStrings: number | readonly string[],
  maybeStrings?: readonly string[],
): string[] {
  const published: PublishedPublicKey | { algorithm: 'RSA-OAEP-256'; publicKey: string | KeyObject; keyVersion: number } = isPublished(key)
    ? key
    : { algorithm: 'RSA-OAEP-256', publicKey: key, keyVersion: versionOrStrings as number };
  const strings = isPublished(key) ? (versionOrStrings as readonly string[]) : maybeStrings;
  const { keyVersion } = published;
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
  if (published.algorithm === 'X-Wing') {
    if (typeof published.publicKey !== 'string') throw new TypeError('an X-Wing publicKey is the base64 of its 1216 bytes');
    const { encapsulation, sharedSecret } = xwingEncapsulate(published.publicKey);
    return sealAll(
      EK2_FORMAT_PREFIX,
      keyVersion,
      encapsulation,
      ek2Key(sharedSecret),
      `${EK2_FORMAT_PREFIX}|${userId}|${keyVersion}|X-Wing`,
      strings,
    );
  }
  if (published.algorithm !== 'RSA-OAEP-256') throw new TypeError(`algorithm must be one of ${KEY_ALGORITHMS.join(', ')}`);
  const rsaKey = typeof published.publicKey === 'string' ? createPublicKey(published.publicKey) : published.publicKey;
  if (rsaKey.type !== 'public' || rsaKey.asymmetricKeyType !== 'rsa') throw new TypeError('publicKey must be an RSA public key');
  const dataKey = randomBytes(32);
  let wrappedKey: Buffer;
  try {
    wrappedKey = publicEncrypt({ key: rsaKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, dataKey);
  } catch (error) {
    dataKey.fill(0);
    throw error;
  }
  return sealAll(FORMAT_PREFIX, keyVersion, wrappedKey, dataKey, `${FORMAT_PREFIX}|${userId}|${keyVersion}`, strings);
}

/** The key version a ciphertext names (`ek1:<version>:…` or `ek2:<version>:…`), or undefined when it is not one. */
export function ciphertextKeyVersion(ciphertext: string): number | undefined {
  const match = /^ek[12]:([1-9][0-9]{0,9}):/.exec(ciphertext);
  const version = match ? Number(match[1]) : NaN;
  return version <= MAX_KEY_VERSION ? version : undefined;
}

function isPublished(key: PublishedPublicKey | string | KeyObject): key is PublishedPublicKey {
  return typeof key === 'object' && key !== null && 'algorithm' in key;
}

/** AES-256-GCM of every item under `dataKey` (zeroed afterwards), each with a fresh IV. */
function sealAll(
  prefix: string,
  keyVersion: number,
  keyField: Buffer,
  dataKey: Buffer,
  aadText: string,
  strings: readonly string[],
): string[] {
  try {
    const keyText = keyField.toString('base64url');
    const aad = Buffer.from(aadText, 'ascii');
    return strings.map((item) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', dataKey, iv, { authTagLength: 16 });
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(item, 'utf8'), cipher.final()]);
      return [
        prefix,
        keyVersion,
        keyText,
        iv.toString('base64url'),
        ciphertext.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
      ].join(':');
    });
  } finally {
    dataKey.fill(0);
  }
}

/**
 * X-Wing Encapsulate(pk) of draft-connolly-cfrg-xwing-kem: ML-KEM-768 to pk_M, an ephemeral X25519
 * exchange with pk_X, and SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ label). The encapsulation is ct_M ‖ ct_X.
 * A public key whose X25519 half is a low-order point is refused (RFC 7748 §6.1 allows the check).
 */
function xwingEncapsulate(publicKeyBase64: string): { encapsulation: Buffer; sharedSecret: Buffer } {
  const { encapsulate } = nodeCrypto as typeof nodeCrypto & Partial<Pick<typeof nodeCrypto, 'encapsulate'>>;
  if (typeof encapsulate !== 'function') throw new TypeError('X-Wing keys need a Node.js with ML-KEM in node:crypto (24.7 or later)');
  const publicKey = Buffer.from(publicKeyBase64, 'base64');
  if (publicKey.length !== XWING_PUBLIC_KEY_BYTES || publicKey.toString('base64') !== publicKeyBase64) {
    throw new TypeError(`an X-Wing publicKey is the base64 of its ${XWING_PUBLIC_KEY_BYTES} bytes`);
  }
  const pkX = publicKey.subarray(ML_KEM_768_PUBLIC_KEY_BYTES);
  let mlKem: KeyObject;
  let x25519: KeyObject;
  try {
    mlKem = spki(ML_KEM_768_SPKI_PREFIX, publicKey.subarray(0, ML_KEM_768_PUBLIC_KEY_BYTES));
    x25519 = spki(X25519_SPKI_PREFIX, pkX);
  } catch {
    throw new TypeError('publicKey is not a valid X-Wing public key');
  }
  const ephemeral = nodeCrypto.generateKeyPairSync('x25519');
  const ctX = ephemeral.publicKey.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length);
  let ssX: Buffer;
  try {
    ssX = nodeCrypto.diffieHellman({ privateKey: ephemeral.privateKey, publicKey: x25519 });
  } catch {
    throw new TypeError('publicKey is not a valid X-Wing public key');
  }
  const { ciphertext: ctM, sharedKey: ssM } = encapsulate(mlKem);
  try {
    const sharedSecret = createHash('sha3-256').update(ssM).update(ssX).update(ctX).update(pkX).update(XWING_LABEL).digest();
    return { encapsulation: Buffer.concat([ctM, ctX]), sharedSecret };
  } finally {
    ssM.fill(0);
    ssX.fill(0);
  }
}

/** The ek2 AES-256 key of an X-Wing shared secret (zeroed afterwards). */
function ek2Key(sharedSecret: Buffer): Buffer {
  try {
    return Buffer.from(hkdfSync('sha256', sharedSecret, Buffer.alloc(0), EK2_KEY_INFO, 32));
  } finally {
    sharedSecret.fill(0);
  }
}

function spki(prefix: Buffer, raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
}
