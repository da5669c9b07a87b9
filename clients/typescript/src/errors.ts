import type { components } from './generated/schema';

/** Every error code the service documents (its error table), as the OpenAPI document lists them. */
export type ErrorCode = components['schemas']['ErrorResponse']['code'];

/**
 * Code of an error answer that does not carry the service's error body, for example an HTML 502
 * from a proxy in front of the service.
 */
export const UNEXPECTED_RESPONSE = 'UNEXPECTED_RESPONSE';

/**
 * An error answer of the service: `{statusCode, code, message, requestId}`. The message is the
 * service's own and never contains the data sent; quote `requestId` when asking its operators.
 */
export class PiiApiError extends Error {
  override readonly name = 'PiiApiError';

  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The documented error code (KEY001, ENC001, RATE001, …), or UNEXPECTED_RESPONSE. */
    readonly code: ErrorCode | typeof UNEXPECTED_RESPONSE,
    message: string,
    /** The id the service logged this request under (`X-Request-Id`). */
    readonly requestId: string | undefined,
    /** Seconds the service asked to wait before trying again (`Retry-After`), when it said so. */
    readonly retryAfterSeconds?: number,
    /** Further detail the service attached, if any. */
    readonly details?: unknown,
  ) {
    super(message);
  }

  /** The error for a non-2xx answer, from its parsed body (JSON, or text when it is not JSON). */
  static fromResponse(response: Response, body: unknown, retryAfterSeconds?: number): PiiApiError {
    const requestId = response.headers.get('X-Request-Id') ?? undefined;
    if (isErrorBody(body)) {
      return new PiiApiError(response.status, body.code, body.message, body.requestId ?? requestId, retryAfterSeconds, body.details);
    }
    const reason = response.statusText ? ` ${response.statusText}` : '';
    return new PiiApiError(
      response.status,
      UNEXPECTED_RESPONSE,
      `HTTP ${response.status}${reason} without the service's error body`,
      requestId,
      retryAfterSeconds,
    );
  }
}

function isErrorBody(body: unknown): body is { code: ErrorCode; message: string; requestId?: string; details?: unknown } {
  if (typeof body !== 'object' || body === null) return false;
  const { code, message } = body as Record<string, unknown>;
  return typeof code === 'string' && /^[A-Z]+\d{3}$/.test(code) && typeof message === 'string';
}
