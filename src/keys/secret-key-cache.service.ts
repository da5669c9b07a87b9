import { Injectable } from '@nestjs/common';
import { KeyObject } from 'node:crypto';
import { INDEX_KEY_CACHE_MAX } from '../common/limits';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { UnsealedKeyCache } from './unsealed-key-cache';

/**
 * Unsealed platform secrets (blind-index keys; UnsealedKeyCache), so steady-state index requests
 * make no KMS call. Never logged. INDEX_KEY_CACHE_SECONDS bounds how long a key stays (0 disables
 * the cache), INDEX_KEY_CACHE_MAX how many.
 */
@Injectable()
export class SecretKeyCache extends UnsealedKeyCache<KeyObject> {
  constructor(config: AppConfig, metrics: MetricsService) {
    super({
      ttlSeconds: config.indexKeyCacheSeconds,
      maxEntries: INDEX_KEY_CACHE_MAX,
      onCoalescedWait: () => metrics.countCoalescedWait('index_key'),
    });
  }
}
