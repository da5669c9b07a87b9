import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  validateSync,
  ValidateBy,
} from 'class-validator';
import { validateCronExpression } from 'cron';
import { HTTP_BOUNDS, KMS_TIMEOUT_MAX_MS, LIMIT_BOUNDS } from '../common/limits';

const toInt = ({ value }: { value: unknown }) => (typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value);
const toBool = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);
const emptyToUndefined = ({ value }: { value: unknown }) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const URL_OPTIONS = { require_tld: false, require_protocol: true } as const;

/** A 5- or 6-field cron expression (the optional first field is seconds) that the scheduler accepts. */
const IsCronExpression = () =>
  ValidateBy({
    name: 'isCronExpression',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'string' && /^(\S+\s+){4,5}\S+$/.test(value.trim()) && validateCronExpression(value.trim()).valid,
      defaultMessage: (args) => `${args?.property} must be a 5- or 6-field cron expression`,
    },
  });

/**
 * The environment as the service accepts it. Every variable of the README's configuration table is here; defaults
 * that depend on NODE_ENV are applied in app-config.ts.
 */
export class EnvironmentVariables {
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT?: number;

  @IsOptional()
  @IsIn(['development', 'test', 'production'])
  NODE_ENV?: string;

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
  LOG_LEVEL?: string;

  @IsOptional()
  @IsIn(['json', 'pretty'])
  LOG_FORMAT?: 'json' | 'pretty';

  @IsOptional()
  @IsString()
  @MaxLength(1024)
  LOG_FILE?: string;

