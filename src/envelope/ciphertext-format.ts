/**
 * The ciphertext string format, version 1 — the one place that knows it (docs/ciphertext-format.md).
 *
 *   ek1:<keyVersion>:<wrappedKey>:<iv>:<ciphertext>:<tag>
 *
 * keyVersion is a decimal integer; every other field is unpadded base64url. wrappedKey is the
 * AES-256 data key encrypted with RSA-OAEP-SHA256 under the user's public key of that version,
 * iv is 12 bytes, tag is the 16-byte GCM tag, and the GCM additional data is
 * `ek1|<userId>|<keyVersion>` in ASCII, so a ciphertext moved to another user or version fails.
 */
import { BASE64URL_ANY_LENGTH, base64urlOfLength, positiveDecimalUpTo, whole } from '../common/patterns';

export const FORMAT_PREFIX = 'ek1';
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const DATA_KEY_BYTES = 32;
/** RSA-2048, -3072 and -4096 produce wrapped keys of exactly the modulus size. */
export const WRAPPED_KEY_BYTES = [256, 384, 512] as const;
export const MAX_KEY_VERSION = 2_147_483_647;

/**
 * The whole format as one pattern, built from the same constants as the parser below: the OpenAPI
 * document states it for every ciphertext, and a property test holds it to what the parser accepts.
 */
export const CIPHERTEXT_PATTERN = whole(
  [
    FORMAT_PREFIX,
    positiveDecimalUpTo(BigInt(MAX_KEY_VERSION)),
    base64urlOfLength(...WRAPPED_KEY_BYTES),
    base64urlOfLength(IV_BYTES),
    BASE64URL_ANY_LENGTH,
    base64urlOfLength(TAG_BYTES),
  ].join(':'),
);

/**
 * The longest ciphertext a plaintext of `maxPlaintextBytes` UTF-8 bytes produces, with room to
 * spare (base64url of the plaintext plus the fixed fields): the item limit of a batch of ciphertexts.
 */
export function maxCiphertextLength(maxPlaintextBytes: number): number {
  return Math.ceil((maxPlaintextBytes * 4) / 3) + 1024;
}

