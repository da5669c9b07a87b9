import { dependencyUnavailable } from '../common/api-error';

/**
 * PostgreSQL SQLSTATEs that mean "the database cannot answer now", not "this request is wrong":
 * statement timeout (query_canceled), administrator or crash shutdown, starting up, too many
 * connections. Class 08 (connection exceptions) is matched by its prefix.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57014', '57P01', '57P02', '57P03', '53300']);
/** Socket errors of the connection to the server (refused, reset, unreachable, silent). */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
/** pg's own errors for a lost, refused or silent server (no code); TypeORM keeps the message. */
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|connect ECONNREFUSED|Client has encountered a connection error)/;

/**
 * True when `error` (as thrown by pg, or wrapped by TypeORM in QueryFailedError) says the
 * database is unreachable, overloaded or too slow. Constraint violations, bad SQL, permission
 * errors and lock conflicts are not: they stay what they are.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (const candidate of [error, (error as { driverError?: unknown })?.driverError, (error as Error)?.cause]) {
    if (!candidate || typeof candidate !== 'object') continue;
    const { code, message } = candidate as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08') || UNAVAILABLE_SOCKET_CODES.has(code)))
      return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message)) return true;
  }
  return false;
}

/** The 503 SYS002 an unavailable database is answered with; anything else is rethrown unchanged. */
export function translateDatabaseError(error: unknown): never {
  throw isDatabaseUnavailable(error) ? dependencyUnavailable('The database', error) : error;
}

/**
 * Class decorator for repositories: every method's failure passes through
 * translateDatabaseError, so a lost, refused, overloaded or timed-out database is 503 SYS002
 * wherever it happens, and no repository method can forget it. Errors thrown by callbacks a
 * method runs (ApiErrors, key-provider failures) pass through unchanged.
 */
export function TranslateDatabaseErrors(): ClassDecorator {
  return (target) => {
    const prototype = target.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, name)!;
      if (name === 'constructor' || typeof descriptor.value !== 'function') continue;
      const method = descriptor.value as (...args: unknown[]) => unknown;
      descriptor.value = {
        [name](this: unknown, ...args: unknown[]) {
          try {
            const result = method.apply(this, args);
            return result instanceof Promise ? result.catch(translateDatabaseError) : result;
          } catch (error) {
            return translateDatabaseError(error);
          }
        },
      }[name];
      Object.defineProperty(prototype, name, descriptor);
    }
  };
}
