import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { encryptFor, PublicKeyOf } from '../envelope/ciphertexts';
import { findCiphertexts, FoundCiphertext, replaceCiphertexts } from '../envelope/json-ciphertexts';
import { CryptoService } from './crypto.service';

/** A key ciphertexts are re-encrypted under: ek2 when its algorithm is X-Wing, ek1 when RSA-OAEP-256. */
export type RecipientKey = { keyVersion: number } & PublicKeyOf;

export interface ReencryptionTarget<K extends RecipientKey> {
  userId: string;
  /**
   * The key, or how to get it. A function is called only once every item has decrypted, so a
   * rotation creates its new key only for input that is sound.
   */
  key: K | (() => Promise<K>);
}

/**
 * Re-encryption of one user's ciphertexts under another key (the same user's next or current
 * version, or a delegate's key), for /rotate, /rewrap and /translate. Plaintext exists only in
 * memory between the decryption and the encryption here; callers get ciphertexts only.
 */
@Injectable()
export class ReEncryptionService {
  constructor(
    private readonly crypto: CryptoService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Decrypts `items` of `fromUserId`, of either format (all or nothing: ENC002 names the first
   * item that fails by its path), and encrypts them, in order, under the target's key in its
   * algorithm's format, whatever the format they came in.
   */
  async reencrypt<K extends RecipientKey>(
    fromUserId: string,
    items: readonly FoundCiphertext[],
    target: ReencryptionTarget<K>,
  ): Promise<{ ciphertexts: string[]; key: K }> {
    const plaintexts = await this.crypto.decryptParsed(
      fromUserId,
      items.map((item) => item.parts),
      (index) => items[index].path,
    );
    const key = typeof target.key === 'function' ? await target.key() : target.key;
    return { ciphertexts: encryptFor(plaintexts, { ...key, userId: target.userId }), key };
  }

  /**
   * The ciphertexts inside a JSON document, named by their JSON path under `field`
   * (`data[3].account.sin`). ENC001 when it is nested too deep or holds more than MAX_BATCH_ITEMS.
   */
  findInDocument(field: string, document: unknown): FoundCiphertext[] {
    return findCiphertexts(document, field, this.config.limits.maxBatchItems);
  }

  /** A list of ciphertext strings, named `field[index]`; ENC001 names the first malformed one. */
  parseList(field: string, items: string[]): FoundCiphertext[] {
    return this.crypto.parseAll(field, items).map((parts, index) => ({ path: `${field}[${index}]`, parts }));
  }

  /** A copy of `document` with its ciphertexts, in the order found, replaced by `ciphertexts`. */
  replaceInDocument(document: unknown, ciphertexts: readonly string[]): unknown {
    return replaceCiphertexts(document, ciphertexts);
  }
}
