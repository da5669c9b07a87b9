/**
 * Size limits of the API. The defaults are the contract of DESIGN.md; each can be lowered or
 * raised by configuration within the hard bounds below, so one value never lives in two places.
 */
export const LIMIT_DEFAULTS = {
  maxBatchItems: 1000,
  maxItemBytes: 64 * 1024,
  bodyLimitBytes: 1024 * 1024,
} as const;

export const LIMIT_BOUNDS = {
  maxBatchItems: { min: 1, max: 100_000 },
  maxItemBytes: { min: 1, max: 16 * 1024 * 1024 },
  bodyLimitBytes: { min: 1024, max: 256 * 1024 * 1024 },
} as const;

/** Maximum nesting of JSON documents walked by /rotate and /translate. */
export const MAX_JSON_DEPTH = 32;

/** Request ids accepted from X-Request-Id; anything else is replaced by a generated one. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** A configurable size limit as the handlers see it. */
export interface BatchLimits {
  maxBatchItems: number;
  maxItemBytes: number;
}
