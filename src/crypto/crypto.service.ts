import { Injectable } from '@nestjs/common';
import { ApiError, invalidInput } from '../common/api-error';
import { assertBatchWithinLimits } from '../common/validation';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { BlindIndexAnswer } from '../indexes/dto/index.dto';
import { IndexesService } from '../indexes/indexes.service';
import { KeyMaterialService } from '../keys/key-material.service';
import { MalformedCiphertextError } from '../envelope/ciphertext-format';
import { SharedFieldMemo } from '../envelope/ciphertext-format';
import { AnyCiphertextParts, decryptAny, encryptFor, maxAnyCiphertextLength, parseAnyCiphertext } from '../envelope/ciphertexts';
import { AuthenticationFailedError } from '../envelope/open-batch';
import { CanaryRegistry, CanaryTrippedError } from './canary-registry.service';
import { BATCH_ITEMS, inSpan, KEY_VERSIONS, versionsOf } from './crypto.tracing';

/** Batch encrypt and decrypt for one user: validation, key lookup, and the envelope. */
@Injectable()
export class CryptoService {
  constructor(
    private readonly keys: KeyMaterialService,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly indexes: IndexesService,
    private readonly canaries: CanaryRegistry,
  ) {}

  /**
   * Needs only the (cached) public key: never the database's private material, never KMS. ek2
   * for a current version of X-Wing, ek1 for RSA-OAEP-256.
   */
  async encrypt(userId: string, items: string[]): Promise<string[]> {
    assertBatchWithinLimits('data', items, this.config.limits);
    return inSpan('crypto.encrypt', { [BATCH_ITEMS]: items.length }, async (span) => {
      const key = await this.keys.currentPublicKey(userId);
      const { keyVersion } = key;
      span.setAttribute(KEY_VERSIONS, [keyVersion]);
      const encrypted = await inSpan('envelope.encrypt', { [BATCH_ITEMS]: items.length, [KEY_VERSIONS]: [keyVersion] }, () =>
        encryptFor(items, { userId, ...key }),
      );
      this.metrics.countCryptoItems('encrypt', items.length);
      return encrypted;
    });
  }

  /**
   * /encrypt: the ciphertexts and, when `index` names a blind index, one index per item computed
   * from the same plaintexts (docs/blind-indexes.md), so a row is stored with its lookup key in one call.
   */
  async encryptAndIndex(
    userId: string,
    items: string[],
    index?: string,
  ): Promise<{ encryptedData: string[]; blindIndexes?: BlindIndexAnswer }> {
    const [encryptedData, blindIndexes] = await Promise.all([
      this.encrypt(userId, items),
      index === undefined ? undefined : this.indexes.compute(index, items),
    ]);
    return { encryptedData, ...(blindIndexes && { blindIndexes }) };
  }

  /** All or nothing: the first malformed item is ENC001, the first unauthentic one ENC002. */
  async decrypt(userId: string, items: string[]): Promise<string[]> {
    return this.decryptParsed(userId, this.parseAll('data', items), (index) => `data[${index}]`);
  }

  /**
   * Decrypts parsed ciphertexts of one user, ek1 and ek2 alike: one key-provider call per version
   * named, one unwrap (ek1) or decapsulation (ek2) per distinct data key. ENC002 names the first
   * item that fails, as `nameOf` spells it: tampered, another person's, or of a format that is not
   * its version's algorithm's (an ek2 item under an RSA version, or the reverse); a canary
   * ciphertext fails the same way (CanaryTrippedError, recorded by CanaryTripwire).
   */
  async decryptParsed(userId: string, items: AnyCiphertextParts[], nameOf: (index: number) => string): Promise<string[]> {
    const batch = { [BATCH_ITEMS]: items.length, [KEY_VERSIONS]: versionsOf(items.map((item) => item.keyVersion)) };
    return inSpan('crypto.decrypt', batch, async () => {
      const privateKeys = await this.keys.unsealPrivateKeys(
        userId,
        items.map((item) => item.keyVersion),
      );
      // A canary is refused like a tampered item, and after the same key lookup, so neither the
      // answer nor its timing sets it apart. One Map lookup per item; none while there are no canaries.
      const canary = this.canaries.find(items);
      if (canary) throw new CanaryTrippedError(canary.canaryId, unauthentic(nameOf(canary.index)));
      return inSpan('envelope.decrypt', batch, () => {
        try {
          const plaintexts = decryptAny(userId, items, (version) => privateKeys.get(version));
          this.metrics.countCryptoItems('decrypt', items.length);
          return plaintexts;
        } catch (error) {
          if (error instanceof AuthenticationFailedError) {
            throw new ApiError('ENC002', unauthentic(nameOf(error.index)));
          }
          throw error;
        }
      });
    });
  }

  /** Parses a batch of ciphertext strings of either format; ENC001 names the first malformed one. */
  parseAll(field: string, items: string[]): AnyCiphertextParts[] {
    assertBatchWithinLimits(field, items, { ...this.config.limits, maxItemBytes: maxAnyCiphertextLength(this.config.limits.maxItemBytes) });
    // The items of one encryption repeat their 1,120-byte encapsulation (or wrapped key): decoded once per batch.
    const memo = new SharedFieldMemo();
    return items.map((item, index) => {
      try {
        return parseAnyCiphertext(item, memo);
      } catch (error) {
        if (error instanceof MalformedCiphertextError) throw invalidInput(`${field}[${index}] ${error.message}`);
        throw error;
      }
    });
  }
}

/** The one message of ENC002, for a tampered item and a canary alike. */
const unauthentic = (name: string) => `${name} failed authentication: tampered, or not encrypted for this user`;
