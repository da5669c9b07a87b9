import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { ERROR_CODES, ErrorCode } from './error-codes';
import { BEARER_CHALLENGE_PATTERN } from './http-exception.filter';
import { REQUEST_ID_PATTERN } from './limits';

/** The body of every error (README, errors). */
export class ErrorResponse {
  @ApiProperty({ description: 'The HTTP status, repeated', example: 400, minimum: 400, maximum: 599 })
  statusCode: number;

  @ApiProperty({
    description: 'What went wrong (README, error codes); each response lists the codes it can carry',
    enum: Object.keys(ERROR_CODES),
    example: 'ENC001',
  })
  code: string;

  @ApiProperty({
    description: 'What went wrong, for people; never quotes plaintext, keys or tokens',
    example: 'data[3] exceeds 65536 bytes',
  })
  message: string;

  @ApiProperty({
    description: 'The X-Request-Id the caller sent when well-formed, else one generated; also sent as the X-Request-Id header',
    pattern: REQUEST_ID_PATTERN.source,
    example: '5f0c8a4e-8b1e-4d3c-9a57-3f2b1c0d9e8a',
  })
  requestId: string;

  @ApiPropertyOptional({
    description: 'Structured detail where a route documents it (readiness: the result of each check)',
    type: 'object',
    additionalProperties: true,
  })
  details?: Record<string, unknown>;
}

/** Codes a route may answer with, each with what it means there (`true`: the code's summary). */
export type RouteErrors = Partial<Record<ErrorCode, string | true>>;

/** Vendor key of an error response listing its codes and their meaning; the document builder renders and removes it. */
export const ERROR_CODES_EXTENSION = 'x-error-codes';

const RETRY_AFTER = { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } };
const HEADERS: Partial<Record<number, Record<string, unknown>>> = {
  401: {
    'WWW-Authenticate': {
      required: true,
      description:
        'RFC 6750: `Bearer realm="pii-encryption-api"`, with `error="invalid_token"` (and an `error_description`) when a token was sent and refused',
      schema: { type: 'string', pattern: BEARER_CHALLENGE_PATTERN.source },
    },
  },
  405: { Allow: { required: true, description: 'The methods the route takes', schema: { type: 'string' } } },
  429: { 'Retry-After': { ...RETRY_AFTER, required: true } },
  503: { 'Retry-After': { ...RETRY_AFTER, description: 'Sent when the request was refused for load: seconds to wait' } },
};

/**
 * The documented response of one error status: the ErrorResponse body whose `code` is one of
 * `codes`, a description naming each code and its meaning on this route, and the status's headers.
 */
export function errorResponseObject(status: number, codes: Record<string, string>) {
  const entries = Object.entries(codes).sort(([a], [b]) => a.localeCompare(b));
  return {
    description: entries.map(([code, meaning]) => `${code}: ${meaning}`).join('. '),
    ...(HEADERS[status] && { headers: HEADERS[status] }),
    content: {
      'application/json': {
        schema: {
          allOf: [
            { $ref: getSchemaPath(ErrorResponse) },
            { type: 'object', required: ['code'], properties: { code: { type: 'string', enum: entries.map(([code]) => code) } } },
          ],
        },
      },
    },
    [ERROR_CODES_EXTENSION]: Object.fromEntries(entries),
  };
}

/** What a code means on a route: the route's own words, or the code's summary. */
export function describeErrors(errors: RouteErrors): Record<string, string> {
  return Object.fromEntries(
    Object.entries(errors).map(([code, meaning]) => [code, meaning === true ? ERROR_CODES[code as ErrorCode].summary : meaning!]),
  );
}
