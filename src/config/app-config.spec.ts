import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigValidationError, loadAppConfig, productionWarnings } from './app-config';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadAppConfig(env);
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.problems.join('\n');
    throw error;
  }
  assert.fail('configuration was accepted');
};

/** The least a production configuration needs (the chart's production example sets as much). */
const PRODUCTION = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://db/keys',
  KMS_KEY_ID: 'alias/pii',
  COGNITO_USER_POOL_ID: 'ca-central-1_Abc123',
  COGNITO_CLIENT_IDS: 'svc',
  TLS_CERT_FILE: '/etc/pii-encryption-api/tls/tls.crt',
  TLS_KEY_FILE: '/etc/pii-encryption-api/tls/tls.key',
};

describe('configuration', () => {
  it('starts on embedded defaults with no environment at all', () => {
    const config = loadAppConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.database.url, undefined);
    assert.equal(config.keys.provider, 'local');
    assert.equal(config.auth.mode, 'local');
    assert.equal(config.cache.redisUrl, undefined);
    assert.deepEqual(config.limits, {
      maxBatchItems: 1000,
      maxItemBytes: 65536,
      bodyLimitBytes: 1048576,
      maxJsonNodes: 50_000,
      maxJsonKeyBytes: 1024,
    });
    assert.equal(config.swaggerEnabled, true);
  });

  it('names the variable that has a bad value', () => {
    assert.match(problemsOf({ PORT: 'eighty' }), /^PORT:/m);
    assert.match(problemsOf({ KEY_PROVIDER: 'vault' }), /^KEY_PROVIDER:/m);
    assert.match(problemsOf({ MAX_BATCH_ITEMS: '0' }), /^MAX_BATCH_ITEMS:/m);
    assert.match(problemsOf({ BODY_LIMIT: '1gb' }), /^BODY_LIMIT:/m);
    assert.match(problemsOf({ MAX_JSON_NODES: '15' }), /^MAX_JSON_NODES:/m);
    assert.match(problemsOf({ MAX_JSON_KEY_BYTES: 'long' }), /^MAX_JSON_KEY_BYTES:/m);
    assert.match(problemsOf({ DATABASE_URL: 'mysql://x' }), /^DATABASE_URL:/m);
    assert.match(problemsOf({ AUTH_GROUP_PERMISSIONS: 'admins=keys:everything' }), /AUTH_GROUP_PERMISSIONS: unknown permission/);
  });

  it('refuses a MAX_JSON_NODES too small for a full batch of MAX_BATCH_ITEMS', () => {
    assert.match(
      problemsOf({ MAX_BATCH_ITEMS: '5000', MAX_JSON_NODES: '5000' }),
      /^MAX_JSON_NODES: must be at least MAX_BATCH_ITEMS \+ 8 \(5008\)/m,
    );
    assert.equal(loadAppConfig({ MAX_BATCH_ITEMS: '5000', MAX_JSON_NODES: '5008' }).limits.maxJsonNodes, 5008);
  });

  it('refuses development shortcuts in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production', KEY_PROVIDER: 'local', AUTH_MODE: 'local' });
    assert.match(problems, /KEY_PROVIDER: "local" is for development only/);
    assert.match(problems, /AUTH_MODE: "local" is for development only/);
    assert.match(problems, /DATABASE_URL: required when NODE_ENV=production/);
  });

  it('requires KMS and Cognito settings in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/keys' });
    assert.match(problems, /KMS_KEY_ID: required/);
    assert.match(problems, /COGNITO_USER_POOL_ID: required/);
    assert.match(problems, /COGNITO_CLIENT_IDS: required/);
  });

  it('derives the Cognito issuer and JWKS from region and pool, with overrides for emulators', () => {
    const base = {
      AUTH_MODE: 'cognito',
      COGNITO_REGION: 'ca-central-1',
      COGNITO_USER_POOL_ID: 'ca-central-1_Abc123',
      COGNITO_CLIENT_IDS: 'a,b',
    };
    const derived = loadAppConfig(base).auth;
    assert.equal(derived.issuer, 'https://cognito-idp.ca-central-1.amazonaws.com/ca-central-1_Abc123');
    assert.equal(derived.jwksUri, `${derived.issuer}/.well-known/jwks.json`);
    assert.deepEqual(derived.clientIds, ['a', 'b']);
    const emulated = loadAppConfig({ ...base, COGNITO_JWKS_URI: 'http://127.0.0.1:5000/pool/.well-known/jwks.json' }).auth;
    assert.equal(emulated.jwksUri, 'http://127.0.0.1:5000/pool/.well-known/jwks.json');
  });

  it('counts only scopes of the pii-api/ resource server on Cognito tokens by default, and bare names from the local issuer', () => {
    const cognito = { AUTH_MODE: 'cognito', COGNITO_USER_POOL_ID: 'ca-central-1_AbC', COGNITO_CLIENT_IDS: 'svc' };
    assert.equal(loadAppConfig(cognito).auth.scopePrefix, 'pii-api/');
    assert.equal(loadAppConfig({ ...cognito, AUTH_SCOPE_PREFIX: 'estate-keys/' }).auth.scopePrefix, 'estate-keys/');
    assert.equal(loadAppConfig({}).auth.scopePrefix, '');
    assert.match(problemsOf({ ...cognito, AUTH_SCOPE_PREFIX: 'pii-api' }), /AUTH_SCOPE_PREFIX/);
  });

  it('refuses AUTH_BOUND_CLIENT_IDS without AUTH_USER_ID_CLAIM, the claim those tokens must carry', () => {
    assert.match(problemsOf({ AUTH_BOUND_CLIENT_IDS: 'person-app' }), /AUTH_BOUND_CLIENT_IDS: needs AUTH_USER_ID_CLAIM/);
    const config = loadAppConfig({ AUTH_BOUND_CLIENT_IDS: 'person-app,other', AUTH_USER_ID_CLAIM: 'custom:user_id' });
    assert.deepEqual(config.auth.boundClientIds, ['person-app', 'other']);
  });

  it('turns Swagger off by default in production', () => {
    assert.equal(loadAppConfig(PRODUCTION).swaggerEnabled, false);
  });

  it('refuses to start in production on plain HTTP unless ALLOW_PLAIN_HTTP=true says something else encrypts the hop', () => {
    const { TLS_CERT_FILE: _cert, TLS_KEY_FILE: _key, ...plain } = PRODUCTION;
    assert.match(problemsOf(plain), /^TLS_CERT_FILE: required when NODE_ENV=production/m);
    assert.match(problemsOf({ ...plain, ALLOW_PLAIN_HTTP: 'false' }), /^TLS_CERT_FILE: required when NODE_ENV=production/m);
    assert.equal(loadAppConfig({ ...plain, ALLOW_PLAIN_HTTP: 'true' }).http.tls, undefined);
    assert.deepEqual(loadAppConfig(PRODUCTION).http.tls, {
      certFile: '/etc/pii-encryption-api/tls/tls.crt',
      keyFile: '/etc/pii-encryption-api/tls/tls.key',
    });
    // Outside production plain HTTP is the default.
    assert.equal(loadAppConfig({}).http.tls, undefined);
  });

  it('refuses a TLS certificate without its key (and the reverse)', () => {
    assert.match(problemsOf({ TLS_CERT_FILE: '/tls/tls.crt' }), /^TLS_KEY_FILE: TLS_CERT_FILE and TLS_KEY_FILE are set together/m);
    assert.match(problemsOf({ TLS_KEY_FILE: '/tls/tls.key' }), /^TLS_CERT_FILE: TLS_CERT_FILE and TLS_KEY_FILE are set together/m);
  });

  it('serves /metrics on METRICS_PORT when set, and refuses it equal to PORT', () => {
    assert.equal(loadAppConfig({}).http.metricsPort, undefined);
    assert.equal(loadAppConfig({ METRICS_PORT: '9090' }).http.metricsPort, 9090);
    assert.match(problemsOf({ METRICS_PORT: '3000' }), /^METRICS_PORT: must differ from PORT/m);
    assert.match(problemsOf({ PORT: '8080', METRICS_PORT: '8080' }), /^METRICS_PORT: must differ from PORT/m);
    assert.match(problemsOf({ METRICS_PORT: 'metrics' }), /^METRICS_PORT:/m);
  });
});

