import { HttpStatus } from '@nestjs/common';

/** Every error code the API can answer with, and the HTTP status it travels with (the README's error table). */
export const ERROR_CODES = {
  KEY001: { status: HttpStatus.NOT_FOUND, summary: 'The user has no key (or it was deleted)' },
  KEY002: { status: HttpStatus.CONFLICT, summary: 'A rotation for this user is already in progress' },
  KEY003: {
    status: HttpStatus.TOO_MANY_REQUESTS,
    summary:
      'This user’s key was rotated by /rotate MANUAL_ROTATIONS_PER_DAY times in the past 24 hours; Retry-After says when the next is possible',
  },
  KEY004: {
    status: HttpStatus.UNPROCESSABLE_ENTITY,
    summary: 'This X-Request-Id was already used by this caller for a /rotate of this user with another body',
  },
  KEY005: {
    status: HttpStatus.CONFLICT,
    summary:
      'The user’s keys are pending deletion (DELETE /keys): every use is refused until they are destroyed at destroysAt, unless the deletion is cancelled',
  },
  ENC001: { status: HttpStatus.BAD_REQUEST, summary: 'Invalid input: shape, types, sizes or malformed ciphertext' },
  ENC002: { status: HttpStatus.BAD_REQUEST, summary: 'A ciphertext failed authentication: tampered, or not this user’s' },
  AUTH001: { status: HttpStatus.UNAUTHORIZED, summary: 'Missing, malformed, expired or untrusted token' },
  AUTH002: { status: HttpStatus.FORBIDDEN, summary: 'The token lacks the permission, or may not act for this user' },
  GRANT001: { status: HttpStatus.NOT_FOUND, summary: 'No such grant' },
  GRANT002: { status: HttpStatus.CONFLICT, summary: 'The grant can no longer change (revoked or expired)' },
  IDX001: { status: HttpStatus.NOT_FOUND, summary: 'No such blind index' },
  IDX002: { status: HttpStatus.CONFLICT, summary: 'The blind index exists with another definition' },
  IDX003: {
    status: HttpStatus.CONFLICT,
    summary: 'The blind index is not in the rotation state this needs (one rotation at a time; nothing to finish)',
  },
  IDX004: {
    status: HttpStatus.BAD_REQUEST,
    summary: 'Leakage budget: the output size would make the index unique for its cardinality (ask for exactMatch)',
  },
  RATE001: { status: HttpStatus.TOO_MANY_REQUESTS, summary: 'Rate limit exceeded' },
  RATE002: {
    status: HttpStatus.TOO_MANY_REQUESTS,
    summary: 'Decrypt budget exceeded: this caller read too many distinct people’s data in the window',
  },
  AUDIT001: {
    status: HttpStatus.TOO_MANY_REQUESTS,
    summary: 'A full audit verification is already running (one at a time across all replicas); Retry-After says when to try again',
  },
  AUDIT002: {
    status: HttpStatus.SERVICE_UNAVAILABLE,
    summary: 'The full audit verification did not finish within AUDIT_VERIFY_TIMEOUT_MS and was stopped; nothing was concluded',
  },
  AUDIT003: {
    status: HttpStatus.SERVICE_UNAVAILABLE,
    summary:
      'The signed audit checkpoints could not be read from, or written to, their write-once store (the shred log’s place); nothing was concluded',
  },
  CANARY001: { status: HttpStatus.NOT_FOUND, summary: 'No live canary has this id' },
  CANARY002: {
    status: HttpStatus.NOT_FOUND,
    summary: 'The user has no key version keyVersion whose keys are still held (never created, purged or destroyed)',
  },
  APPROVAL001: { status: HttpStatus.NOT_FOUND, summary: 'No approval request has this id' },
  APPROVAL002: {
    status: HttpStatus.CONFLICT,
    summary: 'The approval request is closed: already used to run its action, or expired',
  },
  APPROVAL003: {
    status: HttpStatus.FORBIDDEN,
    summary: 'The approval request does not allow this call: not yet approved by a second person, or made for another action or target',
  },
  SHRED001: {
    status: HttpStatus.TOO_MANY_REQUESTS,
    summary:
      'The mass-destruction breaker is tripped: more than SHRED_MAX_PER_HOUR crypto-shreds in an hour; no DELETE destroys keys until two people lift it',
  },
  ROUTE001: { status: HttpStatus.NOT_FOUND, summary: 'No such route' },
  ROUTE002: { status: HttpStatus.METHOD_NOT_ALLOWED, summary: 'The route does not take this method (Allow lists those it takes)' },
  SYS001: { status: HttpStatus.INTERNAL_SERVER_ERROR, summary: 'Unexpected error' },
  SYS002: {
    status: HttpStatus.SERVICE_UNAVAILABLE,
    summary:
      'A dependency (database, KMS) is unavailable. With Retry-After (KMS, load, start-up), the request did nothing and may be sent again after that many seconds',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The body of every error response. */
export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  message: string;
  requestId: string;
  details?: unknown;
}
