/**
 * Ciphertexts of either format, and the key algorithms behind them: the one place that knows
 * which format belongs to which algorithm (docs/ciphertext-format.md).
 *
 *   algorithm      format   key version's public key (GET /keys)        private key (sealed)
 *   RSA-OAEP-256   ek1      SPKI PEM                                    PKCS#8 DER
 *   X-Wing         ek2      standard base64 of the 1216 bytes           the 32-byte seed
 *
 * Every route that takes ciphertexts takes both formats; each item is decrypted under its key
 * version only when the version's algorithm is the one its format belongs to, so an ek2 item under
 * an RSA version (or the reverse) fails authentication (ENC002) like any item that does not
 * authenticate.
 */
import type { KeyObject } from 'node:crypto';
import {
  CIPHERTEXT_PATTERN,
  CiphertextParts,
  FORMAT_PREFIX,
  MalformedCiphertextError,
  MAX_KEY_VERSION,
  maxCiphertextLength,
  tryParseCiphertext,
  VERSION,
  parseCiphertext,
  SharedFieldMemo,
} from './ciphertext-format';
import {
  EK2_ALGORITHM,
  EK2_CIPHERTEXT_PATTERN,
  EK2_PREFIX,
  Ek2CiphertextParts,
  maxEk2CiphertextLength,
  parseEk2Ciphertext,
  tryParseEk2Ciphertext,
} from './ciphertext-format-ek2';
import { decryptBatch, encryptBatch } from './envelope';
import { AuthenticationFailedError } from './open-batch';
import { decryptBatchEk2, encryptBatchEk2 } from './envelope-ek2';
import { publicKeyObject, xwingPublicKeyObject } from './public-key-objects';
import type { XWingPrivateKey, XWingPublicKey } from './xwing';

export const RSA_OAEP_256 = 'RSA-OAEP-256';
export const X_WING = EK2_ALGORITHM;
/** The algorithms of people's key versions, as GET /keys/{userId} and the database name them. */
export const KEY_ALGORITHMS = [RSA_OAEP_256, X_WING] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export const isKeyAlgorithm = (value: unknown): value is KeyAlgorithm => (KEY_ALGORITHMS as readonly unknown[]).includes(value);

/** A parsed ciphertext of either format. */
export type AnyCiphertextParts =
  (CiphertextParts & { format: typeof FORMAT_PREFIX }) | (Ek2CiphertextParts & { format: typeof EK2_PREFIX });

/** The algorithm whose key versions a format's items are encrypted under. */
export const ALGORITHM_OF_FORMAT = { [FORMAT_PREFIX]: RSA_OAEP_256, [EK2_PREFIX]: X_WING } as const;

/** A key version's public key, parsed. */
export type PublicKeyOf =
  { algorithm: typeof RSA_OAEP_256; publicKey: KeyObject } | { algorithm: typeof X_WING; publicKey: XWingPublicKey };

/** A key version's private key, unsealed (an X-Wing seed already expanded). */
export type PrivateKeyOf =
  { algorithm: typeof RSA_OAEP_256; privateKey: KeyObject } | { algorithm: typeof X_WING; privateKey: XWingPrivateKey };

/**
 * Every ciphertext either format can spell, as one pattern (the OpenAPI document states it for
 * every ciphertext); built from the two formats' own patterns.
 */
export const ANY_CIPHERTEXT_PATTERN = new RegExp(`^(?:${unanchored(CIPHERTEXT_PATTERN)}|${unanchored(EK2_CIPHERTEXT_PATTERN)})$`);

/**
 * The longest ciphertext of either format for a plaintext of `maxPlaintextBytes` UTF-8 bytes,
 * with room to spare: the item limit of a batch of ciphertexts (ek2's, whose encapsulation is the longer).
 */
export function maxAnyCiphertextLength(maxPlaintextBytes: number): number {
  return Math.max(maxCiphertextLength(maxPlaintextBytes), maxEk2CiphertextLength(maxPlaintextBytes));
}

/**
 * The largest JSON body a route taking ciphertexts (/decrypt, /rewrap, /rotate, /translate)
 * accepts, so that whatever /encrypt answered for a body within BODY_LIMIT is accepted back,
 * whichever format: the plaintext grows by 4/3 in base64url, and each of at most MAX_BATCH_ITEMS
 * items by its fixed fields (at most 1,550 characters for ek2, with its quotes and comma 1,553:
 * counted as 2,048), plus 4 KiB for the other fields (userId, a purpose of up to 200 escaped
 * characters). With the defaults (1 MiB, 1,000 items) 3,450,198 bytes.
 */
export function ciphertextBodyLimitBytes(bodyLimitBytes: number, maxBatchItems: number): number {
  return Math.ceil((bodyLimitBytes * 4) / 3) + maxBatchItems * 2048 + 4096;
}

/** True when the string claims to be a ciphertext of either format (the JSON walker looks no further otherwise). */
export function looksLikeAnyCiphertext(value: string): boolean {
  return value.startsWith(`${FORMAT_PREFIX}:`) || value.startsWith(`${EK2_PREFIX}:`);
}

