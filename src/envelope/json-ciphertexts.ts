import { invalidInput } from '../common/api-error';
import { MAX_JSON_DEPTH } from '../common/limits';
import { AnyCiphertextParts, looksLikeAnyCiphertext, tryParseAnyCiphertext } from './ciphertexts';

/** A ciphertext found inside a JSON document, with its JSON path for error messages. */
export interface FoundCiphertext {
  path: string;
  parts: AnyCiphertextParts;
}

/**
 * Finds every string in `document` that parses as a ciphertext (ek1 or ek2). Strings that merely look like
 * one (the prefix without a valid body) are ordinary values and stay untouched. Refuses
 * documents deeper than MAX_JSON_DEPTH or holding more than `maxCiphertexts` ciphertexts.
 */
export function findCiphertexts(document: unknown, root: string, maxCiphertexts: number): FoundCiphertext[] {
  const found: FoundCiphertext[] = [];
  // Keys and indexes down to the value being visited, spelt out as a path only when one is needed:
  // building a path string for each of tens of thousands of values cost more than the walk.
  const segments: (string | number)[] = [];
  const pathHere = () => root + segments.map((segment) => (typeof segment === 'number' ? `[${segment}]` : propertyPath(segment))).join('');
  const visit = (value: unknown, depth: number): void => {
    if (depth > MAX_JSON_DEPTH) throw invalidInput(`${pathHere()} is nested deeper than ${MAX_JSON_DEPTH} levels`);
    if (typeof value === 'string') {
      const parts = asCiphertext(value);
      if (!parts) return;
      found.push({ path: pathHere(), parts });
      if (found.length > maxCiphertexts) {
        throw invalidInput(`${root} holds more than ${maxCiphertexts} ciphertexts`);
      }
    } else if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        segments.push(index);
        visit(value[index], depth + 1);
        segments.pop();
      }
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        segments.push(key);
        visit(item, depth + 1);
        segments.pop();
      }
    }
  };
  visit(document, 0);
  return found;
}

/**
 * A copy of `document` with the string at each found path replaced, in the order found.
 * Every other value, including key order, stays as it was.
 */
export function replaceCiphertexts(document: unknown, replacements: readonly string[]): unknown {
  let next = 0;
  const rebuild = (value: unknown): unknown => {
    if (typeof value === 'string') return asCiphertext(value) ? replacements[next++] : value;
    if (Array.isArray(value)) return value.map(rebuild);
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, rebuild(item)]));
    }
    return value;
  };
  return rebuild(document);
}

function asCiphertext(value: string): AnyCiphertextParts | undefined {
  return looksLikeAnyCiphertext(value) ? tryParseAnyCiphertext(value) : undefined;
}

function propertyPath(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