export interface CiphertextParts {
  keyVersion: number;
  wrappedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export class MalformedCiphertextError extends Error {}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** A key version field as text (ek1 and ek2 alike); the value must also be at most MAX_KEY_VERSION. */
export const VERSION = /^[1-9][0-9]{0,9}$/;

export function formatCiphertext(parts: CiphertextParts): string {
  return formatItem(sharedPrefix(FORMAT_PREFIX, parts.keyVersion, parts.wrappedKey), parts);
}

/**
 * The fields the items of one encryption share, as text: format, key version and shared key
 * field, with the separator after them. An envelope encodes it once per batch (ek1 and ek2 alike).
 */
export function sharedPrefix(format: string, keyVersion: number, sharedKey: Buffer): string {
  return `${format}:${keyVersion}:${sharedKey.toString('base64url')}:`;
}

/** One item: the batch's shared prefix, then its IV, ciphertext and tag. */
export function formatItem(prefix: string, item: { iv: Buffer; ciphertext: Buffer; tag: Buffer }): string {
  return `${prefix}${item.iv.toString('base64url')}:${item.ciphertext.toString('base64url')}:${item.tag.toString('base64url')}`;
}

/** True when the string claims to be a ciphertext of this format (used to find them in JSON). */
export function looksLikeCiphertext(value: string): boolean {
  return value.startsWith(`${FORMAT_PREFIX}:`);
}

/** Parses a ciphertext string, or throws MalformedCiphertextError saying what is wrong. */
export function parseCiphertext(value: string, memo?: SharedFieldMemo): CiphertextParts {
  const parsed = readCiphertext(value, memo);
  if (typeof parsed === 'string') throw new MalformedCiphertextError(parsed);
  return parsed;
}

/**
 * The parts of a ciphertext string, or undefined when it is not one. Never throws: the JSON
 * walker meets any number of strings that merely look like a ciphertext, and an exception per
 * string (with its stack trace) cost a hundred times the parse.
 */
export function tryParseCiphertext(value: string, memo?: SharedFieldMemo): CiphertextParts | undefined {
  const parsed = readCiphertext(value, memo);
  return typeof parsed === 'string' ? undefined : parsed;
}

/** The parts, or what is wrong with the string. */
function readCiphertext(value: string, memo?: SharedFieldMemo): CiphertextParts | string {
  // At most one field more than the format has: a string of a million colons stays one string.
  const fields = value.split(':', 7);
  if (fields.length !== 6 || fields[0] !== FORMAT_PREFIX) return `is not an ${FORMAT_PREFIX} ciphertext`;
  const [, version, wrappedKeyText, ivText, ciphertextText, tagText] = fields;
  if (!VERSION.test(version) || Number(version) > MAX_KEY_VERSION) return 'has an invalid key version';
  const wrappedKey = memo ? memo.decode(wrappedKeyText) : decodeField(wrappedKeyText);
  if (!wrappedKey) return 'has an invalid wrapped key encoding';
  const iv = decodeField(ivText);
  if (!iv) return 'has an invalid IV encoding';
  const ciphertext = decodeField(ciphertextText);
  if (!ciphertext) return 'has an invalid ciphertext encoding';
  const tag = decodeField(tagText);
  if (!tag) return 'has an invalid tag encoding';
  if (!(WRAPPED_KEY_BYTES as readonly number[]).includes(wrappedKey.length)) return 'has a wrapped key of the wrong length';
  if (iv.length !== IV_BYTES) return 'has an IV of the wrong length';
  if (tag.length !== TAG_BYTES) return 'has a tag of the wrong length';
  memo?.remember(wrappedKeyText, wrappedKey);
  return { keyVersion: Number(version), wrappedKey, iv, ciphertext, tag };
}

/**
 * The key version a ciphertext names, read without decoding the rest (the audit trail records
 * it); undefined when the string names none. Says nothing about whether the ciphertext is valid.
 */
export function keyVersionOf(value: string): number | undefined {
  if (!looksLikeCiphertext(value)) return undefined;
  const start = FORMAT_PREFIX.length + 1;
  const end = value.indexOf(':', start);
  const version = end < 0 ? '' : value.slice(start, end);
  return VERSION.test(version) && Number(version) <= MAX_KEY_VERSION ? Number(version) : undefined;
}

/** GCM additional data: binds format, user and key version to every item. */
export function additionalData(userId: string, keyVersion: number): Buffer {
  return Buffer.from(`${FORMAT_PREFIX}|${userId}|${keyVersion}`, 'ascii');
}

/**
 * The shared key field (ek1's wrapped data key, ek2's 1,120-byte encapsulation) of the last valid
 * item parsed in one batch. The items of one encryption repeat it, so a batch decodes and checks
 * it once, not once per item: a field equal to the remembered text is the remembered bytes. Only
 * the field of an item that parsed whole is remembered; every other check still runs per item.
 */
export class SharedFieldMemo {
  private text?: string;
  private bytes?: Buffer;

  decode(text: string): Buffer | undefined {
    return text === this.text ? this.bytes : decodeField(text);
  }

  remember(text: string, bytes: Buffer): void {
    this.text = text;
    this.bytes = bytes;
  }
}

/** The bytes of a canonical unpadded base64url field, or undefined (ek1 and ek2 alike). */
export function decodeField(field: string): Buffer | undefined {
  const bytes = BASE64URL.test(field) ? Buffer.from(field, 'base64url') : undefined;
  // Re-encoding must give the same text, so that one ciphertext has exactly one spelling.
  return bytes && bytes.toString('base64url') === field ? bytes : undefined;
}
