import { LRUCache } from 'lru-cache';
import type { KeyAlgorithm } from './local-encryption';

/**
 * What local encryption needs of a user's key: the current version, its algorithm (absent:
 * `RSA-OAEP-256`) and its public key (PEM for RSA, base64 for X-Wing).
 */
export interface PublicKeyInfo {
  userId: string;
  keyVersion: number;
  publicKey: string;
  algorithm?: KeyAlgorithm;
}

export interface PublicKeyCacheOptions {
  /** How long a public key is used before it is asked for again (default 5 minutes). */
  ttlMs?: number;
  /** Users kept at most (default 10 000; the least recently used go first). */
  max?: number;
}

/**
 * Public keys by user id, so that local encryption does not ask the service each time. An entry
 * lives `ttlMs`, and is dropped at once when the client sees a newer version of that user's key
 * (a ciphertext, a rotation, a rewrap) or a deletion; concurrent lookups of one user share one
 * request. Public keys are not secret; nothing private is ever cached here.
 */
export class PublicKeyCache {
  private readonly cache: LRUCache<string, PublicKeyInfo>;

  constructor(load: (userId: string) => Promise<PublicKeyInfo>, options: PublicKeyCacheOptions = {}) {
    this.cache = new LRUCache<string, PublicKeyInfo>({
      max: options.max ?? 10_000,
      ttl: options.ttlMs ?? 5 * 60_000,
      fetchMethod: (userId) => load(userId),
    });
  }

  /** The user's current public key, from the cache while it is fresh, else from the service. */
  async get(userId: string): Promise<PublicKeyInfo> {
    const info = await this.cache.fetch(userId);
    if (!info) throw new Error(`no public key for user ${userId}`);
    return info;
  }

  /** The cached entry, without asking the service. */
  peek(userId: string): PublicKeyInfo | undefined {
    return this.cache.peek(userId);
  }

  /** Notes that `keyVersion` of the user's key exists: a cached older version is dropped. */
  observeVersion(userId: string, keyVersion: number): void {
    const cached = this.cache.peek(userId);
    if (cached && keyVersion > cached.keyVersion) this.cache.delete(userId);
  }

  /** Forgets the user's key (after a deletion, or when the caller knows better). */
  invalidate(userId: string): void {
    this.cache.delete(userId);
  }

  clear(): void {
    this.cache.clear();
  }
}
