import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { CryptoService } from '../crypto/crypto.service';
import { encryptBatch } from '../envelope/envelope';
import { RotationReason } from '../keys/entities/user-key-history.entity';
import { KeysService } from '../keys/keys.service';
import { MetricsService } from '../metrics/metrics.service';
import { findCiphertexts, replaceCiphertexts } from '../envelope/json-ciphertexts';

/** Manual rotation with re-encryption, and rewrap under the current version. */
@Injectable()
export class RotationService {
  constructor(
    private readonly keys: KeysService,
    private readonly crypto: CryptoService,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Creates version N+1 and returns `data` with every ciphertext re-encrypted under it. All or
   * nothing: everything is decrypted and re-encrypted before the one transaction that swaps the
   * key, so a bad item, a KMS failure or a database failure leaves version N current.
   */
  async rotate(userId: string, data: unknown, reason: RotationReason): Promise<{ rotatedData: unknown; keyVersion: number }> {
    return this.keys.withRotationLease(userId, async (fromVersion) => {
      const found = findCiphertexts(data, 'data', this.config.limits.maxBatchItems);
      const plaintexts = await this.crypto.decryptParsed(
        userId,
        found.map((item) => item.parts),
        (index) => found[index].path,
      );
      const next = await this.keys.prepareKey(userId, fromVersion + 1);
      const reencrypted = encryptBatch(plaintexts, { userId, keyVersion: next.keyVersion, publicKey: next.publicKey });
      await this.keys.replaceCurrentKey(userId, fromVersion, next, reason);
      this.metrics.countKeysRotated(reason);
      return { rotatedData: replaceCiphertexts(data, reencrypted), keyVersion: next.keyVersion };
    });
  }

  /** Re-encrypts ciphertexts of any kept version under the current version; no new version. */
  async rewrap(userId: string, items: string[]): Promise<string[]> {
    const plaintexts = await this.crypto.decryptParsed(userId, this.crypto.parseAll('data', items), (index) => `data[${index}]`);
    return this.crypto.encrypt(userId, plaintexts);
  }
}