  @IsOptional()
  @IsString()
  @MaxLength(1024)
  DATA_DIR?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^postgres(ql)?:\/\/\S+$/, {
    message: 'DATABASE_URL must be a postgres:// or postgresql:// URL',
  })
  DATABASE_URL?: string;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  MIGRATIONS_RUN?: boolean;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^postgres(ql)?:\/\/[^\s,]+(,postgres(ql)?:\/\/[^\s,]+)*$/, {
    message: 'DATABASE_REPLICA_URLS must be a comma-separated list of postgres:// URLs',
  })
  DATABASE_REPLICA_URLS?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60_000)
  DATABASE_CONNECT_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600_000)
  DATABASE_STATEMENT_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^rediss?:\/\/\S+$/, {
    message: 'REDIS_URL must be a redis:// or rediss:// URL',
  })
  REDIS_URL?: string;

  /** REDIS_URL names the seed node(s) of a Redis/Valkey cluster (cluster mode enabled, ElastiCache Serverless). */
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  REDIS_CLUSTER?: boolean;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(10_000)
  REDIS_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(86_400)
  KEY_CACHE_TTL_SECONDS?: number;

  @IsOptional()
  @IsIn(['local', 'kms'])
  KEY_PROVIDER?: string;

  @IsOptional()
  @Transform(toInt)
  @IsIn([2048, 3072, 4096])
  KEY_RSA_BITS?: number;

  /** The algorithm of new key versions (README): `x-wing` (default) or `rsa-oaep` (KEY_RSA_BITS). */
  @IsOptional()
  @IsIn(['x-wing', 'rsa-oaep'])
  KEY_ALGORITHM?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  @MaxLength(2048)
  KMS_KEY_ID?: string;

  /** Comma-separated KMS key ids, ARNs or aliases whose seals may still be unsealed while a migration re-seals them. */
  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[^\s,]+(,[^\s,]+)*$/, {
    message: 'KMS_PREVIOUS_KEY_IDS must be a comma-separated list of KMS key ids, ARNs or aliases',
  })
  @MaxLength(20_000)
  KMS_PREVIOUS_KEY_IDS?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  KMS_MIGRATION_RATE_PER_SECOND?: number;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  @MaxLength(1024)
  LOCAL_MASTER_KEY_FILE?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  @MaxLength(10_000)
  LOCAL_PREVIOUS_MASTER_KEY_FILES?: string;

  @IsOptional()
  @Matches(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'AWS_REGION must look like ca-central-1' })
  AWS_REGION?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsUrl(URL_OPTIONS)
  KMS_ENDPOINT?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(KMS_TIMEOUT_MAX_MS)
  KMS_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600_000)
  CIRCUIT_BREAKER_RESET_MS?: number;

  @IsOptional()
  @IsIn(['cognito', 'local'])
  AUTH_MODE?: string;

  @IsOptional()
  @Matches(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'COGNITO_REGION must look like ca-central-1' })
  COGNITO_REGION?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[\w-]+_[0-9A-Za-z]+$/, {
    message: 'COGNITO_USER_POOL_ID must look like ca-central-1_AbCdEf123',
  })
  COGNITO_USER_POOL_ID?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[\w.-]+(,[\w.-]+)*$/, {
    message: 'COGNITO_CLIENT_IDS must be a comma-separated list of app client ids',
  })
  COGNITO_CLIENT_IDS?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsUrl(URL_OPTIONS)
  COGNITO_ISSUER?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsUrl(URL_OPTIONS)
  COGNITO_JWKS_URI?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[\w:.-]{1,128}$/, {
    message: 'AUTH_USER_ID_CLAIM must be a claim name such as custom:user_id',
  })
  AUTH_USER_ID_CLAIM?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[\w.-]+=[\w:.-]+(\s+[\w:.-]+)*(;[\w.-]+=[\w:.-]+(\s+[\w:.-]+)*)*$/, {
    message: 'AUTH_GROUP_PERMISSIONS must look like "group=perm perm;group2=perm"',
  })
  AUTH_GROUP_PERMISSIONS?: string;

  @IsOptional()
  @IsString()
  FAILPOINTS?: string;

  @IsOptional()
  @Matches(/^$|^[\w.-]{1,64}\/$/, {
    message: 'AUTH_SCOPE_PREFIX must be a resource server identifier followed by "/", such as pii-api/ (or empty)',
  })
  AUTH_SCOPE_PREFIX?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[\w.-]+(,[\w.-]+)*$/, {
    message: 'AUTH_BOUND_CLIENT_IDS must be a comma-separated list of app client ids',
  })
  AUTH_BOUND_CLIENT_IDS?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  RATE_LIMIT_PER_MINUTE?: number;

  /** Distinct people one caller may decrypt, rotate, rewrap or translate in the window (0: no budget). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10_000_000)
  DECRYPT_SUBJECT_BUDGET?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(30 * 86_400)
  DECRYPT_SUBJECT_WINDOW_SECONDS?: number;

  /** JSON object: client id or token `sub` → budget (0: no budget), e.g. {"reporting-batch":50000}. */
  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  DECRYPT_SUBJECT_BUDGET_OVERRIDES?: string;

  @IsOptional()
  @IsCronExpression()
  ROTATION_CRON?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(36_500)
  ROTATION_MAX_AGE_DAYS?: number;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  ROTATION_ENABLED?: boolean;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(36_500)
  HISTORY_RETENTION_DAYS?: number;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  AUDIT_FAIL_OPEN?: boolean;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  AUDIT_REQUIRE_PURPOSE?: boolean;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(36_500)
  AUDIT_RETENTION_DAYS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(86_400_000)
  AUDIT_VERIFY_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  AUDIT_VERIFY_SAMPLE?: number;

  @IsOptional()
  @IsCronExpression()
  AUDIT_RETENTION_CRON?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(LIMIT_BOUNDS.maxBatchItems.min)
  @Max(LIMIT_BOUNDS.maxBatchItems.max)
  MAX_BATCH_ITEMS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(LIMIT_BOUNDS.maxItemBytes.min)
  @Max(LIMIT_BOUNDS.maxItemBytes.max)
  MAX_ITEM_BYTES?: number;

  @IsOptional()
  @Matches(/^\d+(b|kb|mb)?$/i, { message: 'BODY_LIMIT must be bytes, or a number with kb or mb' })
  BODY_LIMIT?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(LIMIT_BOUNDS.maxJsonNodes.min)
  @Max(LIMIT_BOUNDS.maxJsonNodes.max)
  MAX_JSON_NODES?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(LIMIT_BOUNDS.maxJsonKeyBytes.min)
  @Max(LIMIT_BOUNDS.maxJsonKeyBytes.max)
  MAX_JSON_KEY_BYTES?: number;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  SWAGGER_ENABLED?: boolean;

  @IsOptional()
  @Matches(/^(true|false|\d{1,2}|[\w.:/]+(\s*,\s*[\w.:/]+)*)$/, {
    message: 'TRUST_PROXY must be true, false, a hop count, or comma-separated addresses/subnets (e.g. loopback, 10.0.0.0/8)',
  })
  TRUST_PROXY?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^https?:\/\/[^\s,/]+(,https?:\/\/[^\s,/]+)*$/, {
    message: 'CORS_ORIGINS must be a comma-separated list of origins such as https://app.example.com',
  })
  CORS_ORIGINS?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(600_000)
  SHUTDOWN_GRACE_MS?: number;

  /** On SIGTERM: keep serving (readiness 503, `Connection: close` on every answer) this long before closing the listener. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(600_000)
  SHUTDOWN_DELAY_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(HTTP_BOUNDS.backlog.min)
  @Max(HTTP_BOUNDS.backlog.max)
  HTTP_BACKLOG?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(HTTP_BOUNDS.listenSockets.min)
  @Max(HTTP_BOUNDS.listenSockets.max)
  HTTP_LISTEN_SOCKETS?: number;

  /** Serve /metrics on this port only (a second, plain-HTTP listener); unset: on PORT with the API. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  METRICS_PORT?: number;

  /** PEM certificate chain and private key: the API port serves HTTPS (both or neither). */
  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  @MaxLength(1024)
  TLS_CERT_FILE?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  @MaxLength(1024)
  TLS_KEY_FILE?: string;

  /** Production on plain HTTP, on purpose (a mesh sidecar terminates TLS in the pod). */
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  ALLOW_PLAIN_HTTP?: boolean;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(HTTP_BOUNDS.keepAliveTimeoutMs.min)
  @Max(HTTP_BOUNDS.keepAliveTimeoutMs.max)
  HTTP_KEEP_ALIVE_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(HTTP_BOUNDS.headersTimeoutMs.min)
  @Max(HTTP_BOUNDS.headersTimeoutMs.max)
  HTTP_HEADERS_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(HTTP_BOUNDS.maxInFlight.min)
  @Max(HTTP_BOUNDS.maxInFlight.max)
  MAX_IN_FLIGHT_REQUESTS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10)
  GRANT_APPROVALS_REQUIRED?: number;

  /** The two-person rule on destructive admin actions (README "Two-person rule"): on (default) or off. */
  @IsOptional()
  @IsIn(['on', 'off'])
  DUAL_CONTROL?: string;

  /** The mass-destruction breaker: crypto-shreds by DELETE /keys in any sliding hour, across all replicas, before it trips. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  SHRED_MAX_PER_HOUR?: number;

  /** Days a DELETE /keys leaves the person's keys pending deletion before the scheduled job destroys them (0: no window). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(30)
  SHRED_PENDING_DAYS?: number;

  /** When the job destroying the keys whose window has ended runs (UTC). */
  @IsOptional()
  @IsCronExpression()
  SHRED_CRON?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86_400)
  PRIVATE_KEY_CACHE_SECONDS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  PRIVATE_KEY_CACHE_MAX?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86_400)
  INDEX_KEY_CACHE_SECONDS?: number;

  /** The shred log in S3: bucket name as S3 allows it (3–63 lowercase letters, digits, dots, hyphens). */
  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'SHRED_LOG_BUCKET must be an S3 bucket name' })
  SHRED_LOG_BUCKET?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[A-Za-z0-9!_.*'()/-]{1,512}$/, { message: 'SHRED_LOG_PREFIX must be an S3 key prefix of safe characters' })
  SHRED_LOG_PREFIX?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsUrl(URL_OPTIONS)
  SHRED_LOG_ENDPOINT?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  @MaxLength(1024)
  SHRED_LOG_DIR?: string;
}

