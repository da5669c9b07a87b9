import { SharedFieldMemo } from '../src/envelope/ciphertext-format';
import { decryptAny, encryptFor, parseAnyCiphertext, X_WING } from '../src/envelope/ciphertexts';
import { generateXWingSeed, XWingPrivateKey, XWingPublicKey } from '../src/envelope/xwing';

/**
 * What the bare references (bench/bare-express.ts, bench/bare-fastify.ts) serve: the service's
 * envelope for one person whose key is X-Wing, the service's default algorithm, with the key
 * parsed and expanded once, as the service's caches hold it.
 */
export const USER_ID = '4242';
/** Large enough for a 1,000-item decrypt body (about 1.7 MB of ek2 ciphertexts of 32-byte items). */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;

const privateKey = XWingPrivateKey.fromSeed(generateXWingSeed());
const recipient = {
  userId: USER_ID,
  keyVersion: 1,
  algorithm: X_WING as typeof X_WING,
  publicKey: XWingPublicKey.fromBytes(privateKey.publicKey),
};

export const encrypt = (items: readonly string[]): string[] => encryptFor(items, recipient);

export function decrypt(items: readonly string[]): string[] {
  const memo = new SharedFieldMemo();
  return decryptAny(
    USER_ID,
    items.map((item) => parseAnyCiphertext(item, memo)),
    () => ({ algorithm: X_WING as typeof X_WING, privateKey }),
  );
}
