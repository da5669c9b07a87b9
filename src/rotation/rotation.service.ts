import { Injectable } from '@nestjs/common';
import { ReEncryptionService } from '../crypto/re-encryption.service';
import { RotationReason } from '../keys/entities/user-key-history.entity';
import { KeyMaterialService } from '../keys/key-material.service';
import { KeysService } from '../keys/keys.service';
import { MetricsService } from '../metrics/metrics.service';

/** Manual rotation with re-encryption, and rewrap under the current version. */
@Injectable()
export class RotationService {
  constructor(
    private readonly keys: KeysService,
    private readonly keyMaterial: KeyMaterialService,
    private readonly reencryption: ReEncryptionService,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Creates version N+1 and returns `data` with every ciphertext re-encrypted under it. All or
   * nothing: everything is decrypted and re-encrypted before the one transaction that swaps the
   * key, so a bad item, a KMS failure or a database failure leaves version N current.
   */
  async rotate(userId: string, data: unknown, reason: RotationReason): Promise<{ rotatedData: unknown; keyVersion: number }> {
    return this.keys.withRotationLease(userId, async (fromVersion) => {
      const found = this.reencryption.findInDocument('data', data);
      const { ciphertexts, key: next } = await this.reencryption.reencrypt(userId, found, {
        userId,
        key: () => this.keyMaterial.prepareKey(userId, fromVersion + 1),
      });
      await this.keys.replaceCurrentKey(userId, fromVersion, next, reason);
      this.metrics.countKeysRotated(reason);
      return { rotatedData: this.reencryption.replaceInDocument(data, ciphertexts), keyVersion: next.keyVersion };
    });
  }

  /** Re-encrypts ciphertexts of any kept version under the current version; no new version. */
  async rewrap(userId: string, items: string[]): Promise<string[]> {
    const { ciphertexts } = await this.reencryption.reencrypt(userId, this.reencryption.parseList('data', items), {
      userId,
      key: () => this.keyMaterial.currentPublicKey(userId),
    });
    return ciphertexts;
  }
}
