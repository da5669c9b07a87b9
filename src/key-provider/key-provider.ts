/**
 * Seals and unseals private keys. Business code sees only this interface; which implementation
 * runs (`local` or `kms`) is decided once, by KEY_PROVIDER, in KeyProviderModule.
 */
export const KEY_PROVIDER = Symbol('KEY_PROVIDER');

/** What a sealed key is bound to: unsealing under any other context fails. */
export type SealContext = UserKeyContext | SecretContext;

/** A user's private key. */
export interface UserKeyContext {
  userId: string;
  keyVersion: number;
}

/** A platform-wide secret, such as a blind-index key: what it is (`blind-index:sin`) and its version. */
export interface SecretContext {
  secret: string;
  keyVersion: number;
}

export interface SealedKey {
  provider: string;
  /** The KMS key that sealed it (its ARN), or `local` for the local master key. */
  keyId: string;
  ciphertext: Buffer;
}

export interface KeyProvider {
  readonly name: string;
  seal(plaintext: Buffer, context: SealContext): Promise<SealedKey>;
  /** Returns the plaintext; the caller zeroes it after use. */
  unseal(sealed: SealedKey, context: SealContext): Promise<Buffer>;
  /**
   * The key new seals go under (a KMS key ARN, or `local:<fingerprint>` for a local master key):
   * a sealed key whose `keyId` differs is due for `reseal`.
   */
  currentKeyId(): Promise<string>;
  /**
   * The same secret sealed under the current key, with the same context. KMS does it in one
   * ReEncrypt call, so the plaintext never reaches this process; the local provider opens and
   * seals within this call and zeroes the plaintext.
   */
  reseal(sealed: SealedKey, context: SealContext): Promise<SealedKey>;
  /** Resolves when the provider can seal and unseal now; rejects with the reason otherwise. */
  checkHealth(): Promise<Record<string, unknown>>;
}

/** Thrown when a sealed key does not unseal under its context: tampered, or not this key. */
export class UnsealFailedError extends Error {}
