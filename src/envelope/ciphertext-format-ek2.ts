/**
 * The ciphertext string format, version 2 — the one place that knows it (docs/ciphertext-format.md, "ek2"):
 * the items of a person's key version whose algorithm is X-Wing (ML-KEM-768 + X25519).
 *
 *   ek2:<keyVersion>:<encapsulation>:<iv>:<ciphertext>:<tag>
 *
 * keyVersion is a decimal integer; every other field is unpadded base64url. encapsulation is the
 * 1120-byte X-Wing ciphertext whose shared secret, through HKDF-SHA-256, is the AES-256-GCM key;
 * iv is 12 bytes, tag is the 16-byte GCM tag, and the GCM additional data is
 * `ek2|<userId>|<keyVersion>|X-Wing` in ASCII, so a ciphertext moved to another user, version or
 * algorithm fails. Same layout, encodings and version rules as ek1 (ciphertext-format.ts).
 */
import { BASE64URL_ANY_LENGTH, base64urlOfLength, positiveDecimalUpTo, whole } from '../common/patterns';
import {
  decodeField,
  formatItem,
  IV_BYTES,
  MalformedCiphertextError,
  MAX_KEY_VERSION,
  SharedFieldMemo,
  sharedPrefix,
  TAG_BYTES,
  VERSION,
} from './ciphertext-format';
import { XWING_CIPHERTEXT_BYTES } from './xwing';

export const EK2_PREFIX = 'ek2';
/**
 * The algorithm ek2 items are encrypted under, as a key version states it (GET /keys/{userId}'s
 * `algorithm`, beside RSA's `RSA-OAEP-256`) and the additional data binds it.
 */
export const EK2_ALGORITHM = 'X-Wing';
export const ENCAPSULATION_BYTES = XWING_CIPHERTEXT_BYTES;

/** The whole format as one pattern, built from the same constants as the parser below. */
export const EK2_CIPHERTEXT_PATTERN = whole(
  [
    EK2_PREFIX,
    positiveDecimalUpTo(BigInt(MAX_KEY_VERSION)),
    base64urlOfLength(ENCAPSULATION_BYTES),
    base64urlOfLength(IV_BYTES),
    BASE64URL_ANY_LENGTH,
    base64urlOfLength(TAG_BYTES),
  ].join(':'),
);

/**
 * The longest ek2 ciphertext a plaintext of `maxPlaintextBytes` UTF-8 bytes produces, with room to
 * spare: the fixed fields take up to 1,550 characters (the encapsulation alone 1,494), more than
 * ek1's allowance of 1,024.
 */
export function maxEk2CiphertextLength(maxPlaintextBytes: number): number {
  return Math.ceil((maxPlaintextBytes * 4) / 3) + 2048;
}

export interface Ek2CiphertextParts {
  keyVersion: number;
  /** The X-Wing ciphertext (ct_M || ct_X), shared by the items of one request. */
  encapsulation: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function formatEk2Ciphertext(parts: Ek2CiphertextParts): string {
  return formatItem(sharedPrefix(EK2_PREFIX, parts.keyVersion, parts.encapsulation), parts);
}

/** True when the string claims to be an ek2 ciphertext. */
export function looksLikeEk2Ciphertext(value: string): boolean {
  return value.startsWith(`${EK2_PREFIX}:`);
}

/** Parses an ek2 ciphertext string, or throws MalformedCiphertextError (ENC001) saying what is wrong. */
export function parseEk2Ciphertext(value: string, memo?: SharedFieldMemo): Ek2CiphertextParts {
  const parsed = readEk2Ciphertext(value, memo);
  if (typeof parsed === 'string') throw new MalformedCiphertextError(parsed);
  return parsed;
}

/** The parts of an ek2 ciphertext string, or undefined when it is not one; never throws. */
export function tryParseEk2Ciphertext(value: string, memo?: SharedFieldMemo): Ek2CiphertextParts | undefined {
  const parsed = readEk2Ciphertext(value, memo);
  return typeof parsed === 'string' ? undefined : parsed;
}

function readEk2Ciphertext(value: string, memo?: SharedFieldMemo): Ek2CiphertextParts | string {
  // At most one field more than the format has.
  const fields = value.split(':', 7);
  if (fields.length !== 6 || fields[0] !== EK2_PREFIX) return `is not an ${EK2_PREFIX} ciphertext`;
  const [, version, encapsulationText, ivText, ciphertextText, tagText] = fields;
  if (!VERSION.test(version) || Number(version) > MAX_KEY_VERSION) return 'has an invalid key version';
  const encapsulation = memo ? memo.decode(encapsulationText) : decodeField(encapsulationText);
  if (!encapsulation) return 'has an invalid encapsulation encoding';
  const iv = decodeField(ivText);
  if (!iv) return 'has an invalid IV encoding';
  const ciphertext = decodeField(ciphertextText);
  if (!ciphertext) return 'has an invalid ciphertext encoding';
  const tag = decodeField(tagText);
  if (!tag) return 'has an invalid tag encoding';
  if (encapsulation.length !== ENCAPSULATION_BYTES) return 'has an encapsulation of the wrong length';
  if (iv.length !== IV_BYTES) return 'has an IV of the wrong length';
  if (tag.length !== TAG_BYTES) return 'has a tag of the wrong length';
  memo?.remember(encapsulationText, encapsulation);
  return { keyVersion: Number(version), encapsulation, iv, ciphertext, tag };
}

/** GCM additional data: binds format, user, key version and algorithm to every item. */
export function ek2AdditionalData(userId: string, keyVersion: number): Buffer {
  return Buffer.from(`${EK2_PREFIX}|${userId}|${keyVersion}|${EK2_ALGORITHM}`, 'ascii');
}
