import { join, resolve } from 'node:path';
import { BATCH_BODY_OVERHEAD_NODES, HTTP_DEFAULTS, LIMIT_BOUNDS, LIMIT_DEFAULTS } from '../common/limits';
import { FailpointAction, FailpointName, parseFailpoints } from '../common/failpoints';
import { isPermission, Permission } from '../common/permissions';
import { KeyAlgorithm, RSA_OAEP_256, X_WING } from '../envelope/ciphertexts';
import { EnvironmentVariables, parseEnvironment } from './environment';

export type KeyProviderName = 'local' | 'kms';
export type AuthMode = 'cognito' | 'local';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** Issuer and audience of tokens minted by the embedded local issuer (AUTH_MODE=local). */
export const LOCAL_ISSUER = 'urn:pii-encryption-api:local-issuer';
export const LOCAL_CLIENT_ID = 'local-dev-client';
/** AUTH_SCOPE_PREFIX's default: the resource server of the README's Cognito setup. */
export const DEFAULT_SCOPE_PREFIX = 'pii-api/';

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * The one typed, validated configuration object. Built once at start-up by loadAppConfig; the
 * service refuses to start when it cannot be built.
 */
export class AppConfig {
  port: number;
  nodeEnv: string;
  isProduction: boolean;
  logLevel: LogLevel;
  /** Unset: pretty lines on a terminal outside production, JSON otherwise (src/logging/log-format.ts). */
  logFormat?: 'json' | 'pretty';
  /** Unset: log lines go to stdout (as containers expect); set: appended to this file instead. */
  logFile?: string;
  dataDir: string;
  database: {
    /** Unset: the embedded PGlite database under dataDir. */
    url?: string;
    migrationsRun: boolean;
    /** Read replicas (PostgreSQL only): only the reads that say so go there (src/repositories/read-from.ts); everything else to `url`. */
    replicaUrls: string[];
    connectTimeoutMs: number;
    /** PostgreSQL only; the embedded PGlite server ignores it. */
    statementTimeoutMs: number;
  };
  cache: {
    redisUrl?: string;
    /**
     * REDIS_CLUSTER: the seed nodes of a cluster-mode Redis/Valkey (ElastiCache Serverless), from
     * REDIS_URL's comma-separated URLs; the client discovers the other nodes. Unset: one node.
     */
    redisClusterUrls?: string[];
    keyTtlSeconds: number;
    redisTimeoutMs: number;
  };
  keys: {
    provider: KeyProviderName;
    rsaBits: 2048 | 3072 | 4096;
    /** KEY_ALGORITHM: the algorithm of new key versions (creation, /rotate, scheduled rotation); existing versions keep theirs. */
    algorithm: KeyAlgorithm;
    kmsKeyId?: string;
    awsRegion: string;
    kmsEndpoint?: string;
    /** One KMS attempt; retries and the whole call are bounded by limits.ts. */
    kmsTimeoutMs: number;
    /** KMS_PREVIOUS_KEY_IDS: keys whose seals still unseal, until the KMS key migration has re-sealed them. */
    kmsPreviousKeyIds: string[];
    /** KMS_MIGRATION_RATE_PER_SECOND: sealed keys each replica re-seals per second at most during a migration. */
    migrationRatePerSecond: number;
    /** The local provider's master key file (default DATA_DIR/master.key, created on first start). */
    localMasterKeyFile: string;
    /** Earlier local master keys that still unseal, for rehearsing a migration in the embedded mode. */
    localPreviousMasterKeyFiles: string[];
  };
  /** How long an open circuit breaker (KMS, Redis) waits before letting one trial call through. */
  circuitBreakerResetMs: number;
  http: {
    /** Express's `trust proxy`: whether and how far X-Forwarded-For is believed. */
    trustProxy: boolean | number | string;
    /** Empty: CORS off. */
    corsOrigins: string[];
    /** SHUTDOWN_GRACE_MS: after the listener closes, how long requests in flight may take. */
    shutdownGraceMs: number;
    /** SHUTDOWN_DELAY_MS: after SIGTERM, how long the process keeps serving (not ready, `Connection: close`) before it closes the listener. */
    shutdownDelayMs: number;
    /** Listen backlog: connections the kernel queues before they are accepted. */
    backlog: number;
    /** HTTP_LISTEN_SOCKETS: listening sockets on the API port (Linux; one elsewhere), each accepting one connection per event-loop turn. */
    listenSockets: number;
    /** Idle keep-alive connections are closed after this; must exceed the load balancer's idle timeout. */
    keepAliveTimeoutMs: number;
    /** Time a client has to send the request headers; must exceed keepAliveTimeoutMs. */
    headersTimeoutMs: number;
    /** Requests in flight at most; beyond it requests are shed with 503 SYS002 and Retry-After. */
    maxInFlight: number;
    /** METRICS_PORT: /metrics is served on this port only (plain HTTP); unset: on `port`, with the API. */
    metricsPort?: number;
    /** TLS_CERT_FILE and TLS_KEY_FILE (PEM): the API port serves HTTPS; unset: plain HTTP. */
    tls?: { certFile: string; keyFile: string };
  };
  auth: {
    mode: AuthMode;
    issuer: string;
    /** Unset in local mode: the local issuer's keys are used directly. */
    jwksUri?: string;
    clientIds: string[];
    userIdClaim?: string;
    /** AUTH_BOUND_CLIENT_IDS: clients whose tokens must carry userIdClaim (a person's own app). */
    boundClientIds: string[];
    /** Only scopes `<scopePrefix><permission>` grant permissions: AUTH_SCOPE_PREFIX for Cognito, "" for the local issuer. */
    scopePrefix: string;
    groupPermissions: Record<string, Permission[]>;
  };
  limits: { maxBatchItems: number; maxItemBytes: number; bodyLimitBytes: number; maxJsonNodes: number; maxJsonKeyBytes: number };
  rateLimitPerMinute: number;
  /**
   * Decrypt budgets (src/budget): distinct people one caller (token `sub`) may decrypt, rotate,
   * rewrap or translate in a sliding window. 0: no budget.
   */
  decryptBudget: {
    perCaller: number;
    windowSeconds: number;
    /** DECRYPT_SUBJECT_BUDGET_OVERRIDES: client id or `sub` → budget; a `sub` entry wins over a client id entry. */
    overrides: Record<string, number>;
  };
  rotation: { enabled: boolean; cron: string; maxAgeDays: number; historyRetentionDays: number };
  audit: {
    /** AUDIT_FAIL_OPEN: an event that cannot be stored is logged loudly and the operation proceeds. */
    failOpen: boolean;
    requirePurpose: boolean;
    retentionDays: number;
    /** When the retention purge runs (UTC). */
    retentionCron: string;
    /** AUDIT_VERIFY_TIMEOUT_MS: longest a full verification (`?full=true`) may hold its snapshot before it is stopped. */
    verifyTimeoutMs: number;
    /** AUDIT_VERIFY_SAMPLE: checkpointed links an incremental verification re-checks, picked at random. */
    verifySample: number;
  };
  swaggerEnabled: boolean;
  grantApprovalsRequired: number;
  /**
   * DUAL_CONTROL: destructive admin actions (finishing a blind-index rotation, starting a KMS key
   * migration, lifting the mass-destruction breaker) run only under a request approved by a
   * second identity (src/dual-control). false: one operator runs them alone.
   */
  dualControl: boolean;
  /** SHRED_MAX_PER_HOUR: crypto-shreds by DELETE /keys in a sliding hour, cluster-wide, before the breaker trips. */
  shredMaxPerHour: number;
  /**
   * Scheduled destruction (docs/compliance.md, "The deletion window"): SHRED_PENDING_DAYS, the
   * days a DELETE /keys leaves the keys pending deletion (every use refused, cancellable) before
   * the job on SHRED_CRON destroys them; 0: no window, a DELETE destroys at once (refused in
   * production while DUAL_CONTROL=on: one person would destroy at once).
   */
  shredSchedule: { pendingDays: number; cron: string };
  privateKeyCache: { ttlSeconds: number; maxEntries: number };
  /** INDEX_KEY_CACHE_SECONDS: how long an unsealed blind-index key stays in process memory (0: no cache). */
  indexKeyCacheSeconds: number;
  /**
   * Where crypto-shreds are recorded outside the key database (src/shred-log): an S3 bucket when
   * SHRED_LOG_BUCKET is set, else the directory SHRED_LOG_DIR (default DATA_DIR/shred-log).
   */
  shredLog: {
    bucket?: string;
    /** Key prefix in the bucket ('' or ending in '/'). */
    prefix: string;
    /** S3 endpoint override (emulators); the region is AWS_REGION. */
    endpoint?: string;
    directory: string;
  };
  /** FAILPOINTS (crash-consistency tests only; refused in production): src/common/failpoints.ts. */
  failpoints: ReadonlyMap<FailpointName, FailpointAction>;
}

