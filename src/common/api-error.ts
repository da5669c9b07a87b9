import { ERROR_CODES, ErrorCode } from './error-codes';

/**
 * The one exception type business code throws. The message is shown to the caller, so it must
 * never contain plaintext, key material or tokens; `cause` is for logs only.
 */
export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code].summary,
    options?: { cause?: unknown; headers?: Record<string, string>; status?: number; details?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    // Only a body over BODY_LIMIT overrides the status (413 with ENC001).
    this.status = options?.status ?? ERROR_CODES[code].status;
    this.headers = options?.headers ?? {};
    this.details = options?.details;
  }

  /** Extra structured detail for the body (readiness checks); never secrets. */
  readonly details?: unknown;

  readonly headers: Record<string, string>;
}

export const keyNotFound = (userId: string): ApiError => new ApiError('KEY001', `No active key for user ${userId}`);

/** KEY005: the user's keys are pending deletion (DELETE /keys); `destroysAt` says when they are destroyed unless cancelled. */
export const keyPendingDeletion = (userId: string, destroysAt: Date): ApiError =>
  new ApiError(
    'KEY005',
    `The keys of user ${userId} are pending deletion and are destroyed at ${destroysAt.toISOString()}; until then nothing may use them (POST /api/v1/keys/${userId}/cancel-deletion restores them)`,
    { details: { destroysAt: destroysAt.toISOString() } },
  );

export const invalidInput = (message: string): ApiError => new ApiError('ENC001', message);

/**
 * SYS002. `retryAfterSeconds` only where the failure surely happened before anything was done, so
 * the request may be sent again whatever it is (a KMS call is always made before an operation
 * writes): Retry-After on a 503 tells a client exactly that (clients/typescript's retry policy).
 * A database or audit-trail failure may come after a commit, so it carries none.
 */
export const dependencyUnavailable = (dependency: string, cause?: unknown, retryAfterSeconds?: number): ApiError =>
  new ApiError('SYS002', `${dependency} is unavailable; try again later`, {
    cause,
    ...(retryAfterSeconds !== undefined && { headers: { 'Retry-After': String(retryAfterSeconds) } }),
  });