/** Parses and validates the raw environment; returns the problems, one line per variable. */
export function parseEnvironment(raw: Record<string, string | undefined>): {
  env: EnvironmentVariables;
  problems: string[];
} {
  const known = Object.fromEntries(
    Object.keys(new EnvironmentVariablesKeys())
      .map((name) => [name, raw[name]])
      .filter(([, v]) => v !== undefined),
  );
  const env = plainToInstance(EnvironmentVariables, known);
  const problems = validateSync(env, { skipMissingProperties: false }).map(
    (error) => `${error.property}: ${Object.values(error.constraints ?? {}).join('; ')}`,
  );
  return { env, problems };
}

/** The variable names, for picking them out of process.env (which holds much else). */
class EnvironmentVariablesKeys implements Record<keyof EnvironmentVariables, undefined> {
  PORT = undefined;
  NODE_ENV = undefined;
  LOG_LEVEL = undefined;
  LOG_FORMAT = undefined;
  LOG_FILE = undefined;
  DATA_DIR = undefined;
  DATABASE_URL = undefined;
  MIGRATIONS_RUN = undefined;
  DATABASE_REPLICA_URLS = undefined;
  DATABASE_CONNECT_TIMEOUT_MS = undefined;
  DATABASE_STATEMENT_TIMEOUT_MS = undefined;
  REDIS_URL = undefined;
  REDIS_CLUSTER = undefined;
  REDIS_TIMEOUT_MS = undefined;
  KEY_CACHE_TTL_SECONDS = undefined;
  KEY_PROVIDER = undefined;
  KEY_RSA_BITS = undefined;
  KEY_ALGORITHM = undefined;
  KMS_KEY_ID = undefined;
  AWS_REGION = undefined;
  KMS_ENDPOINT = undefined;
  KMS_TIMEOUT_MS = undefined;
  KMS_PREVIOUS_KEY_IDS = undefined;
  KMS_MIGRATION_RATE_PER_SECOND = undefined;
  LOCAL_MASTER_KEY_FILE = undefined;
  LOCAL_PREVIOUS_MASTER_KEY_FILES = undefined;
  CIRCUIT_BREAKER_RESET_MS = undefined;
  AUTH_MODE = undefined;
  COGNITO_REGION = undefined;
  COGNITO_USER_POOL_ID = undefined;
  COGNITO_CLIENT_IDS = undefined;
  COGNITO_ISSUER = undefined;
  COGNITO_JWKS_URI = undefined;
  AUTH_USER_ID_CLAIM = undefined;
  AUTH_GROUP_PERMISSIONS = undefined;
  AUTH_SCOPE_PREFIX = undefined;
  FAILPOINTS = undefined;
  AUTH_BOUND_CLIENT_IDS = undefined;
  RATE_LIMIT_PER_MINUTE = undefined;
  DECRYPT_SUBJECT_BUDGET = undefined;
  DECRYPT_SUBJECT_WINDOW_SECONDS = undefined;
  DECRYPT_SUBJECT_BUDGET_OVERRIDES = undefined;
  ROTATION_CRON = undefined;
  ROTATION_MAX_AGE_DAYS = undefined;
  ROTATION_ENABLED = undefined;
  HISTORY_RETENTION_DAYS = undefined;
  AUDIT_FAIL_OPEN = undefined;
  AUDIT_REQUIRE_PURPOSE = undefined;
  AUDIT_RETENTION_DAYS = undefined;
  AUDIT_VERIFY_TIMEOUT_MS = undefined;
  AUDIT_VERIFY_SAMPLE = undefined;
  AUDIT_RETENTION_CRON = undefined;
  MAX_BATCH_ITEMS = undefined;
  MAX_ITEM_BYTES = undefined;
  BODY_LIMIT = undefined;
  MAX_JSON_NODES = undefined;
  MAX_JSON_KEY_BYTES = undefined;
  SWAGGER_ENABLED = undefined;
  TRUST_PROXY = undefined;
  CORS_ORIGINS = undefined;
  SHUTDOWN_GRACE_MS = undefined;
  SHUTDOWN_DELAY_MS = undefined;
  HTTP_BACKLOG = undefined;
  HTTP_LISTEN_SOCKETS = undefined;
  METRICS_PORT = undefined;
  TLS_CERT_FILE = undefined;
  TLS_KEY_FILE = undefined;
  ALLOW_PLAIN_HTTP = undefined;
  HTTP_KEEP_ALIVE_TIMEOUT_MS = undefined;
  HTTP_HEADERS_TIMEOUT_MS = undefined;
  MAX_IN_FLIGHT_REQUESTS = undefined;
  GRANT_APPROVALS_REQUIRED = undefined;
  DUAL_CONTROL = undefined;
  SHRED_MAX_PER_HOUR = undefined;
  SHRED_PENDING_DAYS = undefined;
  SHRED_CRON = undefined;
  PRIVATE_KEY_CACHE_SECONDS = undefined;
  PRIVATE_KEY_CACHE_MAX = undefined;
  INDEX_KEY_CACHE_SECONDS = undefined;
  SHRED_LOG_BUCKET = undefined;
  SHRED_LOG_PREFIX = undefined;
  SHRED_LOG_ENDPOINT = undefined;
  SHRED_LOG_DIR = undefined;
}