/**
 * REDIS_CLUSTER=true: REDIS_URL's comma-separated seed URLs, which share a scheme (rediss:// for
 * TLS) and credentials (every node discovered is reached with those of the first) and select no
 * database (a cluster has only database 0).
 */
function redisClusterUrls(env: EnvironmentVariables, problems: string[]): string[] | undefined {
  if (!env.REDIS_CLUSTER) return undefined;
  if (!env.REDIS_URL) {
    problems.push('REDIS_CLUSTER: needs REDIS_URL, the URL of one or more seed nodes of the cluster');
    return undefined;
  }
  const urls = env.REDIS_URL.split(',');
  let first: URL | undefined;
  for (const text of urls) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      problems.push('REDIS_URL: with REDIS_CLUSTER=true, a comma-separated list of redis:// or rediss:// URLs');
      return undefined;
    }
    first ??= url;
    if (!/^rediss?:$/.test(url.protocol) || !url.hostname) {
      problems.push('REDIS_URL: with REDIS_CLUSTER=true, a comma-separated list of redis:// or rediss:// URLs');
    } else if (url.protocol !== first.protocol || url.username !== first.username || url.password !== first.password) {
      problems.push('REDIS_URL: the seed nodes of a cluster share one scheme and one username and password');
    } else if (url.pathname.length > 1 && url.pathname !== '/0') {
      problems.push('REDIS_URL: a Redis cluster has only database 0; remove the database number');
    } else continue;
    return undefined;
  }
  return urls;
}