describe('schedules', () => {
  it('runs rotation at 03:00 and the audit retention purge at 04:30 UTC unless told otherwise', () => {
    const config = loadAppConfig({});
    assert.equal(config.rotation.cron, '0 3 * * *');
    assert.equal(config.audit.retentionCron, '30 4 * * *');
    assert.equal(loadAppConfig({ AUDIT_RETENTION_CRON: '0 */6 * * *' }).audit.retentionCron, '0 */6 * * *');
    assert.equal(loadAppConfig({ AUDIT_RETENTION_CRON: '*/30 0 5 * * *' }).audit.retentionCron, '*/30 0 5 * * *');
  });

  it('refuses a schedule that is not a 5- or 6-field cron expression, naming the variable', () => {
    for (const name of ['AUDIT_RETENTION_CRON', 'ROTATION_CRON']) {
      for (const bad of ['daily', '30 4 * *', '0 0 0 1 1 * 2030', '99 4 * * *', '30 4 * * mondays']) {
        assert.match(
          problemsOf({ [name]: bad }),
          new RegExp(`^${name}: ${name} must be a 5- or 6-field cron expression$`, 'm'),
          `${name}=${bad}`,
        );
      }
    }
  });
});

describe('resilience configuration', () => {
  it('has the documented defaults', () => {
    const config = loadAppConfig({});
    assert.equal(config.keys.kmsTimeoutMs, 3000);
    assert.equal(config.circuitBreakerResetMs, 10_000);
    assert.equal(config.cache.redisTimeoutMs, 500);
    assert.deepEqual(config.database.replicaUrls, []);
    assert.equal(config.database.connectTimeoutMs, 5000);
    assert.equal(config.database.statementTimeoutMs, 5000);
    assert.deepEqual(config.http, {
      trustProxy: false,
      corsOrigins: [],
      shutdownGraceMs: 10_000,
      shutdownDelayMs: 0,
      backlog: 4096,
      listenSockets: 64,
      keepAliveTimeoutMs: 65_000,
      headersTimeoutMs: 66_000,
      maxInFlight: 1024,
      metricsPort: undefined,
      tls: undefined,
    });
  });

  it('keeps idle connections open longer than a load balancer (60 s), and headers longer than that', () => {
    const longer = loadAppConfig({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '120000' }).http;
    assert.equal(longer.keepAliveTimeoutMs, 120_000);
    assert.equal(longer.headersTimeoutMs, 121_000, 'the headers timeout follows a raised keep-alive timeout');
    assert.match(
      problemsOf({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '70000', HTTP_HEADERS_TIMEOUT_MS: '70000' }),
      /^HTTP_HEADERS_TIMEOUT_MS: must exceed HTTP_KEEP_ALIVE_TIMEOUT_MS \(70000\)/m,
    );
    assert.match(problemsOf({ HTTP_BACKLOG: '0' }), /^HTTP_BACKLOG:/m);
    assert.match(problemsOf({ MAX_IN_FLIGHT_REQUESTS: 'many' }), /^MAX_IN_FLIGHT_REQUESTS:/m);
    assert.equal(loadAppConfig({ MAX_IN_FLIGHT_REQUESTS: '1' }).http.maxInFlight, 1);
  });

  it('reads TRUST_PROXY as Express does: a boolean, a hop count, or addresses', () => {
    assert.equal(loadAppConfig({ TRUST_PROXY: 'true' }).http.trustProxy, true);
    assert.equal(loadAppConfig({ TRUST_PROXY: '2' }).http.trustProxy, 2);
    assert.equal(loadAppConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).http.trustProxy, 'loopback, 10.0.0.0/8');
    assert.match(problemsOf({ TRUST_PROXY: 'yes please!' }), /^TRUST_PROXY:/m);
  });

  it('refuses in production a TRUST_PROXY that believes every X-Forwarded-For entry, and takes a hop count or addresses', () => {
    for (const everyone of ['true', '0.0.0.0/0', 'loopback, ::/0']) {
      assert.match(
        problemsOf({ ...PRODUCTION, TRUST_PROXY: everyone }),
        /^TRUST_PROXY: "true" \(or 0\.0\.0\.0\/0\) believes every X-Forwarded-For entry.*set the number of proxies/m,
        everyone,
      );
    }
    assert.equal(loadAppConfig({ ...PRODUCTION, TRUST_PROXY: '1' }).http.trustProxy, 1);
    assert.equal(loadAppConfig({ ...PRODUCTION, TRUST_PROXY: '10.0.0.0/16' }).http.trustProxy, '10.0.0.0/16');
    assert.equal(loadAppConfig({ ...PRODUCTION, TRUST_PROXY: 'false' }).http.trustProxy, false);
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

  it('keeps unsealed blind-index keys 300 s by default, not at all with 0, and at most a day', () => {
    assert.equal(loadAppConfig({}).indexKeyCacheSeconds, 300);
    assert.equal(loadAppConfig({ INDEX_KEY_CACHE_SECONDS: '0' }).indexKeyCacheSeconds, 0);
    assert.match(problemsOf({ INDEX_KEY_CACHE_SECONDS: '86401' }), /^INDEX_KEY_CACHE_SECONDS:/m);
  });
});

describe('decrypt budgets', () => {
  it('lets a caller read 1,000 distinct people an hour by default, with per-client and per-sub overrides', () => {
    const defaults = loadAppConfig({}).decryptBudget;
    assert.deepEqual([defaults.perCaller, defaults.windowSeconds, Object.keys(defaults.overrides)], [1000, 3600, []]);
    const config = loadAppConfig({
      DECRYPT_SUBJECT_BUDGET: '0',
      DECRYPT_SUBJECT_WINDOW_SECONDS: '600',
      DECRYPT_SUBJECT_BUDGET_OVERRIDES: '{"reporting-batch":50000,"a-person":0}',
    });
    assert.equal(config.decryptBudget.perCaller, 0);
    assert.equal(config.decryptBudget.windowSeconds, 600);
    assert.deepEqual({ ...config.decryptBudget.overrides }, { 'reporting-batch': 50000, 'a-person': 0 });
    assert.equal(config.decryptBudget.overrides['constructor'], undefined, 'a caller named like an Object property has no override');
  });

  it('refuses overrides that are not a JSON map to whole numbers from 0, naming the variable', () => {
    for (const bad of ['reporting=5', '[5]', '{"a":-1}', '{"a":1.5}', '{"a":"10"}', 'null']) {
      assert.match(problemsOf({ DECRYPT_SUBJECT_BUDGET_OVERRIDES: bad }), /^DECRYPT_SUBJECT_BUDGET_OVERRIDES: /m, bad);
    }
    assert.match(problemsOf({ DECRYPT_SUBJECT_WINDOW_SECONDS: '0' }), /DECRYPT_SUBJECT_WINDOW_SECONDS/);
    assert.match(problemsOf({ DECRYPT_SUBJECT_BUDGET: '-1' }), /DECRYPT_SUBJECT_BUDGET/);
  });
});

describe('production start-up checks', () => {
  it('refuses a JWKS fetched over plain http:// in production, unless from this host', () => {
    assert.match(
      problemsOf({ ...PRODUCTION, COGNITO_JWKS_URI: 'http://jwks.internal.example.com/keys.json' }),
      /^COGNITO_JWKS_URI: must be https:\/\/ when NODE_ENV=production/m,
    );
    assert.match(problemsOf({ ...PRODUCTION, COGNITO_ISSUER: 'http://issuer.example.com' }), /^COGNITO_JWKS_URI: must be https:\/\//m);
    for (const loopback of ['http://127.0.0.1:5000/pool/.well-known/jwks.json', 'http://localhost:8080/jwks', 'http://[::1]/jwks']) {
      assert.equal(loadAppConfig({ ...PRODUCTION, COGNITO_JWKS_URI: loopback }).auth.jwksUri, loopback);
    }
    const development = {
      ...PRODUCTION,
      NODE_ENV: 'development',
      AUTH_MODE: 'cognito',
      COGNITO_JWKS_URI: 'http://jwks.internal.example.com/keys.json',
    };
    assert.equal(loadAppConfig(development).auth.jwksUri, 'http://jwks.internal.example.com/keys.json', 'accepted outside production');
  });

  it('warns once for each unsafe setting production accepts: one approver, audit fail-open, Swagger on', () => {
    assert.deepEqual(
      productionWarnings(loadAppConfig({ ...PRODUCTION, GRANT_APPROVALS_REQUIRED: '1', AUDIT_FAIL_OPEN: 'true', SWAGGER_ENABLED: 'true' })),
      [
        'GRANT_APPROVALS_REQUIRED=1: a delegated-release grant is active after a single approval (the default asks two approvers)',
        'AUDIT_FAIL_OPEN=true: an operation whose audit event cannot be stored proceeds, unaudited',
        'SWAGGER_ENABLED=true: the OpenAPI document and Swagger UI are served at /docs to anyone, without a token',
      ],
    );
    assert.match(
      productionWarnings(loadAppConfig({ ...PRODUCTION, GRANT_APPROVALS_REQUIRED: '1' })).join('\n'),
      /^GRANT_APPROVALS_REQUIRED=1/,
    );
    assert.match(productionWarnings(loadAppConfig({ ...PRODUCTION, AUDIT_FAIL_OPEN: 'true' })).join('\n'), /^AUDIT_FAIL_OPEN=true/);
    assert.match(productionWarnings(loadAppConfig({ ...PRODUCTION, SWAGGER_ENABLED: 'true' })).join('\n'), /^SWAGGER_ENABLED=true/);
  });

  it('asks two people for destructive admin actions and trips the shred breaker past 100 an hour, unless told otherwise', () => {
    const defaults = loadAppConfig({});
    assert.equal(defaults.dualControl, true);
    assert.equal(defaults.shredMaxPerHour, 100);
    const solo = loadAppConfig({ DUAL_CONTROL: 'off', SHRED_MAX_PER_HOUR: '5' });
    assert.equal(solo.dualControl, false);
    assert.equal(solo.shredMaxPerHour, 5);
    assert.throws(() => loadAppConfig({ DUAL_CONTROL: 'false' }), /DUAL_CONTROL/);
    assert.throws(() => loadAppConfig({ SHRED_MAX_PER_HOUR: '0' }), /SHRED_MAX_PER_HOUR/);
    assert.deepEqual(productionWarnings(loadAppConfig({ ...PRODUCTION, DUAL_CONTROL: 'off' })), [
      'DUAL_CONTROL=off: one operator alone can finish a blind-index rotation, start a KMS key migration and lift the mass-destruction breaker (the default asks a second person)',
    ]);
  });

  it('waits 7 days before destroying deleted keys, hourly; allows no window outside production, and in production only without the two-person rule', () => {
    const defaults = loadAppConfig({});
    assert.deepEqual(defaults.shredSchedule, { pendingDays: 7, cron: '0 * * * *' });
    assert.equal(loadAppConfig({ SHRED_PENDING_DAYS: '0' }).shredSchedule.pendingDays, 0);
    assert.throws(() => loadAppConfig({ SHRED_PENDING_DAYS: '31' }), /SHRED_PENDING_DAYS/);
    assert.throws(() => loadAppConfig({ SHRED_CRON: 'hourly' }), /SHRED_CRON/);
    assert.match(
      problemsOf({ ...PRODUCTION, SHRED_PENDING_DAYS: '0' }),
      /^SHRED_PENDING_DAYS: 0 .* refused when NODE_ENV=production while DUAL_CONTROL=on/m,
    );
    assert.deepEqual(productionWarnings(loadAppConfig({ ...PRODUCTION, DUAL_CONTROL: 'off', SHRED_PENDING_DAYS: '0' })).slice(1), [
      'SHRED_PENDING_DAYS=0: a DELETE /keys destroys the keys at once, with no window to cancel it (the default waits 7 days)',
    ]);
  });

  it('gives no warning for the safe production configuration, nor outside production', () => {
    assert.deepEqual(productionWarnings(loadAppConfig({ ...PRODUCTION, TRUST_PROXY: '1', GRANT_APPROVALS_REQUIRED: '2' })), []);
    assert.deepEqual(
      productionWarnings(loadAppConfig({ GRANT_APPROVALS_REQUIRED: '1', AUDIT_FAIL_OPEN: 'true', SWAGGER_ENABLED: 'true' })),
      [],
    );
  });
});
