import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnsealedKeyCache } from './unsealed-key-cache';

/** An unseal (a KMS Decrypt) that counts its calls and answers a fresh key object each time. */
function countingUnseal() {
  let calls = 0;
  return {
    unseal: async () => ({ key: ++calls }),
    calls: () => calls,
  };
}

describe('unsealed key cache', () => {
  const sealed = Buffer.from('sealed private key of person 42, version 1');

  it('keeps an unsealed key for later requests with the same sealed bytes, and unseals other bytes on their own', async () => {
    let waits = 0;
    const cache = new UnsealedKeyCache<{ key: number }>({ ttlSeconds: 300, maxEntries: 10, onCoalescedWait: () => waits++ });
    const kms = countingUnseal();
    const first = await cache.get(sealed, kms.unseal);
    assert.equal(await cache.get(sealed, kms.unseal), first);
    await cache.get(Buffer.from('sealed key of someone else'), kms.unseal);
    assert.deepEqual([kms.calls(), waits], [2, 0]);
  });

  it('with the cache off, still shares one unseal among concurrent misses, and keeps nothing afterwards', async () => {
    let waits = 0;
    const cache = new UnsealedKeyCache<{ key: number }>({ ttlSeconds: 0, maxEntries: 10, onCoalescedWait: () => waits++ });
    const kms = countingUnseal();
    const burst = await Promise.all(Array.from({ length: 10 }, () => cache.get(sealed, kms.unseal)));
    assert.equal(new Set(burst).size, 1);
    assert.deepEqual([kms.calls(), waits], [1, 9]);
    await cache.get(sealed, kms.unseal);
    assert.equal(kms.calls(), 2);
  });

  it('forgets a failed unseal: the next request unseals again', async () => {
    const cache = new UnsealedKeyCache<{ key: number }>({ ttlSeconds: 300, maxEntries: 10, onCoalescedWait: () => undefined });
    await assert.rejects(
      cache.get(sealed, async () => {
        throw new Error('KMS throttled');
      }),
      /KMS throttled/,
    );
    const kms = countingUnseal();
    assert.deepEqual(await cache.get(sealed, kms.unseal), { key: 1 });
  });
});
