import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_RETRY_OPTIONS, isRepeatable, retryDelay, type AttemptOutcome, type RetryOptions } from './retry-policy';

/** A bearer token, or a function that gives the current one (called before every attempt). */
export type TokenSource = string | (() => string | Promise<string>);

export type Fetch = (input: Request) => Promise<Response>;

/** The header the service logs every request under and echoes back. */
export const REQUEST_ID_HEADER = 'X-Request-Id';
/** What the service accepts as a request id (anything else it replaces with its own). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export interface TransportOptions {
  token: TokenSource;
  retry?: RetryOptions;
  /** The transport underneath (default: the global fetch). */
  fetch?: Fetch;
  /** Makes the request id of a call that names none (default: a random UUID). */
  requestId?: () => string;
}

/**
 * The fetch that openapi-fetch calls: adds the bearer token and a request id (kept across the
 * repeats of one call, so the service's logs show them together), and repeats the request as
 * retry-policy.ts allows, waiting out `Retry-After`.
 */
export function createTransport(options: TransportOptions, overrides: { retry?: boolean } = {}): Fetch {
  const retry = { ...DEFAULT_RETRY_OPTIONS, ...options.retry };
  if (overrides.retry === false) retry.maxRetries = 0;
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const newRequestId = options.requestId ?? randomUUID;

  return async (request: Request) => {
    const requestId = request.headers.get(REQUEST_ID_HEADER) ?? newRequestId();
    if (!REQUEST_ID_PATTERN.test(requestId)) throw new TypeError(`request id must match ${REQUEST_ID_PATTERN}`);
    const repeatable = isRepeatable(request.method, new URL(request.url).pathname);
    for (let attempt = 0; ; attempt++) {
      const sent = request.clone();
      sent.headers.set('Authorization', `Bearer ${await bearer(options.token)}`);
      sent.headers.set(REQUEST_ID_HEADER, requestId);
      let outcome: AttemptOutcome;
      let response: Response | undefined;
      try {
        response = await send(sent);
        if (response.ok) return response;
        outcome = { status: response.status, retryAfter: response.headers.get('Retry-After') };
      } catch (error) {
        if (request.signal?.aborted) throw error;
        outcome = { networkError: error };
      }
      const delay = retryDelay(outcome, repeatable, attempt + 1, retry);
      if (delay === undefined) {
        if ('networkError' in outcome) throw outcome.networkError;
        return response!;
      }
      await response?.body?.cancel();
      await sleep(delay, undefined, { signal: request.signal });
    }
  };
}

async function bearer(token: TokenSource): Promise<string> {
  const value = typeof token === 'function' ? await token() : token;
  if (typeof value !== 'string' || value.length === 0) throw new TypeError('the token source gave no token');
  return value;
}
