import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import type { PrivateKeyOf } from '../envelope/ciphertexts';
import { MetricsService } from '../metrics/metrics.service';
import { UnsealedKeyCache } from './unsealed-key-cache';

/**
 * Unsealed private keys (UnsealedKeyCache), so steady-state decrypt makes no KMS call and a burst
 * on a cold replica after a deploy costs KMS one call per key, not one per request.
 * PRIVATE_KEY_CACHE_SECONDS bounds how long an unsealed key stays in memory (0 disables the
 * cache), PRIVATE_KEY_CACHE_MAX how many.
 *
 * An X-Wing key is kept expanded (the seed's expansion costs about 0.14 ms a decrypt otherwise).
 * Node cannot wipe a KeyObject in place; eviction drops the last reference and OpenSSL clears
 * the private components (BN_clear_free) when the object is garbage-collected.
 */
@Injectable()
export class PrivateKeyCache extends UnsealedKeyCache<PrivateKeyOf> {
  constructor(config: AppConfig, metrics: MetricsService) {
    super({ ...config.privateKeyCache, onCoalescedWait: () => metrics.countCoalescedWait('private_key') });
  }
}
