import { Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { PinoLogger } from 'nestjs-pino';
import type { Level, Logger } from 'pino';
import type { Principal } from '../auth/principal';
import type { RequestWithId } from '../common/request-id';
import { isUserId } from '../common/user-id';

type LoggedRequest = RequestWithId & { user?: Principal };

/** Probes and scrapes answer every few seconds: logged at debug unless they fail. */
const QUIET_PATHS = /^\/(health\/(live|ready)|metrics)(\?|$)/;

/**
 * One JSON line per request, written when its response is done: requestId, method, route
 * template, status, duration (ms) and who called — the token's `sub` and `client_id`, and the
 * `userId` acted on. Nothing else of the request is logged: not its headers (Authorization), not
 * its body, not the query string. Lines written while the request is served (Nest's logger,
 * through nestjs-pino) carry its requestId. Levels: error for 5xx, debug for successful probes
 * and scrapes, info otherwise; a level that is off costs one comparison.
 */
@Injectable()
export class RequestLogging {
  constructor(private readonly pino: PinoLogger) {}

  readonly middleware = (request: LoggedRequest, response: Response, next: NextFunction): void => {
    const started = Date.now();
    response.once('close', () => {
      const root = PinoLogger.root as Logger | undefined;
      if (!root) return;
      const status = response.statusCode;
      const level: Level = status >= 500 ? 'error' : status < 400 && QUIET_PATHS.test(request.url) ? 'debug' : 'info';
      if (!root.isLevelEnabled(level)) return;
      root[level](summary(request, status, Date.now() - started), status >= 500 ? 'request failed' : 'request completed');
    });
    this.pino.runInContext(next, { bindings: { requestId: request.requestId } });
  };
}

function summary(request: LoggedRequest, status: number, duration: number) {
  const userId = request.params?.userId ?? (request.body as { userId?: unknown } | undefined)?.userId;
  return {
    requestId: request.requestId,
    method: request.method,
    route: typeof (request as Request).route?.path === 'string' ? (request as Request).route.path : 'unmatched',
    status,
    duration,
    sub: request.user?.sub,
    client_id: request.user?.clientId,
    userId: isUserId(userId) ? userId : undefined,
  };
}