export function loadAppConfig(raw: Record<string, string | undefined> = process.env): AppConfig {
  const { env, problems } = parseEnvironment(raw);
  if (problems.length) throw new ConfigValidationError(problems);
  problems.push(...crossFieldProblems(env));
  const config = buildConfig(env, problems);
  if (problems.length) throw new ConfigValidationError(problems);
  return config;
}

/** NODE_ENV and the modes whose defaults follow it. */
function modes(env: EnvironmentVariables) {
  const nodeEnv = env.NODE_ENV ?? 'development';
  const isProduction = nodeEnv === 'production';
  return {
    nodeEnv,
    isProduction,
    provider: (env.KEY_PROVIDER ?? (isProduction ? 'kms' : 'local')) as KeyProviderName,
    authMode: (env.AUTH_MODE ?? (isProduction ? 'cognito' : 'local')) as AuthMode,
  };
}

/** The keep-alive timeout and the headers timeout that must exceed it (defaulting to it plus 1 s). */
function httpTimeouts(env: EnvironmentVariables) {
  const keepAliveTimeoutMs = env.HTTP_KEEP_ALIVE_TIMEOUT_MS ?? HTTP_DEFAULTS.keepAliveTimeoutMs;
  const headersTimeoutMs = env.HTTP_HEADERS_TIMEOUT_MS ?? Math.max(HTTP_DEFAULTS.headersTimeoutMs, keepAliveTimeoutMs + 1000);
  return { keepAliveTimeoutMs, headersTimeoutMs };
}

/** The token issuer, its JWKS and the accepted client ids: Cognito's with AUTH_MODE=cognito, else the local issuer's. */
function tokenIssuer(env: EnvironmentVariables, authMode: AuthMode) {
  if (authMode !== 'cognito') return { issuer: LOCAL_ISSUER, jwksUri: undefined, clientIds: [LOCAL_CLIENT_ID] };
  const region = env.COGNITO_REGION ?? env.AWS_REGION ?? 'ca-central-1';
  const issuer = env.COGNITO_ISSUER ?? `https://cognito-idp.${region}.amazonaws.com/${env.COGNITO_USER_POOL_ID}`;
  return {
    issuer,
    jwksUri: env.COGNITO_JWKS_URI ?? `${issuer}/.well-known/jwks.json`,
    clientIds: env.COGNITO_CLIENT_IDS?.split(',') ?? [],
  };
}

