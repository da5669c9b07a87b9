/**
 * Size limits of the API. The defaults are the README's limits table; each can be lowered or
 * raised by configuration within the hard bounds below, so one value never lives in two places.
 */
export const LIMIT_DEFAULTS = {
  maxBatchItems: 1000,
  maxItemBytes: 64 * 1024,
  bodyLimitBytes: 1024 * 1024,
  /** Values and object keys in one JSON body, counted before it is parsed. */
  maxJsonNodes: 50_000,
  /** Bytes of one object key as sent (escapes included), checked before the body is parsed. */
  maxJsonKeyBytes: 1024,
} as const;

export const LIMIT_BOUNDS = {
  maxBatchItems: { min: 1, max: 100_000 },
  maxItemBytes: { min: 1, max: 16 * 1024 * 1024 },
  bodyLimitBytes: { min: 1024, max: 256 * 1024 * 1024 },
  maxJsonNodes: { min: 16, max: 10_000_000 },
  maxJsonKeyBytes: { min: 16, max: 64 * 1024 },
} as const;

/**
 * Maximum nesting of arrays and objects: inside a request body's top-level object (checked
 * before the body is parsed, src/common/json-bounds.ts), and inside the JSON documents walked by
 * /rotate and /translate.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Keys of the body object, and of any object in it outside a @JsonDocument field, handed to
 * class-transformer (quadratic in keys); the largest request type has 5 fields.
 */
export const MAX_BODY_OBJECT_KEYS = 64;

/**
 * The HTTP server. Defaults fit an AWS Application Load Balancer (idle timeout 60 s): the
 * server keeps idle connections open longer than the balancer does, or the balancer reuses a
 * connection the server is closing and answers 502. Headers must be allowed longer than that.
 */
export const HTTP_DEFAULTS = {
  /** Connections the kernel queues before the process accepts them (capped by net.core.somaxconn). Node's default, 511, drops more. */
  backlog: 4096,
  /**
   * Listening sockets on the API port (SO_REUSEPORT, Linux): libuv accepts one connection per
   * socket per event-loop turn, so a busy process with one socket accepts about 60 a second
   * (src/common/listening-sockets.ts).
   */
  listenSockets: 64,
  keepAliveTimeoutMs: 65_000,
  headersTimeoutMs: 66_000,
  /**
   * Requests one process serves at once; more are refused at once with 503 SYS002 and
   * Retry-After. Sized so that one 2-core pod answers 1,000 concurrent 10-item batches within
   * 3 s (docs/performance.md); docs/operations.md explains how it works with the autoscaler.
   */
  maxInFlight: 1024,
} as const;

export const HTTP_BOUNDS = {
  backlog: { min: 1, max: 65_535 },
  listenSockets: { min: 1, max: 256 },
  // Within Node's requestTimeout (300 s), which bounds the whole request.
  keepAliveTimeoutMs: { min: 1_000, max: 290_000 },
  headersTimeoutMs: { min: 1_000, max: 300_000 },
  maxInFlight: { min: 1, max: 1_000_000 },
} as const;

/** Seconds a caller refused for load (503 SYS002) is asked to wait: Retry-After. */
export const SHED_RETRY_AFTER_SECONDS = 1;
/**
 * Seconds a caller refused because KMS failed (503 SYS002) is asked to wait: Retry-After. While
 * the breaker is open, its reset time (CIRCUIT_BREAKER_RESET_MS) instead.
 */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 1;

/** Values and keys of a batch body besides its items (the object, userId, data, purpose): MAX_JSON_NODES ≥ MAX_BATCH_ITEMS + this. */
export const BATCH_BODY_OVERHEAD_NODES = 8;

/** Request ids accepted from X-Request-Id; anything else is replaced by a generated one. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** A configurable size limit as the handlers see it. */
export interface BatchLimits {
  maxBatchItems: number;
  maxItemBytes: number;
}

/**
 * The `purpose` a caller may state with a decrypt, stored in the audit trail: 1 to 200 characters
 * (code points) of letters, digits, punctuation, symbols and spaces, not all spaces.
 */
export const MAX_PURPOSE_LENGTH = 200;
/** X-Break-Glass-Reason: printable ASCII (headers are not UTF-8), not only spaces, at most this many characters. */
export const MAX_BREAK_GLASS_REASON_LENGTH = 200;
export const BREAK_GLASS_REASON_PATTERN = new RegExp(`^(?=.*[^ ])[\\x20-\\x7e]{1,${MAX_BREAK_GLASS_REASON_LENGTH}}$`);
export const PURPOSE_PATTERN = new RegExp(`^(?=.*[^ ])[\\p{L}\\p{N}\\p{P}\\p{S} ]{1,${MAX_PURPOSE_LENGTH}}$`, 'u');

/** The `reason` of a grant: 3 to 500 characters (code points) without control characters. */
export const GRANT_REASON_LENGTH = { min: 3, max: 500 } as const;
export const GRANT_REASON_PATTERN = new RegExp(`^[^\\u0000-\\u001f\\u007f]{${GRANT_REASON_LENGTH.min},${GRANT_REASON_LENGTH.max}}$`, 'u');

/** Page size of GET /audit. */
export const AUDIT_PAGE_SIZE = { default: 50, max: 500 } as const;

/** Key versions GET /keys/{userId} lists per page (`versionsLimit`), newest first. */
export const KEY_VERSIONS_PAGE_SIZE = { default: 100, max: 1000 } as const;

