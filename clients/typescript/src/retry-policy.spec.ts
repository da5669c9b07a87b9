import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_RETRY_OPTIONS, isRepeatable, parseRetryAfter, retryDelay } from './retry-policy';

const options = DEFAULT_RETRY_OPTIONS;
const refused = { networkError: new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }) };
const reset = {
  networkError: new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }),
};

describe('client retry policy', () => {
  it('treats reads, key creation, encrypt, decrypt, rewrap, translate, starting a KMS migration, defining and computing blind indexes as safe to send twice, and nothing else', () => {
    for (const [method, path] of [
      ['GET', '/api/v1/keys/42'],
      ['GET', '/api/v1/audit'],
      ['POST', '/api/v1/keys'],
      ['POST', '/api/v1/encrypt'],
      ['POST', '/api/v1/decrypt'],
      ['POST', '/api/v1/rewrap'],
      ['POST', '/api/v1/translate'],
      ['POST', '/api/v1/admin/kms-migration'],
      ['POST', '/api/v1/indexes'],
      ['POST', '/api/v1/indexes/sin'],
      ['POST', '/behind/an/ingress/api/v1/encrypt/'],
    ])
      assert.ok(isRepeatable(method, path), `${method} ${path}`);
    for (const [method, path] of [
      ['POST', '/api/v1/rotate'],
      ['POST', '/api/v1/grants'],
      ['POST', '/api/v1/grants/0b7d/approve'],
      ['DELETE', '/api/v1/grants/0b7d'],
      ['DELETE', '/api/v1/keys/42'],
      ['POST', '/api/v1/tokens/revoke'],
      ['POST', '/api/v1/indexes/sin/rotate'],
      ['POST', '/api/v1/indexes/sin/finish-rotation'],
      ['POST', '/api/v1/some-future-route'],
      ['PUT', '/api/v1/encrypt'],
    ])
      assert.ok(!isRepeatable(method, path), `${method} ${path}`);
  });

  it('waits exactly as long as Retry-After says, in seconds or as a date', () => {
    assert.equal(parseRetryAfter('7'), 7000);
    assert.equal(parseRetryAfter(' 0 '), 0);
    assert.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1)), 30_000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(retryDelay({ status: 429, retryAfter: '7' }, false, 1, options), 7000);
    assert.equal(retryDelay({ status: 503, retryAfter: '2' }, true, 1, options), 2000);
  });

  it('repeats a rotation refused by the rate limiter or shed with Retry-After, but not one that failed with a plain 503', () => {
    assert.equal(retryDelay({ status: 429, retryAfter: '1' }, false, 1, options), 1000);
    assert.equal(retryDelay({ status: 503, retryAfter: '1' }, false, 1, options), 1000);
    assert.equal(retryDelay({ status: 503, retryAfter: null }, false, 1, options), undefined);
  });

  it('repeats a rotation whose connection was refused (nothing was sent) but not one whose connection broke after sending', () => {
    assert.notEqual(retryDelay(refused, false, 1, options), undefined);
    assert.equal(retryDelay(reset, false, 1, options), undefined);
    assert.notEqual(retryDelay(reset, true, 1, options), undefined);
    const everyAddressRefused = {
      networkError: new TypeError('fetch failed', { cause: new AggregateError([refused.networkError.cause, refused.networkError.cause]) }),
    };
    assert.notEqual(retryDelay(everyAddressRefused, false, 1, options), undefined);
    const oneAddressReset = {
      networkError: new TypeError('fetch failed', { cause: new AggregateError([refused.networkError.cause, reset.networkError.cause]) }),
    };
    assert.equal(retryDelay(oneAddressReset, false, 1, options), undefined);
  });

  it('repeats an encrypt whose kept-alive connection a stopping service closed before answering, never such a rotation', () => {
    // What fetch (undici) throws when the connection closes before any byte of the answer came back.
    const closed = {
      networkError: new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }),
    };
    assert.notEqual(retryDelay(closed, isRepeatable('POST', '/api/v1/encrypt'), 1, options), undefined);
    assert.equal(retryDelay(closed, isRepeatable('POST', '/api/v1/rotate'), 1, options), undefined);
  });

  it('never repeats other errors, and gives up after maxRetries or when Retry-After is longer than the caller allows', () => {
    for (const status of [400, 401, 403, 404, 409, 413, 500, 502])
      assert.equal(retryDelay({ status, retryAfter: '1' }, true, 1, options), undefined, String(status));
    assert.equal(retryDelay({ status: 429, retryAfter: '1' }, true, options.maxRetries + 1, options), undefined);
    assert.equal(retryDelay({ status: 429, retryAfter: '61' }, true, 1, options), undefined);
    assert.equal(retryDelay({ status: 429, retryAfter: '61' }, true, 1, { ...options, maxDelayMs: 61_000 }), 61_000);
    assert.equal(retryDelay({ status: 429, retryAfter: '1' }, true, 1, { ...options, maxRetries: 0 }), undefined);
  });

  it('backs off exponentially with full jitter when the answer names no wait, never beyond maxDelayMs', () => {
    const waits = [1, 2, 3].map((retry) => retryDelay({ status: 503, retryAfter: null }, true, retry, options, () => 1));
    assert.deepEqual(waits, [200, 400, 800]);
    assert.equal(
      retryDelay(reset, true, 1, options, () => 0),
      0,
    );
    assert.equal(
      retryDelay(reset, true, 3, { maxRetries: 3, baseDelayMs: 10_000, maxDelayMs: 15_000 }, () => 1),
      15_000,
    );
  });
});
