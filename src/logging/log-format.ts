import type { DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import type { AppConfig } from '../config/app-config';

export type LogFormat = 'json' | 'pretty';

/**
 * LOG_FORMAT when it is set; otherwise pretty lines for a person at a terminal (stdout is a TTY,
 * NODE_ENV is not production, no LOG_FILE), and JSON lines everywhere else: containers, pipes, the
 * log collector, the test suite's log files.
 */
export function logFormat(
  config: Pick<AppConfig, 'logFormat' | 'isProduction' | 'logFile'>,
  stdoutIsTerminal = Boolean(process.stdout.isTTY),
): LogFormat {
  if (config.logFormat) return config.logFormat;
  return stdoutIsTerminal && !config.isProduction && !config.logFile ? 'pretty' : 'json';
}

/**
 * One coloured line per event for a person (pino-pretty): time, level, message, then the event's
 * fields (requestId, route, status, …) on the same line. Written synchronously, so lines keep
 * their order with anything else on stdout; to `file` when given (uncoloured).
 */
export function prettyStream(file?: string): DestinationStream {
  return pretty({
    colorize: !file && Boolean(process.stdout.isTTY),
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    sync: true,
    ...(file && { destination: file, mkdir: true }),
  });
}
