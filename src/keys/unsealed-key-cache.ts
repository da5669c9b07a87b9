import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { SingleFlight } from '../common/single-flight';

/**
 * Keys opened from sealed bytes, kept in this process only (never in Redis, never on disk) and
 * keyed by a digest of the sealed bytes as stored: a lookup needs those bytes read from the
 * database in the same request, so a key destroyed or purged on any replica can never be served
 * from here. Concurrent misses for the same bytes share one unseal (one KMS Decrypt), cache or
 * not; a failed unseal is shared by the requests waiting for it and then forgotten. The two
 * caches of this kind: PrivateKeyCache and SecretKeyCache.
 */
export class UnsealedKeyCache<Key extends object> {
  private readonly cache?: LRUCache<string, Key>;
  private readonly unseals: SingleFlight<Key>;

  /** `ttlSeconds` 0 (or `maxEntries` 0) keeps nothing; concurrent misses are still shared. */
  constructor(options: { ttlSeconds: number; maxEntries: number; onCoalescedWait: () => void }) {
    const { ttlSeconds, maxEntries, onCoalescedWait } = options;
    if (ttlSeconds > 0 && maxEntries > 0) this.cache = new LRUCache({ max: maxEntries, ttl: ttlSeconds * 1000, ttlAutopurge: true });
    this.unseals = new SingleFlight(onCoalescedWait);
  }

  /** The key these sealed bytes hold: cached, or opened by `unseal` (once for all concurrent callers) and cached. */
  async get(sealed: Buffer, unseal: () => Promise<Key>): Promise<Key> {
    const id = createHash('sha256').update(sealed).digest('base64url');
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