/**
 * Versions POST /rotate may create for one person in any 24 hours (the scheduled job's are not
 * counted); the next is refused with 429 KEY003. Bounds how far a caller can grow a person's history.
 */
export const MANUAL_ROTATIONS_PER_DAY = 10;

/** Hours a committed /rotate's answer is kept for a retry with the same X-Request-Id. */
export const ROTATION_REPLAY_HOURS = 24;

/** Caller groups listed by one access report. */
export const MAX_ACCESS_REPORT_ROWS = 1000;

/**
 * Blind indexes (docs/blind-indexes.md). An index's name, its output size in bits, the number of
 * distinct values the operator expects it to see, and the smallest number of other values a
 * lookup must expect to share its index with (the leakage budget): fewer, and most indexes
 * would name one value, which only an `exactMatch` definition accepts.
 */
export const INDEX_NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
export const INDEX_OUTPUT_BITS = { min: 1, max: 256 } as const;
export const INDEX_CARDINALITY = { min: 2, max: Number.MAX_SAFE_INTEGER } as const;
export const INDEX_MIN_COINCIDENCES = 2;
/** Unsealed index keys kept in one process at most (each for INDEX_KEY_CACHE_SECONDS). */
export const INDEX_KEY_CACHE_MAX = 256;

/** One call to KMS, retries included, answers within this budget (README: 503 within 15 s). */
export const KMS_CALL_BUDGET_MS = 15_000;
/** Upper bound of KMS_TIMEOUT_MS (one attempt), so that an attempt always fits the budget. */
export const KMS_TIMEOUT_MAX_MS = 10_000;
/** Attempts of one KMS call: the first and its retries on throttling and 5xx. */
export const KMS_MAX_ATTEMPTS = 3;

/** KMS key migration: sealed keys re-sealed per transaction at most (rows stay locked that long). */
export const KMS_MIGRATION_BATCH_MAX = 25;
/** KMS key migration: how often each replica looks for a migration to work on, and waits after a failed batch. */
export const KMS_MIGRATION_POLL_MS = 2_000;
/** KMS key migration: the longest wait after failed batches in a row (throttling), doubling from KMS_MIGRATION_POLL_MS. */
export const KMS_MIGRATION_BACKOFF_MAX_MS = 30_000;
/** KMS key migration: a sealed key that did not unseal is tried again after this (the migration finishes only when none is left). */
export const KMS_MIGRATION_UNSEALABLE_RETRY_MS = 5 * 60_000;
/** Consecutive failures (errors or timeouts) that open a dependency's circuit breaker. */
export const CIRCUIT_BREAKER_FAILURES = 5;
/** Verified access tokens remembered per process (by digest, each until its `exp`), so a token's signature is checked once. */
export const VERIFIED_TOKENS_MAX = 10_000;
/** How long a token id revoked without its token stays listed: Cognito's longest access-token lifetime. */
export const MAX_ACCESS_TOKEN_LIFETIME_SECONDS = 86_400;

/**
 * How long a client may cache /.well-known/receipt-keys.json. A rotated key is published at
 * once; a verifier holding an older copy refetches when a receipt names a kid it does not know.
 */
export const RECEIPT_KEYS_MAX_AGE_SECONDS = 300;

/**
 * How often each replica reloads the live canaries from the primary: a canary planted or retired
 * through another replica is recognised (or forgotten) here within this time. The replica that
 * handled the change applies it at once.
 */
export const CANARY_REFRESH_MS = 5_000;
/**
 * How old the count of people's current keys by algorithm (pii_api_current_keys_by_algorithm)
 * may be when /metrics is scraped: one grouped count on a replica per process at most this often.
 */
export const KEY_CENSUS_MAX_AGE_MS = 60_000;
/** Canaries one POST /canaries may create. */
export const MAX_CANARIES_PER_REQUEST = 100;
/** Fields of one canary row (`fields` of POST /canaries), and the `length` one of its fields may ask for. */
export const MAX_CANARY_FIELDS = 32;
export const CANARY_FIELD_LENGTH = { min: 1, max: 1024 } as const;
/** Characters of a canary field's `template` (docs/compliance.md, canary rows). */
export const MAX_CANARY_TEMPLATE_LENGTH = 200;

/**
 * The shred log (src/shred-log, docs/operations.md 2.4): one S3 call, all attempts included,
 * and the replay at start-up's pauses between attempts after a failure (doubling up to the cap).
 */
export const SHRED_LOG_TIMEOUT_MS = 5_000;
export const SHRED_REPLAY_RETRY_MS = { first: 500, max: 5_000 } as const;
/** Shreds listed from the log before the newest one the restored database holds, against clocks that disagree. */
export const SHRED_REPLAY_OVERLAP_MS = 24 * 60 * 60 * 1000;
/**
 * How often each replica reads the mass-destruction breaker from the primary for its
 * pii_api_shred_breaker_tripped gauge (besides every refusal and lift it makes itself), so
 * that every replica's gauge agrees within this time after another one trips or lifts it.
 */
export const SHRED_BREAKER_REFRESH_MS = 15_000;
/** Retry-After of 429 SHRED001: the sliding hour. The breaker stays tripped until two people lift it, whatever the time. */
export const SHRED_BREAKER_RETRY_AFTER_SECONDS = 3600;
