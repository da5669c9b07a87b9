import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { destination, DestinationStream, stdTimeFunctions } from 'pino';
import type { Options } from 'pino-http';
import { AppConfig } from '../config/app-config';
import { logFormat, prettyStream } from './log-format';
import { RequestLogging } from './request-logging.middleware';
import { activeTrace } from './trace-context';

/**
 * Log lines (pino): JSON, or one pretty line per event for a person at a terminal (LOG_FORMAT,
 * src/logging/log-format.ts); the same fields either way. nestjs-pino makes Nest's logger write through pino; the one line per
 * request is written by RequestLogging (src/logging/request-logging.middleware.ts), which also
 * gives the lines written while serving a request its requestId. Errors passed to the logger are
 * reduced to their type and code, and request headers and bodies are never logged.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        // No route gets nestjs-pino's own request middleware (pino-http): RequestLogging does it for less.
        forRoutes: [],
        pinoHttp: withDestination(config, {
          level: config.logLevel,
          timestamp: stdTimeFunctions.isoTime,
          formatters: { level: (label: string) => ({ level: label }) },
          // traceId and spanId on every line written inside a traced request (src/tracing.ts); nothing when tracing is off.
          mixin: () => activeTrace() ?? {},
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
  providers: [RequestLogging],
  exports: [RequestLogging],
})
export class LoggingModule {}

/** stdout unless LOG_FILE names a file (the test suite sends each app's lines to its own file); pretty or JSON. */
function withDestination(config: AppConfig, options: Options): Options | [Options, DestinationStream] {
  if (logFormat(config) === 'pretty') return [options, prettyStream(config.logFile)];
  return config.logFile ? [options, destination({ dest: config.logFile, mkdir: true })] : options;
}