/**
 * The rules that relate one setting to another or to NODE_ENV=production, each as the line the
 * start-up refusal prints. Each variable's own type and range are environment.ts's.
 */
function crossFieldProblems(env: EnvironmentVariables): string[] {
  const problems: string[] = [];
  const { isProduction, provider, authMode } = modes(env);
  if (isProduction) {
    if (provider === 'local') problems.push('KEY_PROVIDER: "local" is for development only and is refused when NODE_ENV=production');
    if (authMode === 'local') problems.push('AUTH_MODE: "local" is for development only and is refused when NODE_ENV=production');
    if (!env.DATABASE_URL)
      problems.push('DATABASE_URL: required when NODE_ENV=production (the embedded PGlite database is for development only)');
    if (env.FAILPOINTS) problems.push('FAILPOINTS: crash-consistency tests only, refused when NODE_ENV=production');
    if (env.SHRED_PENDING_DAYS === 0 && (env.DUAL_CONTROL ?? 'on') === 'on')
      problems.push(
        'SHRED_PENDING_DAYS: 0 (no deletion window: one person destroys keys at once) is refused when NODE_ENV=production while DUAL_CONTROL=on; ' +
          'an erasure before the window ends takes two people (POST /keys/{userId}/erase-now)',
      );
    if (trustsEveryone(env.TRUST_PROXY))
      problems.push(
        'TRUST_PROXY: "true" (or 0.0.0.0/0) believes every X-Forwarded-For entry, so any client can name its own IP; refused when ' +
          'NODE_ENV=production: set the number of proxies in front of the service (1 behind one load balancer) or their addresses',
      );
  }
  if (provider === 'kms' && !env.KMS_KEY_ID) problems.push('KMS_KEY_ID: required when KEY_PROVIDER=kms');
  const maxBatchItems = env.MAX_BATCH_ITEMS ?? LIMIT_DEFAULTS.maxBatchItems;
  const maxJsonNodes = env.MAX_JSON_NODES ?? LIMIT_DEFAULTS.maxJsonNodes;
  // A full batch body holds its items plus a few values and keys around them.
  if (maxJsonNodes < maxBatchItems + BATCH_BODY_OVERHEAD_NODES) {
    problems.push(
      `MAX_JSON_NODES: must be at least MAX_BATCH_ITEMS + ${BATCH_BODY_OVERHEAD_NODES} (${maxBatchItems + BATCH_BODY_OVERHEAD_NODES}), so that a full batch fits`,
    );
  }

  if (!env.TLS_CERT_FILE !== !env.TLS_KEY_FILE) {
    problems.push(`${env.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'}: TLS_CERT_FILE and TLS_KEY_FILE are set together or not at all`);
  } else if (isProduction && !env.TLS_CERT_FILE && !env.ALLOW_PLAIN_HTTP) {
    problems.push(
      'TLS_CERT_FILE: required when NODE_ENV=production (with TLS_KEY_FILE), so that tokens and personal data never cross the network ' +
        'in clear text between the load balancer and the pod; set ALLOW_PLAIN_HTTP=true only where something else encrypts that hop (a mesh sidecar)',
    );
  }
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT === (env.PORT ?? 3000)) {
    problems.push('METRICS_PORT: must differ from PORT (unset it to serve /metrics on PORT)');
  }

  const { keepAliveTimeoutMs, headersTimeoutMs } = httpTimeouts(env);
  // Node closes a keep-alive connection whose next request's headers are late by headersTimeout.
  if (headersTimeoutMs <= keepAliveTimeoutMs) {
    problems.push(`HTTP_HEADERS_TIMEOUT_MS: must exceed HTTP_KEEP_ALIVE_TIMEOUT_MS (${keepAliveTimeoutMs})`);
  }

  if (env.AUTH_BOUND_CLIENT_IDS && !env.AUTH_USER_ID_CLAIM) {
    problems.push('AUTH_BOUND_CLIENT_IDS: needs AUTH_USER_ID_CLAIM, the claim that binds those clients’ tokens to one person');
  }

  if (authMode === 'cognito') {
    if (!env.COGNITO_ISSUER && !env.COGNITO_USER_POOL_ID) {
      problems.push('COGNITO_USER_POOL_ID: required when AUTH_MODE=cognito (or set COGNITO_ISSUER)');
    }
    if (!env.COGNITO_CLIENT_IDS) problems.push('COGNITO_CLIENT_IDS: required when AUTH_MODE=cognito');
    if (isProduction && !isSafeJwksUri(tokenIssuer(env, authMode).jwksUri!)) {
      problems.push(
        'COGNITO_JWKS_URI: must be https:// when NODE_ENV=production (http:// only on loopback): the signing keys decide which tokens are accepted',
      );
    }
  }
  return problems;
}

