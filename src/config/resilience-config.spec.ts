import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigValidationError, loadAppConfig } from './app-config';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadAppConfig(env);
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.problems.join('\n');
    throw error;
  }
  assert.fail('configuration was accepted');
};

describe('resilience configuration', () => {
  it('has the documented defaults', () => {
    const config = loadAppConfig({});
    assert.equal(config.keys.kmsTimeoutMs, 3000);
    assert.equal(config.circuitBreakerResetMs, 10_000);
    assert.equal(config.cache.redisTimeoutMs, 500);
    assert.deepEqual(config.database.replicaUrls, []);
    assert.equal(config.database.connectTimeoutMs, 5000);
    assert.equal(config.database.statementTimeoutMs, 5000);
    assert.deepEqual(config.http, { trustProxy: false, corsOrigins: [], shutdownGraceMs: 10_000 });
  });

  it('reads TRUST_PROXY as Express does: a boolean, a hop count, or addresses', () => {
    assert.equal(loadAppConfig({ TRUST_PROXY: 'true' }).http.trustProxy, true);
    assert.equal(loadAppConfig({ TRUST_PROXY: '2' }).http.trustProxy, 2);
    assert.equal(loadAppConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).http.trustProxy, 'loopback, 10.0.0.0/8');
    assert.match(problemsOf({ TRUST_PROXY: 'yes please!' }), /^TRUST_PROXY:/m);
  });

  it('splits the lists and refuses malformed entries, naming the variable', () => {
    const config = loadAppConfig({
      DATABASE_URL: 'postgres://db/keys',
      DATABASE_REPLICA_URLS: 'postgres://replica-1/keys,postgres://replica-2/keys',
      CORS_ORIGINS: 'https://app.example.com,http://localhost:5173',
    });
    assert.deepEqual(config.database.replicaUrls, ['postgres://replica-1/keys', 'postgres://replica-2/keys']);
    assert.deepEqual(config.http.corsOrigins, ['https://app.example.com', 'http://localhost:5173']);
    assert.match(problemsOf({ DATABASE_REPLICA_URLS: 'mysql://replica' }), /^DATABASE_REPLICA_URLS:/m);
    assert.match(problemsOf({ CORS_ORIGINS: '*' }), /^CORS_ORIGINS:/m);
    assert.match(problemsOf({ CORS_ORIGINS: 'https://app.example.com/path' }), /^CORS_ORIGINS:/m);
  });

  it('keeps timeouts within bounds that fit the 15 s KMS budget', () => {
    assert.match(problemsOf({ KMS_TIMEOUT_MS: '60000' }), /^KMS_TIMEOUT_MS:/m);
    assert.match(problemsOf({ KMS_TIMEOUT_MS: '0' }), /^KMS_TIMEOUT_MS:/m);
    assert.match(problemsOf({ REDIS_TIMEOUT_MS: 'soon' }), /^REDIS_TIMEOUT_MS:/m);
    assert.match(problemsOf({ SHUTDOWN_GRACE_MS: '-1' }), /^SHUTDOWN_GRACE_MS:/m);
    assert.match(problemsOf({ DATABASE_STATEMENT_TIMEOUT_MS: '10' }), /^DATABASE_STATEMENT_TIMEOUT_MS:/m);
  });
});
