import { createHmac, KeyObject } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { INDEX_MIN_COINCIDENCES } from '../common/limits';

/**
 * Blind indexes (docs/blind-indexes.md): a keyed hash of the normalised plaintext, truncated so
 * that each value shares its index with others on purpose, after CipherSweet's design. Pure
 * functions: normalisation, the HMAC and its truncation, and the leakage planner.
 */

/** How a value is normalised before it is hashed, so one value spelled differently gives one index. */
export const NORMALISATIONS = ['digits', 'email', 'text'] as const;
export type Normalisation = (typeof NORMALISATIONS)[number];

/** `email` only: whether the local part (before the last @) is kept as written or lower-cased too. */
export const EMAIL_LOCAL_PARTS = ['exact', 'lowercase'] as const;
export type EmailLocalPart = (typeof EMAIL_LOCAL_PARTS)[number];

export interface NormalisationRule {
  normalisation: Normalisation;
  /** `email` only; default `exact`. */
  emailLocalPart?: EmailLocalPart;
}

/** A value that has nothing left to index once normalised. The message never quotes the value. */
export class NormalisationError extends Error {}

/**
 * The normalised form of `value`:
 *
 * - `digits`: Unicode NFKC (full-width digits become ASCII), then every character but 0–9
 *   dropped: `046 454 286`, `046-454-286` and `０４６４５４２８６` all give `046454286`.
 * - `email`: surrounding whitespace trimmed, the domain lower-cased and in its ASCII (punycode)
 *   form, the local part kept as written unless the definition says `lowercase`:
 *   ` Jane.Doe@Example.COM ` gives `Jane.Doe@example.com`.
 * - `text`: Unicode NFKC, case-folded (upper-cased then lower-cased, so `ß` and `SS` agree),
 *   every run of whitespace one space, trimmed: `  Ｊａｎｅ\t DOE ` gives `jane doe`.
 */
export function normalise(value: string, rule: NormalisationRule): string {
  switch (rule.normalisation) {
    case 'digits': {
      const digits = value.normalize('NFKC').replace(/[^0-9]/g, '');
      if (!digits) throw new NormalisationError('has no digits');
      return digits;
    }
    case 'email': {
      const address = value.trim();
      const at = address.lastIndexOf('@');
      const local = address.slice(0, at);
      const domain = at > 0 ? domainToASCII(address.slice(at + 1).replace(/\.$/, '')) : '';
      if (!local || !domain || /\s/u.test(local)) throw new NormalisationError('is not an email address (local-part@domain)');
      return `${rule.emailLocalPart === 'lowercase' ? local.normalize('NFKC').toLowerCase() : local}@${domain.toLowerCase()}`;
    }
    case 'text': {
      const folded = value.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
      const text = folded.replace(/\s+/gu, ' ').trim();
      if (!text) throw new NormalisationError('is empty once whitespace is removed');
      return text;
    }
  }
}

/**
 * The blind index of an already normalised value: HMAC-SHA256 under the index key, truncated
 * to its first `bits` bits (the bits past them in the last byte zeroed), base64url without padding.
 */
export function blindIndex(key: KeyObject, normalised: string, bits: number): string {
  const mac = createHmac('sha256', key).update(normalised, 'utf8').digest();
  const bytes = mac.subarray(0, Math.ceil(bits / 8));
  const spare = bytes.length * 8 - bits;
  if (spare > 0) bytes[bytes.length - 1] &= 0xff << spare;
  return bytes.toString('base64url');
}

/** What an index of `bits` bits over `cardinality` distinct values reveals, as CipherSweet's planner reports it. */
export interface IndexPlan {
  /**
   * Distinct values expected to share one index value: cardinality / 2^bits. A lookup returns
   * about this many candidates to decrypt and compare; below INDEX_MIN_COINCIDENCES most indexes
   * name a single value.
   */
  expectedCoincidences: number;
  /**
   * Output sizes that keep at least INDEX_MIN_COINCIDENCES values per index (max) while a
   * lookup returns fewer candidates than √cardinality (min); null when no size does.
   */
  recommendedBits: { min: number; max: number } | null;
  /** True when the size would make (almost) every index unique for this cardinality. */
  unique: boolean;
}

export function planIndex(cardinality: number, bits: number): IndexPlan {
  const expectedCoincidences = cardinality / 2 ** bits;
  const max = Math.floor(Math.log2(cardinality / INDEX_MIN_COINCIDENCES));
  const min = Math.min(max, Math.floor(Math.log2(cardinality) / 2) + 1);
  return {
    expectedCoincidences,
    recommendedBits: max >= 1 ? { min: Math.max(1, min), max } : null,
    unique: expectedCoincidences < INDEX_MIN_COINCIDENCES,
  };
}
