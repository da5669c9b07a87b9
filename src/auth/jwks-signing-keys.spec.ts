import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JWKS_MAX_AGE_MS, JWKS_REFETCH_INTERVAL_MS, JwksSigningKeySource } from './jwks-signing-keys';

/** An issuer's JWKS as the source sees it (kid → PEM), whose fetches are counted and can be held or fail. */
class FakeJwks {
  keys = new Map([['kid-1', 'PEM-1']]);
  fetches = 0;
  failing = false;
  private held?: Promise<void>;
  private release?: () => void;

  /** The next fetches wait until `releaseFetches()`. */
  holdFetches(): void {
    this.held = new Promise((resolve) => (this.release = resolve));
  }

  releaseFetches(): void {
    this.release?.();
    this.held = undefined;
  }

  readonly fetch = async (): Promise<ReadonlyMap<string, string>> => {
    this.fetches++;
    await this.held;
    if (this.failing) throw new Error('JWKS answered 503');
    return new Map(this.keys);
  };
}

function setUp() {
  const jwks = new FakeJwks();
  const clock = { time: 1_000_000, now: () => clock.time };
  let refused = 0;
  const source = new JwksSigningKeySource('https://issuer.example/jwks.json', {
    clock,
    fetchKeys: jwks.fetch,
    onUnknownKid: () => refused++,
  });
  return { jwks, clock, source, refused: () => refused };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('JWKS signing keys: a flood of unknown kids cannot starve real tokens', () => {
  it('makes one fetch for a flood of unknown kids at start, shared by all of them, and refuses each', async () => {
    const { jwks, source, refused } = setUp();
    jwks.holdFetches();
    const flood = Array.from({ length: 50 }, (_, i) => source.publicKeyFor(`forged-${i}`));
    jwks.releaseFetches();
    const results = await Promise.allSettled(flood);
    assert.ok(results.every((result) => result.status === 'rejected'));
    assert.equal(jwks.fetches, 1);
    assert.equal(refused(), 50);
    assert.equal(await source.publicKeyFor('kid-1'), 'PEM-1', 'the real kid is served from the set that one fetch brought');
    assert.equal(jwks.fetches, 1);
  });

  it('refuses further unknown kids at once, without a fetch, until the refetch interval has passed', async () => {
    const { jwks, clock, source, refused } = setUp();
    await source.publicKeyFor('kid-1');
    for (let i = 0; i < 100; i++) await assert.rejects(source.publicKeyFor(`forged-${i}`), /unknown signing key/);
    assert.equal(jwks.fetches, 1);
    clock.time += JWKS_REFETCH_INTERVAL_MS - 1;
    await assert.rejects(source.publicKeyFor('forged-late'));
    assert.equal(jwks.fetches, 1);
    clock.time += 1;
    await assert.rejects(source.publicKeyFor('forged-after-interval'));
    assert.equal(jwks.fetches, 2, 'one refetch once the interval has passed');
    assert.equal(refused(), 102);
  });

  it('serves a known kid at once however many unknown kids came before, within the same interval', async () => {
    const { jwks, source } = setUp();
    await source.publicKeyFor('kid-1');
    for (let i = 0; i < 100; i++) await source.publicKeyFor(`forged-${i}`).catch(() => undefined);
    assert.equal(await source.publicKeyFor('kid-1'), 'PEM-1');
    assert.equal(jwks.fetches, 1);
  });

  it('serves a known kid from an aged set at once and refreshes it in the background, once', async () => {
    const { jwks, clock, source } = setUp();
    await source.publicKeyFor('kid-1');
    clock.time += JWKS_MAX_AGE_MS;
    jwks.holdFetches();
    jwks.keys.set('kid-2', 'PEM-2');
    for (let i = 0; i < 20; i++) assert.equal(await source.publicKeyFor('kid-1'), 'PEM-1', 'not waiting for the refresh');
    assert.equal(jwks.fetches, 2, 'one background refresh for all of them');
    jwks.releaseFetches();
    await settled();
    assert.equal(await source.publicKeyFor('kid-2'), 'PEM-2', 'the refreshed set is used');
    assert.equal(jwks.fetches, 2);
  });

  it('keeps serving the last good set while the JWKS cannot be fetched, retrying once per interval', async () => {
    const { jwks, clock, source } = setUp();
    await source.publicKeyFor('kid-1');
    jwks.failing = true;
    clock.time += JWKS_MAX_AGE_MS;
    for (let i = 0; i < 10; i++) {
      assert.equal(await source.publicKeyFor('kid-1'), 'PEM-1');
      await settled();
    }
    assert.equal(jwks.fetches, 2);
    clock.time += JWKS_MAX_AGE_MS * 6;
    assert.equal(await source.publicKeyFor('kid-1'), 'PEM-1', 'an hour later, still served');
    await settled();
    assert.equal(jwks.fetches, 3);
    jwks.failing = false;
    clock.time += JWKS_REFETCH_INTERVAL_MS;
    await source.publicKeyFor('kid-1');
    await settled();
    clock.time += JWKS_REFETCH_INTERVAL_MS;
    await source.publicKeyFor('kid-1');
    assert.equal(jwks.fetches, 4, 'once refreshed, the set is fresh again: no fetch');
  });

  it('finds a kid the issuer has added on the next allowed refetch, and drops one it has removed', async () => {
    const { jwks, clock, source } = setUp();
    await source.publicKeyFor('kid-1');
    jwks.keys = new Map([
      ['kid-1', 'PEM-1'],
      ['kid-2', 'PEM-2'],
    ]);
    await assert.rejects(source.publicKeyFor('kid-2'), 'within the interval of the first fetch: refused');
    clock.time += JWKS_REFETCH_INTERVAL_MS;
    assert.equal(await source.publicKeyFor('kid-2'), 'PEM-2', 'the rotated key, found by the refetch it caused');
    assert.equal(await source.publicKeyFor('kid-1'), 'PEM-1', 'the old key, still published');
    jwks.keys = new Map([['kid-2', 'PEM-2']]);
    clock.time += JWKS_MAX_AGE_MS;
    assert.equal(await source.publicKeyFor('kid-1'), 'PEM-1', 'served once more from the aged set while it refreshes');
    await settled();
    await assert.rejects(source.publicKeyFor('kid-1'), /unknown signing key/);
    assert.equal(await source.publicKeyFor('kid-2'), 'PEM-2');
  });

  it('refuses a token without a kid without fetching', async () => {
    const { jwks, source, refused } = setUp();
    await assert.rejects(source.publicKeyFor(undefined), /no kid/);
    assert.equal(jwks.fetches, 0);
    assert.equal(refused(), 0);
  });

  it('is ready from the set it holds without fetching on every probe; not ready until a set was fetched', async () => {
    const { jwks, clock, source } = setUp();
    jwks.failing = true;
    await assert.rejects(source.checkHealth(), /JWKS not loaded: JWKS answered 503/);
    await assert.rejects(source.checkHealth(), /JWKS not loaded/);
    assert.equal(jwks.fetches, 1, 'the second probe, within the interval, made no fetch');
    jwks.failing = false;
    clock.time += JWKS_REFETCH_INTERVAL_MS;
    assert.deepEqual(await source.checkHealth(), { source: 'jwks', keys: 1 });
    for (let i = 0; i < 10; i++) {
      clock.time += JWKS_REFETCH_INTERVAL_MS;
      assert.deepEqual(await source.checkHealth(), { source: 'jwks', keys: 1 });
    }
    assert.equal(jwks.fetches, 2, 'a held, fresh set: no fetch for five minutes of probes');
    jwks.failing = true;
    clock.time += JWKS_MAX_AGE_MS;
    assert.deepEqual(await source.checkHealth(), { source: 'jwks', keys: 1 }, 'an aged set whose refresh fails: still ready');
    await settled();
    assert.equal(jwks.fetches, 3);
  });
});
