import { Injectable } from '@nestjs/common';
import { createHash, KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { INDEX_KEY_CACHE_MAX } from '../common/limits';
import { AppConfig } from '../config/app-config';

/**
 * In-process cache of unsealed platform secrets (blind-index keys), so steady-state index
 * requests make no KMS call. Never in Redis, never on disk, never logged. Like PrivateKeyCache it
 * is keyed by a digest of the sealed key as stored, so a destroyed version (its sealed bytes
 * deleted on the primary) can never be served from here. INDEX_KEY_CACHE_SECONDS bounds how long
 * a key stays (0 disables the cache), INDEX_KEY_CACHE_MAX how many.
 */
@Injectable()
export class SecretKeyCache {
  private readonly cache?: LRUCache<string, KeyObject>;

  constructor(config: AppConfig) {
    const ttlSeconds = config.indexKeyCacheSeconds;
    if (ttlSeconds > 0) this.cache = new LRUCache({ max: INDEX_KEY_CACHE_MAX, ttl: ttlSeconds * 1000, ttlAutopurge: true });
  }

  get(sealed: Buffer): KeyObject | undefined {
    return this.cache?.get(digest(sealed));
  }

  set(sealed: Buffer, key: KeyObject): void {
    this.cache?.set(digest(sealed), key);
  }
}

function digest(sealed: Buffer): string {
  return createHash('sha256').update(sealed).digest('base64url');
}
