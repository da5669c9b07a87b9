import { Module, RequestMethod } from '@nestjs/common';
import type { Request, Response } from 'express';
import { LoggerModule } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import { destination, DestinationStream, stdTimeFunctions } from 'pino';
import type { Options } from 'pino-http';
import type { Principal } from '../auth/principal';
import { RequestWithId } from '../common/request-id';
import { isUserId } from '../common/user-id';
import { AppConfig } from '../config/app-config';

type LoggedRequest = RequestWithId & { id?: unknown; user?: Principal };

/** Probes and scrapes answer every few seconds: logged at debug unless they fail. */
const QUIET_PATHS = /^\/(health\/(live|ready)|metrics)$/;

/**
 * One JSON line per request (pino via nestjs-pino) with requestId, route, status, duration and
 * who called: the token's `sub` and `client_id`, and the `userId` acted on. Nothing else of the
 * request is logged: not its headers (Authorization), not its body, not the query string. Log
 * lines written while serving a request carry its requestId.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        // Every route, inside the API prefix and outside it (health, metrics), exactly once.
        forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
        pinoHttp: withDestination(config, {
          level: config.logLevel,
          timestamp: stdTimeFunctions.isoTime,
          formatters: { level: (label: string) => ({ level: label }) },
          genReqId: (request) => (request as LoggedRequest).requestId ?? randomUUID(),
          quietReqLogger: true,
          quietResLogger: true,
          customAttributeKeys: { reqId: 'requestId', responseTime: 'duration' },
          customLogLevel: (request, response, error) =>
            error || response.statusCode >= 500
              ? 'error'
              : QUIET_PATHS.test((request as Request).path ?? '') && response.statusCode < 400
                ? 'debug'
                : 'info',
          customSuccessMessage: () => 'request completed',
          customErrorMessage: () => 'request failed',
          customSuccessObject: (request, response, fields) => summary(request as LoggedRequest, response as Response, fields.duration),
          customErrorObject: (request, response, _error, fields) =>
            summary(request as LoggedRequest, response as Response, fields.duration),
          // Errors passed to the logger are reduced to their type and code: dependency messages may quote data.
          serializers: { err: (error: { name?: string; code?: unknown }) => ({ type: error?.name, code: error?.code }) },
          redact: {
            paths: ['req.headers.authorization', 'req.headers.cookie', 'req.body', 'res.body', 'headers.authorization', 'body'],
            censor: '[redacted]',
          },
        }),
      }),
    }),
  ],
})
export class LoggingModule {}

/** stdout unless LOG_FILE names a file (the test suite sends each app's lines to its own file). */
function withDestination(config: AppConfig, options: Options): Options | [Options, DestinationStream] {
  return config.logFile ? [options, destination({ dest: config.logFile, mkdir: true })] : options;
}

function summary(request: LoggedRequest, response: Response, duration: unknown) {
  const userId = request.params?.userId ?? (request.body as { userId?: unknown } | undefined)?.userId;
  return {
    method: request.method,
    route: typeof request.route?.path === 'string' ? request.route.path : 'unmatched',
    status: response.statusCode,
    duration,
    sub: request.user?.sub,
    client_id: request.user?.clientId,
    userId: isUserId(userId) ? userId : undefined,
  };
}
