import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { SingleFlight } from '../common/single-flight';
import { AppConfig } from '../config/app-config';
import type { PrivateKeyOf } from '../envelope/ciphertexts';
import { MetricsService } from '../metrics/metrics.service';

/**
 * In-process cache of unsealed private keys, so steady-state decrypt makes no KMS call. Never in
 * Redis, never on disk. Entries are keyed by a digest of the sealed key as stored: a lookup
 * needs the sealed key read from the database in the same request, so a key that was destroyed
 * (crypto-shredded) or purged on any replica can never be served from here — its sealed bytes
 * are gone. PRIVATE_KEY_CACHE_SECONDS bounds how long an unsealed key stays in memory
 * (0 disables the cache), PRIVATE_KEY_CACHE_MAX how many.
 *
 * Concurrent misses for the same sealed key share one unseal (one KMS Decrypt), cache or not: a
 * burst on a cold replica after a deploy costs KMS one call per key, not one per request. A
 * failed unseal is shared by the requests waiting for it and then forgotten.
 *
 * An X-Wing key is kept expanded (the seed's expansion costs about 0.14 ms a decrypt otherwise).
 * Node cannot wipe a KeyObject in place; eviction drops the last reference and OpenSSL clears
 * the private components (BN_clear_free) when the object is garbage-collected.
 */
@Injectable()
export class PrivateKeyCache {
  private readonly cache?: LRUCache<string, PrivateKeyOf>;
  private readonly unseals: SingleFlight<PrivateKeyOf>;

  constructor(config: AppConfig, metrics: MetricsService) {
    const { ttlSeconds, maxEntries } = config.privateKeyCache;
    if (ttlSeconds > 0 && maxEntries > 0) {
      this.cache = new LRUCache({ max: maxEntries, ttl: ttlSeconds * 1000, ttlAutopurge: true });
    }
    this.unseals = new SingleFlight(() => metrics.countCoalescedWait('private_key'));
  }

  /** The key these sealed bytes hold: cached, or unsealed by `unseal` (once for all concurrent callers) and cached. */
  async get(sealed: Buffer, unseal: () => Promise<PrivateKeyOf>): Promise<PrivateKeyOf> {
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