/** Parses a ciphertext of either format by its prefix, or throws MalformedCiphertextError (ENC001). */
export function parseAnyCiphertext(value: string, memo?: SharedFieldMemo): AnyCiphertextParts {
  if (value.startsWith(`${EK2_PREFIX}:`)) return { format: EK2_PREFIX, ...parseEk2Ciphertext(value, memo) };
  if (value.startsWith(`${FORMAT_PREFIX}:`)) return { format: FORMAT_PREFIX, ...parseCiphertext(value, memo) };
  throw new MalformedCiphertextError(`is not an ${FORMAT_PREFIX} or ${EK2_PREFIX} ciphertext`);
}

/** The parts of a ciphertext of either format, or undefined when it is none; never throws. */
export function tryParseAnyCiphertext(value: string, memo?: SharedFieldMemo): AnyCiphertextParts | undefined {
  if (value.startsWith(`${EK2_PREFIX}:`)) {
    const parts = tryParseEk2Ciphertext(value, memo);
    return parts && { format: EK2_PREFIX, ...parts };
  }
  const parts = tryParseCiphertext(value, memo);
  return parts && { format: FORMAT_PREFIX, ...parts };
}

/**
 * The key version a ciphertext of either format names, read without decoding the rest (the
 * audit trail records it); undefined when the string names none. Says nothing about validity.
 */
export function keyVersionOfAny(value: string): number | undefined {
  if (!looksLikeAnyCiphertext(value)) return undefined;
  // Both prefixes are three characters and a colon.
  const start = FORMAT_PREFIX.length + 1;
  const end = value.indexOf(':', start);
  const version = end < 0 ? '' : value.slice(start, end);
  return VERSION.test(version) && Number(version) <= MAX_KEY_VERSION ? Number(version) : undefined;
}

/**
 * What the items of one encryption call share and no other call's do: ek1's wrapped data key,
 * ek2's encapsulation. A canary row is recognised by it.
 */
export function sharedKeyOf(parts: AnyCiphertextParts): Buffer {
  return parts.format === EK2_PREFIX ? parts.encapsulation : parts.wrappedKey;
}

/** The public key a key version publishes (PEM for RSA, base64 for X-Wing), parsed once per process. */
export function publishedPublicKey(algorithm: KeyAlgorithm, published: string): PublicKeyOf {
  return algorithm === X_WING
    ? { algorithm, publicKey: xwingPublicKeyObject(published) }
    : { algorithm: RSA_OAEP_256, publicKey: publicKeyObject(published) };
}

/** Encrypts a batch for one key version in its algorithm's format: ek2 for X-Wing, ek1 for RSA. */
export function encryptFor(items: readonly string[], recipient: { userId: string; keyVersion: number } & PublicKeyOf): string[] {
  const { userId, keyVersion } = recipient;
  return recipient.algorithm === X_WING
    ? encryptBatchEk2(items, { userId, keyVersion, publicKey: recipient.publicKey })
    : encryptBatch(items, { userId, keyVersion, publicKey: recipient.publicKey });
}

/**
 * Decrypts parsed items of either format of one user. `privateKeyFor` returns the unsealed key of
 * a version, or undefined when the user has no such version. An item whose format is not its
 * version's algorithm's fails authentication. Throws AuthenticationFailedError for the first
 * item (by position) that does not authenticate.
 */
export function decryptAny(
  userId: string,
  items: readonly AnyCiphertextParts[],
  privateKeyFor: (keyVersion: number) => PrivateKeyOf | undefined,
): string[] {
  const rsaKey = (version: number) => {
    const key = privateKeyFor(version);
    return key?.algorithm === RSA_OAEP_256 ? key.privateKey : undefined;
  };
  const xwingKey = (version: number) => {
    const key = privateKeyFor(version);
    return key?.algorithm === X_WING ? key.privateKey : undefined;
  };
  const ek1: number[] = [];
  const ek2: number[] = [];
  items.forEach((item, index) => (item.format === EK2_PREFIX ? ek2 : ek1).push(index));
  if (ek2.length === 0) return decryptBatch(userId, items as readonly CiphertextParts[], rsaKey);
  if (ek1.length === 0) return decryptBatchEk2(userId, items as readonly Ek2CiphertextParts[], xwingKey);
  // Both formats in one batch: each decrypted as its own batch, and the first failure by position named.
  const plaintexts = new Array<string>(items.length);
  let firstFailure: number | undefined;
  const run = (indexes: number[], decrypt: (group: AnyCiphertextParts[]) => string[]) => {
    try {
      decrypt(indexes.map((index) => items[index])).forEach((plaintext, at) => (plaintexts[indexes[at]] = plaintext));
    } catch (error) {
      if (!(error instanceof AuthenticationFailedError)) throw error;
      const index = indexes[error.index];
      firstFailure = firstFailure === undefined ? index : Math.min(firstFailure, index);
    }
  };
  run(ek1, (group) => decryptBatch(userId, group as CiphertextParts[], rsaKey));
  run(ek2, (group) => decryptBatchEk2(userId, group as Ek2CiphertextParts[], xwingKey));
  if (firstFailure !== undefined) throw new AuthenticationFailedError(firstFailure);
  return plaintexts;
}

function unanchored(pattern: RegExp): string {
  return pattern.source.replace(/^\^/, '').replace(/\$$/, '');
}
