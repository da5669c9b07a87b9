import { createPublicKey, KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { XWingInputError, XWingPublicKey } from './xwing';

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

const parsedXWing = new LRUCache<string, XWingPublicKey>({ max: MAX_PARSED_KEYS });

/**
 * The parsed X-Wing public key of its published form (standard base64 of the 1216 bytes), once
 * per process, like publicKeyObject. Throws XWingInputError for anything else.
 */
export function xwingPublicKeyObject(base64: string): XWingPublicKey {
  let key = parsedXWing.get(base64);
  if (!key) {
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.toString('base64') !== base64) throw new XWingInputError('an X-Wing public key is published as standard base64');
    key = XWingPublicKey.fromBytes(bytes);
    parsedXWing.set(base64, key);
  }
  return key;
}
