import { merge } from '../common/audit-facts';
import { keyVersionOfAny } from './ciphertexts';
import { findCiphertexts } from './json-ciphertexts';

/** Key versions named by a list of ciphertexts (distinct, ascending); anything else is skipped. */
export function versionsIn(items: unknown): number[] {
  if (!Array.isArray(items)) return [];
  const versions = items.map((item) => (typeof item === 'string' ? keyVersionOfAny(item) : undefined));
  return merge(versions.filter((v): v is number => v !== undefined));
}

/** Versions of the ciphertexts inside any JSON document, one per ciphertext; undefined when it is not walkable. */
export function nestedCiphertextVersions(document: unknown): number[] | undefined {
  try {
    return findCiphertexts(document, 'data', Number.MAX_SAFE_INTEGER).map((found) => found.parts.keyVersion);
  } catch {
    return undefined;
  }
}
