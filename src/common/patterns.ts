/**
 * Builders of regular-expression sources for rules whose bound is a number: the validation and
 * the OpenAPI document use the one pattern built here from that number, so they cannot drift.
 * Sources carry no anchors and no flags, and use only what every JSON Schema tool reads.
 */

/** The decimal integers 1 to `max`, without leading zeros, e.g. 9223372036854775807 for a user id. */
export function positiveDecimalUpTo(max: bigint): string {
  if (max < 1n) throw new RangeError('max must be at least 1');
  const digits = max.toString();
  const shorter = digits.length === 1 ? [] : [`[1-9]${anyDigits(0, digits.length - 2)}`];
  return group([...shorter, sameLength(digits, 0)]);
}

/** Numbers with as many digits as `digits` that are at most it, given that its first `index` digits match. */
function sameLength(digits: string, index: number): string {
  const lowest = index === 0 ? 1 : 0;
  const digit = Number(digits[index]);
  const rest = digits.length - index - 1;
  const alternatives: string[] = [];
  if (digit > lowest) alternatives.push(`${digitRange(lowest, digit - 1)}${anyDigits(rest, rest)}`);
  alternatives.push(rest === 0 ? `${digit}` : `${digit}${group([sameLength(digits, index + 1)])}`);
  return alternatives.join('|');
}

function digitRange(from: number, to: number): string {
  return from === to ? `${from}` : `[${from}-${to}]`;
}

function anyDigits(min: number, max: number): string {
  if (max === 0) return '';
  if (min === max) return max === 1 ? '[0-9]' : `[0-9]{${max}}`;
  return `[0-9]{${min},${max}}`;
}

function group(alternatives: string[]): string {
  const joined = alternatives.join('|');
  return alternatives.length > 1 || joined.includes('|') ? `(?:${joined})` : joined;
}

const BASE64URL_CHAR = '[A-Za-z0-9_-]';
/** Last characters of canonical unpadded base64url when 1 or 2 bytes remain (the unused bits are zero). */
const LAST_OF_ONE_BYTE = '[AQgw]';
const LAST_OF_TWO_BYTES = '[AEIMQUYcgkosw048]';

/** Canonical unpadded base64url of exactly one of the given byte lengths (one spelling per value). */
export function base64urlOfLength(...byteLengths: number[]): string {
  return group(
    byteLengths.map((bytes) => {
      const whole = Math.floor(bytes / 3) * 4;
      const remainder = bytes % 3;
      if (remainder === 0) return `${BASE64URL_CHAR}{${whole}}`;
      return remainder === 1 ? `${BASE64URL_CHAR}{${whole + 1}}${LAST_OF_ONE_BYTE}` : `${BASE64URL_CHAR}{${whole + 2}}${LAST_OF_TWO_BYTES}`;
    }),
  );
}

/** Canonical unpadded base64url of any number of bytes, the empty string included. */
export const BASE64URL_ANY_LENGTH = `(?:${BASE64URL_CHAR}{4})*(?:${BASE64URL_CHAR}${LAST_OF_ONE_BYTE}|${BASE64URL_CHAR}{2}${LAST_OF_TWO_BYTES})?`;

/** Anchors a source as a whole-string pattern. */
export function whole(source: string, flags = ''): RegExp {
  return new RegExp(`^${source}$`, flags);
}
