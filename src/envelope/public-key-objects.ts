import { createPublicKey, KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** Distinct public keys kept parsed; a miss only costs one parse. */
const MAX_PARSED_KEYS = 10_000;

const parsed = new LRUCache<string, KeyObject>({ max: MAX_PARSED_KEYS });

/**
 * The KeyObject of an SPKI PEM public key, parsed once per process: parsing costs more than the
 * RSA public operation it serves, and every /encrypt (the user's key) and every token check
 * (the issuer's key) needs one. Keyed by the PEM itself, so a rotated or destroyed key is never
 * served for a user: which PEM is current is still decided by the caller. Public material only.
 */
export function publicKeyObject(pem: string): KeyObject {
  let key = parsed.get(pem);
  if (!key) {
    key = createPublicKey(pem);
    parsed.set(pem, key);
  }
  return key;
}
