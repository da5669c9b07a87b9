import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadAppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConnection } from '../redis/redis-connection';
import { CachedPublicKey, PublicKeyCache } from './public-key-cache.service';

/** The cache without Redis, on the embedded database (one process) or on PostgreSQL (maybe several replicas). */
function cacheOn(database: 'embedded' | 'postgres'): PublicKeyCache {
  const config = loadAppConfig(database === 'postgres' ? { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/keys' } : {});
  const metrics = new MetricsService();
  return new PublicKeyCache(new RedisConnection(config, metrics), metrics, config);
}

const v1: CachedPublicKey = { keyVersion: 1, algorithm: 'X-Wing', publishedKey: 'public key of version 1' };
const v2: CachedPublicKey = { keyVersion: 2, algorithm: 'X-Wing', publishedKey: 'public key of version 2' };

describe('public key cache: a fill stores only what is still current', () => {
  it('serves a key filled after a miss with no eviction in between', async () => {
    const cache = cacheOn('embedded');
    const miss = await cache.get('42');
    assert.equal(miss.key, undefined);
    await cache.fill('42', v1, miss.ticket!);
    assert.deepEqual((await cache.get('42')).key, v1);
  });

  it('stores nothing from a database read that an eviction (crypto-shred) overtook: the next lookup reads the database again', async () => {
    const cache = cacheOn('embedded');
    const { ticket } = await cache.get('42'); // …then the caller reads version 1 from the database…
    await cache.evict('42'); // …while the user is shredded…
    await cache.fill('42', v1, ticket!); // …and the read arrives late.
    assert.equal((await cache.get('42')).key, undefined);
  });

  it('never replaces a re-created key with the destroyed one read before the shred', async () => {
    const cache = cacheOn('embedded');
    const early = await cache.get('42'); // reads version 1
    await cache.evict('42'); // shred, then re-creation
    const late = await cache.get('42'); // reads version 2
    await cache.fill('42', v2, late.ticket!);
    await cache.fill('42', v1, early.ticket!);
    assert.deepEqual((await cache.get('42')).key, v2);
  });

  it('drops the cached key on eviction', async () => {
    const cache = cacheOn('embedded');
    await cache.fill('42', v1, (await cache.get('42')).ticket!);
    await cache.evict('42');
    assert.equal((await cache.get('42')).key, undefined);
  });

  it('caches nothing on PostgreSQL without Redis, where another replica could shred unseen: every lookup reads the primary', async () => {
    const cache = cacheOn('postgres');
    const miss = await cache.get('42');
    await cache.fill('42', v1, miss.ticket!);
    assert.equal((await cache.get('42')).key, undefined);
  });
});

describe('public key cache: concurrent misses share one read of the primary', () => {
  /** A read of the primary the test answers when it wants, counting how often it was made. */
  function primary() {
    const waiting: Array<(value: CachedPublicKey) => void> = [];
    const read = () => new Promise<CachedPublicKey>((resolve) => waiting.push(resolve));
    return { read, answer: (value: CachedPublicKey) => waiting.forEach((resolve) => resolve(value)), reads: () => waiting.length };
  }
  const settled = () => new Promise((resolve) => setImmediate(resolve));

  it('reads the primary once for many concurrent misses of one person, and each gets the key', async () => {
    const cache = cacheOn('embedded');
    const db = primary();
    const loads = Array.from({ length: 20 }, async () => cache.load('42', (await cache.get('42')).ticket!, db.read));
    await settled();
    db.answer(v1);
    for (const key of await Promise.all(loads)) assert.deepEqual(key, v1);
    assert.equal(db.reads(), 1);
  });

  it('does not let a miss that starts after an eviction take the key read before it', async () => {
    const cache = cacheOn('embedded');
    const before = primary();
    const early = cache.load('42', (await cache.get('42')).ticket!, before.read); // reads version 1…
    await cache.evict('42'); // …while the key is rotated
    const after = primary();
    const late = cache.load('42', (await cache.get('42')).ticket!, after.read);
    await settled();
    before.answer(v1);
    after.answer(v2);
    assert.deepEqual(await early, v1);
    assert.deepEqual(await late, v2);
    assert.equal(after.reads(), 1);
  });

  it('shares nothing on PostgreSQL without Redis, where another replica’s shred is not seen: every miss reads the primary', async () => {
    const cache = cacheOn('postgres');
    const db = primary();
    const loads = Array.from({ length: 3 }, async () => cache.load('42', (await cache.get('42')).ticket!, db.read));
    await settled();
    assert.equal(db.reads(), 3);
    db.answer(v1);
    await Promise.all(loads);
  });
});
