/**
 * When the client sends a request again, and after how long (the client's README, "Retries"):
 * calls that may run twice without harm are repeated on 429, 503 and any failed connection; every
 * other call only when it surely did not run (429, 503 with Retry-After, a refused connection).
 * Retry-After is waited out exactly, unless it is longer than the caller allows; without it the
 * wait is exponential with full jitter. At most `maxRetries` repeats.
 */

export interface RetryOptions {
  /** Repeats after the first attempt (default 3; 0 turns retries off). */
  maxRetries?: number;
  /** The longest wait before one repeat; a longer `Retry-After` ends the call (default 60 000 ms, the rate limiter's window). */
  maxDelayMs?: number;
  /** First backoff step when the answer names no wait (default 200 ms; doubles each repeat). */
  baseDelayMs?: number;
}

export const DEFAULT_RETRY_OPTIONS: Required<RetryOptions> = { maxRetries: 3, maxDelayMs: 60_000, baseDelayMs: 200 };

/** Routes that may run twice without harm, by method and the path's end (after any base URL). */
const REPEATABLE_POSTS = /\/api\/v1\/(keys|encrypt|decrypt|rewrap|translate|admin\/kms-migration|indexes|indexes\/[^/]+)$/;

/** Whether a request may be sent again even though it may already have run. */
export function isRepeatable(method: string, pathname: string): boolean {
  const upper = method.toUpperCase();
  if (upper === 'GET' || upper === 'HEAD' || upper === 'OPTIONS') return true;
  return upper === 'POST' && REPEATABLE_POSTS.test(pathname.replace(/\/+$/, ''));
}

/** What went wrong with one attempt: an answer, or a failure to get one. */
export type AttemptOutcome = { status: number; retryAfter: string | null } | { networkError: unknown };

/** `Retry-After` in milliseconds (delta-seconds or HTTP date), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * True when the error says the connection was refused: the request never reached the service.
 * fetch reports it as the cause of its TypeError, or, when it tried several addresses, as an
 * AggregateError in which every attempt was refused.
 */
export function connectionRefused(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (code === 'ECONNREFUSED') return true;
  if (Array.isArray(errors) && errors.length > 0) return errors.every((each) => connectionRefused(each, depth + 1));
  return connectionRefused(cause, depth + 1);
}

/**
 * The wait in milliseconds before repeat number `retry` (1-based) after `outcome`, or undefined
 * when the call must not be repeated.
 */
export function retryDelay(
  outcome: AttemptOutcome,
  repeatable: boolean,
  retry: number,
  options: Required<RetryOptions>,
  random: () => number = Math.random,
): number | undefined {
  if (retry > options.maxRetries) return undefined;
  const backoff = () => Math.round(random() * Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (retry - 1)));
  if ('networkError' in outcome) return repeatable || connectionRefused(outcome.networkError) ? backoff() : undefined;
  if (outcome.status !== 429 && outcome.status !== 503) return undefined;
  const asked = parseRetryAfter(outcome.retryAfter);
  if (!repeatable && outcome.status === 503 && asked === undefined) return undefined;
  if (asked === undefined) return backoff();
  return asked <= options.maxDelayMs ? asked : undefined;
}