/**
 * The configuration the environment describes: defaults filled in, lists split, paths resolved.
 * The values parsed here from a text of their own (REDIS_URL in cluster mode, JSON maps, the body
 * limit, failpoints) add their format problems to `problems`.
 */
function buildConfig(env: EnvironmentVariables, problems: string[]): AppConfig {
  const { nodeEnv, isProduction, provider, authMode } = modes(env);
  const { keepAliveTimeoutMs, headersTimeoutMs } = httpTimeouts(env);
  const maxBatchItems = env.MAX_BATCH_ITEMS ?? LIMIT_DEFAULTS.maxBatchItems;
  const maxJsonNodes = env.MAX_JSON_NODES ?? LIMIT_DEFAULTS.maxJsonNodes;
  const boundClientIds = env.AUTH_BOUND_CLIENT_IDS?.split(',') ?? [];
  const { issuer, jwksUri, clientIds } = tokenIssuer(env, authMode);

  return {
    port: env.PORT ?? 3000,
    nodeEnv,
    isProduction,
    logLevel: (env.LOG_LEVEL ?? 'info') as LogLevel,
    logFormat: env.LOG_FORMAT,
    logFile: env.LOG_FILE ? resolve(env.LOG_FILE) : undefined,
    dataDir: resolve(env.DATA_DIR ?? 'data'),
    database: {
      url: env.DATABASE_URL,
      migrationsRun: env.MIGRATIONS_RUN ?? true,
      replicaUrls: env.DATABASE_REPLICA_URLS?.split(',') ?? [],
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS ?? 5000,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS ?? 5000,
    },
    cache: {
      redisUrl: env.REDIS_URL,
      redisClusterUrls: redisClusterUrls(env, problems),
      keyTtlSeconds: env.KEY_CACHE_TTL_SECONDS ?? 900,
      redisTimeoutMs: env.REDIS_TIMEOUT_MS ?? 500,
    },
    keys: {
      provider,
      rsaBits: (env.KEY_RSA_BITS ?? 2048) as 2048 | 3072 | 4096,
      algorithm: env.KEY_ALGORITHM === 'rsa-oaep' ? RSA_OAEP_256 : X_WING,
      kmsKeyId: env.KMS_KEY_ID,
      awsRegion: env.AWS_REGION ?? 'ca-central-1',
      kmsEndpoint: env.KMS_ENDPOINT,
      kmsTimeoutMs: env.KMS_TIMEOUT_MS ?? 3000,
      kmsPreviousKeyIds: env.KMS_PREVIOUS_KEY_IDS?.split(',') ?? [],
      migrationRatePerSecond: env.KMS_MIGRATION_RATE_PER_SECOND ?? 50,
      localMasterKeyFile: resolve(env.LOCAL_MASTER_KEY_FILE ?? join(env.DATA_DIR ?? 'data', 'master.key')),
      localPreviousMasterKeyFiles: env.LOCAL_PREVIOUS_MASTER_KEY_FILES?.split(',').map((path) => resolve(path.trim())) ?? [],
    },
    circuitBreakerResetMs: env.CIRCUIT_BREAKER_RESET_MS ?? 10_000,
    http: {
      trustProxy: parseTrustProxy(env.TRUST_PROXY),
      corsOrigins: env.CORS_ORIGINS?.split(',') ?? [],
      shutdownGraceMs: env.SHUTDOWN_GRACE_MS ?? 10_000,
      shutdownDelayMs: env.SHUTDOWN_DELAY_MS ?? 0,
      backlog: env.HTTP_BACKLOG ?? HTTP_DEFAULTS.backlog,
      listenSockets: env.HTTP_LISTEN_SOCKETS ?? HTTP_DEFAULTS.listenSockets,
      keepAliveTimeoutMs,
      headersTimeoutMs,
      maxInFlight: env.MAX_IN_FLIGHT_REQUESTS ?? HTTP_DEFAULTS.maxInFlight,
      metricsPort: env.METRICS_PORT,
      tls: env.TLS_CERT_FILE && env.TLS_KEY_FILE ? { certFile: resolve(env.TLS_CERT_FILE), keyFile: resolve(env.TLS_KEY_FILE) } : undefined,
    },
    auth: {
      mode: authMode,
      issuer,
      jwksUri,
      clientIds,
      userIdClaim: env.AUTH_USER_ID_CLAIM,
      boundClientIds,
      scopePrefix: authMode === 'local' ? '' : (env.AUTH_SCOPE_PREFIX ?? DEFAULT_SCOPE_PREFIX),
      groupPermissions: parseGroupPermissions(env.AUTH_GROUP_PERMISSIONS, problems),
    },
    limits: {
      maxBatchItems,
      maxItemBytes: env.MAX_ITEM_BYTES ?? LIMIT_DEFAULTS.maxItemBytes,
      bodyLimitBytes: parseBodyLimit(env.BODY_LIMIT, problems),
      maxJsonNodes,
      maxJsonKeyBytes: env.MAX_JSON_KEY_BYTES ?? LIMIT_DEFAULTS.maxJsonKeyBytes,
    },
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE ?? 1000,
    decryptBudget: {
      perCaller: env.DECRYPT_SUBJECT_BUDGET ?? 1000,
      windowSeconds: env.DECRYPT_SUBJECT_WINDOW_SECONDS ?? 3600,
      overrides: parseBudgetOverrides(env.DECRYPT_SUBJECT_BUDGET_OVERRIDES, problems),
    },
    rotation: {
      enabled: env.ROTATION_ENABLED ?? true,
      cron: env.ROTATION_CRON ?? '0 3 * * *',
      maxAgeDays: env.ROTATION_MAX_AGE_DAYS ?? 90,
      historyRetentionDays: env.HISTORY_RETENTION_DAYS ?? 2555,
    },
    audit: {
      failOpen: env.AUDIT_FAIL_OPEN ?? false,
      requirePurpose: env.AUDIT_REQUIRE_PURPOSE ?? false,
      retentionDays: env.AUDIT_RETENTION_DAYS ?? 2555,
      retentionCron: env.AUDIT_RETENTION_CRON ?? '30 4 * * *',
      verifyTimeoutMs: env.AUDIT_VERIFY_TIMEOUT_MS ?? 900_000,
      verifySample: env.AUDIT_VERIFY_SAMPLE ?? 1000,
    },
    swaggerEnabled: env.SWAGGER_ENABLED ?? !isProduction,
    shredLog: {
      bucket: env.SHRED_LOG_BUCKET,
      prefix: env.SHRED_LOG_PREFIX ? env.SHRED_LOG_PREFIX.replace(/\/*$/, '/') : '',
      endpoint: env.SHRED_LOG_ENDPOINT,
      directory: resolve(env.SHRED_LOG_DIR ?? join(env.DATA_DIR ?? 'data', 'shred-log')),
    },
    grantApprovalsRequired: env.GRANT_APPROVALS_REQUIRED ?? 2,
    dualControl: (env.DUAL_CONTROL ?? 'on') === 'on',
    shredMaxPerHour: env.SHRED_MAX_PER_HOUR ?? 100,
    shredSchedule: { pendingDays: env.SHRED_PENDING_DAYS ?? 7, cron: env.SHRED_CRON ?? '0 * * * *' },
    privateKeyCache: { ttlSeconds: env.PRIVATE_KEY_CACHE_SECONDS ?? 300, maxEntries: env.PRIVATE_KEY_CACHE_MAX ?? 1000 },
    indexKeyCacheSeconds: env.INDEX_KEY_CACHE_SECONDS ?? 300,
    failpoints: parseFailpoints(env.FAILPOINTS, problems),
  };
}

/**
 * Settings production accepts but an operator should know they chose: one start-up warning each
 * (src/main.ts logs them; README, Production setup). None outside production, none for the defaults.
 */
export function productionWarnings(config: AppConfig): string[] {
  if (!config.isProduction) return [];
  const warnings: string[] = [];
  if (config.grantApprovalsRequired < 2)
    warnings.push(
      `GRANT_APPROVALS_REQUIRED=${config.grantApprovalsRequired}: a delegated-release grant is active after a single approval (the default asks two approvers)`,
    );
  if (!config.dualControl)
    warnings.push(
      'DUAL_CONTROL=off: one operator alone can finish a blind-index rotation, start a KMS key migration and lift the mass-destruction breaker (the default asks a second person)',
    );
  if (config.shredSchedule.pendingDays === 0)
    warnings.push('SHRED_PENDING_DAYS=0: a DELETE /keys destroys the keys at once, with no window to cancel it (the default waits 7 days)');
  if (config.audit.failOpen) warnings.push('AUDIT_FAIL_OPEN=true: an operation whose audit event cannot be stored proceeds, unaudited');
  if (config.swaggerEnabled)
    warnings.push('SWAGGER_ENABLED=true: the OpenAPI document and Swagger UI are served at /docs to anyone, without a token');
  return warnings;
}

/** https://, or http:// to this host only (a sidecar or an emulator): no one on the way can swap the signing keys. */
function isSafeJwksUri(uri: string): boolean {
  if (!URL.canParse(uri)) return false;
  const { protocol, hostname } = new URL(uri);
  return protocol === 'https:' || (protocol === 'http:' && /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(hostname));
}

/** TRUST_PROXY values that trust every hop: a client's own X-Forwarded-For entry is then its IP. */
function trustsEveryone(value: string | undefined): boolean {
  return value === 'true' || (value?.split(',').some((entry) => ['0.0.0.0/0', '::/0'].includes(entry.trim())) ?? false);
}

/** "false" (default) | "true" | a hop count | "loopback, 10.0.0.0/8": Express's `trust proxy` values. */
function parseTrustProxy(value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** '{"reporting-batch":50000,"sub-of-a-person":0}' → { 'reporting-batch': 50000, … }: whole numbers from 0. */
function parseBudgetOverrides(value: string | undefined, problems: string[]): Record<string, number> {
  if (value === undefined) return {};
  const problem =
    'DECRYPT_SUBJECT_BUDGET_OVERRIDES: must be a JSON object from client id or sub to a whole number of people from 0 (0: no budget)';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    problems.push(problem);
    return {};
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(problem);
    return {};
  }
  const overrides: Record<string, number> = Object.create(null);
  for (const [caller, budget] of Object.entries(parsed)) {
    if (!Number.isSafeInteger(budget) || (budget as number) < 0 || caller.length === 0) {
      problems.push(problem);
      return {};
    }
    overrides[caller] = budget as number;
  }
  return overrides;
}

/** "pii-admins=keys:write keys:read;auditors=audit:read" → { 'pii-admins': [...], auditors: [...] } */
function parseGroupPermissions(value: string | undefined, problems: string[]): Record<string, Permission[]> {
  const map: Record<string, Permission[]> = {};
  for (const entry of value?.split(';') ?? []) {
    const [group, perms] = entry.split('=');
    const names = perms.trim().split(/\s+/);
    const unknown = names.filter((name) => !isPermission(name));
    if (unknown.length) problems.push(`AUTH_GROUP_PERMISSIONS: unknown permission(s) ${unknown.join(', ')}`);
    map[group.trim()] = names.filter(isPermission);
  }
  return map;
}

function parseBodyLimit(value: string | undefined, problems: string[]): number {
  if (value === undefined) return LIMIT_DEFAULTS.bodyLimitBytes;
  const [, digits, unit = 'b'] = /^(\d+)(b|kb|mb)?$/i.exec(value) ?? [];
  const bytes = Number(digits) * { b: 1, kb: 1024, mb: 1024 * 1024 }[unit.toLowerCase() as 'b' | 'kb' | 'mb'];
  const { min, max } = LIMIT_BOUNDS.bodyLimitBytes;
  if (!(bytes >= min && bytes <= max)) problems.push(`BODY_LIMIT: must be between ${min} bytes and ${max / 1024 / 1024}mb`);
  return bytes;
}
