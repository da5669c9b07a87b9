import { Injectable } from '@nestjs/common';
import { createHash, KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { INDEX_KEY_CACHE_MAX } from '../common/limits';
import { SingleFlight } from '../common/single-flight';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';

/**
 * In-process cache of unsealed platform secrets (blind-index keys), so steady-state index
 * requests make no KMS call. Never in Redis, never on disk, never logged. Like PrivateKeyCache it
 * is keyed by a digest of the sealed key as stored, so a destroyed version (its sealed bytes
 * deleted on the primary) can never be served from here, and concurrent misses share one unseal.
 * INDEX_KEY_CACHE_SECONDS bounds how long a key stays (0 disables the cache), INDEX_KEY_CACHE_MAX
 * how many.
 */
@Injectable()
export class SecretKeyCache {
  private readonly cache?: LRUCache<string, KeyObject>;
  private readonly unseals: SingleFlight<KeyObject>;

  constructor(config: AppConfig, metrics: MetricsService) {
    const ttlSeconds = config.indexKeyCacheSeconds;
    if (ttlSeconds > 0) this.cache = new LRUCache({ max: INDEX_KEY_CACHE_MAX, ttl: ttlSeconds * 1000, ttlAutopurge: true });
    this.unseals = new SingleFlight(() => metrics.countCoalescedWait('index_key'));
  }

  /** The secret these sealed bytes hold: cached, or opened by `unseal` (once for all concurrent callers) and cached. */
  async get(sealed: Buffer, unseal: () => Promise<KeyObject>): Promise<KeyObject> {
    const id = digest(sealed);
    return (
      this.cache?.get(id) ??
      this.unseals.run(id, async () => {
        const key = await unseal();
        this.cache?.set(id, key);
        return key;
      })
    );
  }
}

function digest(sealed: Buffer): string {
  return createHash('sha256').update(sealed).digest('base64url');
}
