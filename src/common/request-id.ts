import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { REQUEST_ID_PATTERN } from './limits';

export const REQUEST_ID_HEADER = 'X-Request-Id';

export type RequestWithId = Request & { requestId?: string };

/** Takes X-Request-Id when it is well-formed, generates one otherwise, and echoes it back. */
export function requestIdMiddleware(request: RequestWithId, response: Response, next: NextFunction): void {
  const given = request.header(REQUEST_ID_HEADER);
  request.requestId = given && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
  response.setHeader(REQUEST_ID_HEADER, request.requestId);
  next();
}
