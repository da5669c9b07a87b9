import { Injectable } from '@nestjs/common';
import { ApiError, invalidInput } from '../common/api-error';
import { assertBatchWithinLimits } from '../common/validation';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { BlindIndexAnswer } from '../indexes/dto/index.dto';
import { IndexesService } from '../indexes/indexes.service';
import { KeyMaterialService } from '../keys/key-material.service';
import { CiphertextParts, MalformedCiphertextError, maxCiphertextLength, parseCiphertext } from '../envelope/ciphertext-format';
import { AuthenticationFailedError, decryptBatch, encryptBatch } from '../envelope/envelope';
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

  /** Needs only the (cached) public key: never the database's private material, never KMS. */
  async encrypt(userId: string, items: string[]): Promise<string[]> {
    assertBatchWithinLimits('data', items, this.config.limits);
    return inSpan('crypto.encrypt', { [BATCH_ITEMS]: items.length }, async (span) => {
      const { keyVersion, publicKey } = await this.keys.currentPublicKey(userId);
      span.setAttribute(KEY_VERSIONS, [keyVersion]);
      const encrypted = await inSpan('envelope.encrypt', { [BATCH_ITEMS]: items.length, [KEY_VERSIONS]: [keyVersion] }, () =>
        encryptBatch(items, { userId, keyVersion, publicKey }),
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
   * Decrypts parsed ciphertexts of one user: one key-provider call per version named, one
   * unwrap per distinct data key. ENC002 names the first item that fails, as `nameOf` spells it;
   * a canary ciphertext fails the same way (CanaryTrippedError, recorded by CanaryTripwire).
   */
  async decryptParsed(userId: string, items: CiphertextParts[], nameOf: (index: number) => string): Promise<string[]> {
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
          const plaintexts = decryptBatch(userId, items, (version) => privateKeys.get(version));
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

  /** Parses a batch of ciphertext strings; ENC001 names the first malformed one. */
  parseAll(field: string, items: string[]): CiphertextParts[] {
    assertBatchWithinLimits(field, items, { ...this.config.limits, maxItemBytes: maxCiphertextLength(this.config.limits.maxItemBytes) });
    return items.map((item, index) => {
      try {
        return parseCiphertext(item);
      } catch (error) {
        if (error instanceof MalformedCiphertextError) throw invalidInput(`${field}[${index}] ${error.message}`);
        throw error;
      }
    });
  }
}

/** The one message of ENC002, for a tampered item and a canary alike. */
const unauthentic = (name: string) => `${name} failed authentication: tampered, or not encrypted for this user`;
