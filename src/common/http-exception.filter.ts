import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger, NotFoundException } from '@nestjs/common';
import type { Response } from 'express';
import { ApiError } from './api-error';
import { ErrorBody, ErrorCode } from './error-codes';
import { RequestWithId } from './request-id';

/**
 * Called before an error response is sent, so that the audit trail can record refusals (401,
 * 403, 429) before the caller learns of them. It must not throw.
 */
export interface ErrorResponseHook {
  beforeErrorResponse(request: RequestWithId, error: ApiError): Promise<void>;
}
export const ERROR_RESPONSE_HOOK = Symbol('ERROR_RESPONSE_HOOK');

/** The methods the app's routes take at a path (allowed-methods.ts); none for a path no route has. */
export type MethodsAt = (path: string) => string[];

/** RFC 6750 §3: the realm of every challenge this service sends. */
export const AUTH_REALM = 'pii-encryption-api';
/** RFC 6750 §3: error_description allows printable ASCII without `"` and `\`. */
const ERROR_DESCRIPTION_CHARACTER = '[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]';
const ERROR_DESCRIPTION = new RegExp(`^${ERROR_DESCRIPTION_CHARACTER}+$`);
/** Every challenge bearerChallenge sends; the OpenAPI document states it as the pattern of WWW-Authenticate. */
export const BEARER_CHALLENGE_PATTERN = new RegExp(
  `^Bearer realm="${AUTH_REALM}"(?:, error="invalid_token"(?:, error_description="${ERROR_DESCRIPTION_CHARACTER}+")?)?$`,
);

/**
 * The one place that turns any thrown thing into the error body of the README's error table. Bodies never carry a
 * stack, a query or a dependency's message; the log line carries the error name only.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(
    private readonly hook?: ErrorResponseHook,
    private readonly methodsAt: MethodsAt = () => [],
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const context = host.switchToHttp();
    const request = context.getRequest<RequestWithId>();
    const response = context.getResponse<Response>();
    // The router's not-found for a path some route has, with another method: 405 (or OPTIONS), not 404.
    if (exception instanceof NotFoundException && answerOtherMethod(request, response, this.methodsAt)) return;
    const error = toApiError(exception);
    if (error.status >= 500) {
      this.logger.error(`${request.method} ${request.route?.path ?? 'unmatched'} failed with ${error.code}: ${describeCause(exception)}`);
    }
    if (!this.hook) return send(request, response, error);
    void this.hook
      .beforeErrorResponse(request, error)
      .catch(() => undefined)
      .then(() => send(request, response, error));
  }
}

function send(request: RequestWithId, response: Response, error: ApiError): void {
  if (response.headersSent) return;
  for (const [name, value] of Object.entries(error.headers)) response.setHeader(name, value);
  if (error.status === 401) response.setHeader('WWW-Authenticate', bearerChallenge(request, error.message));
  const body: ErrorBody = {
    statusCode: error.status,
    code: error.code,
    message: error.message,
    requestId: request.requestId ?? 'unknown',
    ...(error.details === undefined ? {} : { details: error.details }),
  };
  response.status(error.status).json(body);
}

/**
 * The API error any thrown thing is answered with. Adapters (repositories, the KMS provider,
 * Redis) translate their own unavailability into ApiError SYS002; anything else unknown is a bug.
 */
export function toApiError(exception: unknown): ApiError {
  if (exception instanceof ApiError) return exception;
  // An ApiError thrown in the body parser's verify hook reaches here wrapped by Nest's adapter.
  if (exception instanceof HttpException && exception.cause instanceof ApiError) return exception.cause;
  if (exception instanceof HttpException) return fromHttpException(exception);
  return new ApiError('SYS001', 'Unexpected error');
}

/** Exceptions raised by the framework itself (parser, router, throttler): fixed messages only. */
const FRAMEWORK_ERRORS: Partial<Record<number, { code: ErrorCode; message: string }>> = {
  400: { code: 'ENC001', message: 'Request body is not valid JSON' },
  401: { code: 'AUTH001', message: 'A valid bearer token is required' },
  403: { code: 'AUTH002', message: 'Forbidden' },
  404: { code: 'ROUTE001', message: 'No such route' },
  413: { code: 'ENC001', message: 'Request body exceeds BODY_LIMIT' },
  415: { code: 'ENC001', message: 'Request body must be JSON in UTF-8, uncompressed or with gzip, deflate or br content encoding' },
  429: { code: 'RATE001', message: 'Rate limit exceeded; retry later' },
  503: { code: 'SYS002', message: 'A dependency is unavailable; try again later' },
};

function fromHttpException(exception: HttpException): ApiError {
  const status = exception.getStatus();
  const known = FRAMEWORK_ERRORS[status];
  if (known) return new ApiError(known.code, known.message, { status });
  return status >= 500 ? new ApiError('SYS001', 'Unexpected error') : new ApiError('ENC001', 'Invalid request', { status });
}

/**
 * RFC 6750 §3: a request without a bearer token gets the bare challenge; one whose token was
 * refused gets `error="invalid_token"` as well, with the refusal's (fixed, token-free) message.
 */
function bearerChallenge(request: RequestWithId, message: string): string {
  const challenge = `Bearer realm="${AUTH_REALM}"`;
  if (!/^Bearer\s+\S/i.test(request.headers.authorization ?? '')) return challenge;
  const description = ERROR_DESCRIPTION.test(message) ? `, error_description="${message}"` : '';
  return `${challenge}, error="invalid_token"${description}`;
}

/**
 * For a path some route has, but not with this method: OPTIONS is answered 204 with `Allow`
 * (CORS preflights are answered before, when CORS_ORIGINS is set), anything else 405 ROUTE002
 * with `Allow`. False for a path no route has (404 ROUTE001), and for a method the path takes
 * (a route's own 404, such as KEY001).
 */
function answerOtherMethod(request: RequestWithId, response: Response, methodsAt: MethodsAt): boolean {
  // originalUrl: under a mount (Nest's not-found handler sits under the API prefix), path is relative.
  const methods = methodsAt(request.originalUrl.split('?')[0]);
  if (methods.length === 0 || (methods.includes(request.method) && request.method !== 'OPTIONS')) return false;
  response.setHeader('Allow', methods.join(', '));
  if (request.method === 'OPTIONS') {
    response.status(204).end();
    return true;
  }
  send(request, response, new ApiError('ROUTE002', `${request.method} is not allowed here; this route takes ${methods.join(', ')}`));
  return true;
}

/** Last handler of the Express stack: paths outside the API prefix that nothing served. */
export function routeNotFoundHandler(methodsAt: MethodsAt = () => []) {
  return (request: RequestWithId, response: Response): void => {
    if (answerOtherMethod(request, response, methodsAt)) return;
    send(request, response, new ApiError('ROUTE001', 'No such route'));
  };
}

/** Names of the error and its causes; never their messages, which may quote data. */
function describeCause(exception: unknown): string {
  const names: string[] = [];
  let current: unknown = exception;
  while (current instanceof Error && names.length < 4) {
    const code = (current as { code?: string }).code;
    names.push(code ? `${current.name}(${code})` : current.name);
    current = current.cause;
  }
  return names.join(' <- ') || typeof exception;
}
