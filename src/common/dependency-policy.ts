import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  IPolicy,
  retry,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
  wrap,
} from 'cockatiel';
import { ApiError, dependencyUnavailable } from './api-error';
import { CIRCUIT_BREAKER_FAILURES } from './limits';

export type CircuitStateName = 'closed' | 'open' | 'half-open';

/** Where the breaker's state is reported (MetricsService); an interface, so that src/common imports no metrics. */
export interface CircuitStateSink {
  setCircuitState(dependency: string, state: CircuitStateName): void;
  /** One call repeated after a retryable failure. */
  countRetry?(dependency: string): void;
}

export interface DependencyPolicyOptions {
  /** Names the dependency in metrics ("kms", "redis"). */
  name: string;
  /** Names it to callers in the SYS002 message ("KMS", "Redis"). */
  label: string;
  /** Bound of one attempt. */
  attemptTimeoutMs: number;
  /** How long the open breaker refuses calls before letting a trial call through. */
  breakerResetMs: number;
  /**
   * Errors that mean the dependency is in trouble: they count against the breaker and reach the
   * caller as 503 SYS002. Timeouts and the open breaker always do.
   */
  isDependencyFailure: (error: Error) => boolean;
  /** Retries with exponential backoff and jitter, for errors `when` accepts. */
  retry?: { attempts: number; when: (error: Error) => boolean };
  /** Bound of the whole call, retries and backoff included. */
  totalTimeoutMs?: number;
  /**
   * Set when every call to this dependency happens before the operation changes anything (KMS):
   * its 503 then carries Retry-After — this many seconds, or the breaker's reset while it is open —
   * which tells a client the request did nothing and may be sent again.
   */
  retryAfterSeconds?: number;
  metrics: CircuitStateSink;
}

const STATE_NAMES: Partial<Record<CircuitState, CircuitStateName>> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
};

/**
 * Timeouts, retries and a circuit breaker around calls to one dependency (cockatiel). While the
 * breaker is open calls fail at once instead of waiting on a dependency known to be down; after
 * `breakerResetMs` one trial call decides whether it closes again. The adapter's own translation
 * of failures: a timeout, the open breaker and every error `isDependencyFailure` accepts reject
 * with 503 SYS002 (the original error kept as its cause, for logs); other errors pass unchanged.
 */
export class DependencyPolicy {
  private readonly policy: IPolicy;

  constructor(private readonly options: DependencyPolicyOptions) {
    const breaker = circuitBreaker(
      handleWhen((error) => error instanceof TaskCancelledError || options.isDependencyFailure(error)),
      { halfOpenAfter: options.breakerResetMs, breaker: new ConsecutiveBreaker(CIRCUIT_BREAKER_FAILURES) },
    );
    options.metrics.setCircuitState(options.name, 'closed');
    breaker.onStateChange((state) => {
      const name = STATE_NAMES[state];
      if (name) options.metrics.setCircuitState(options.name, name);
    });
    const layers: IPolicy[] = [];
    // A call that has returned needs no abort: aborting it anyway costs a DOMException per call.
    if (options.totalTimeoutMs)
      layers.push(timeout(options.totalTimeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false }));
    if (options.retry) {
      const { attempts, when } = options.retry;
      const retries = retry(
        handleWhen((error) => !(error instanceof BrokenCircuitError) && when(error)),
        {
          maxAttempts: attempts - 1,
          backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }),
        },
      );
      retries.onRetry(() => options.metrics.countRetry?.(options.name));
      layers.push(retries);
    }
    this.policy = wrap(...layers, breaker);
  }

  /** Runs `call`; its signal aborts when the attempt times out, so the client can drop the request. */
  async execute<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return (await this.policy.execute(({ signal }) =>
        boundAttempt(this.options.attemptTimeoutMs, call, this.options.totalTimeoutMs ? signal : undefined),
      )) as T;
    } catch (error) {
      const { label, retryAfterSeconds, breakerResetMs } = this.options;
      if (error instanceof BrokenCircuitError) {
        throw dependencyUnavailable(label, error, retryAfterSeconds === undefined ? undefined : Math.ceil(breakerResetMs / 1000));
      }
      if (error instanceof TaskCancelledError) throw dependencyUnavailable(label, error, retryAfterSeconds);
      if (error instanceof Error && !(error instanceof ApiError) && this.options.isDependencyFailure(error)) {
        throw dependencyUnavailable(label, error, retryAfterSeconds);
      }
      throw error;
    }
  }
}

/**
 * One attempt within `ms`, tolerant of event-loop lag: when the timer fires, the attempt is
 * given until the event loop has polled its sockets once more (setImmediate runs after the poll
 * phase), so an answer that arrived in time but waited behind other work is not taken for a
 * timeout. Under load, with the loop hundreds of milliseconds late, a plain timer would time out
 * healthy Redis calls, open the breaker and send every request to the database instead, just
 * when there is no CPU to spare. A timeout rejects with cockatiel's TaskCancelledError, so the
 * breaker counts it, and aborts the call's signal.
 */
function boundAttempt<T>(ms: number, call: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
  const controller = new AbortController();
  // The whole call's bound (retries included) ends the attempt too.
  outer?.addEventListener('abort', () => controller.abort(), { once: true });
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          settled = true;
          controller.abort();
          reject(new TaskCancelledError(`Operation timed out after ${ms}ms`));
        }),
      ms,
    );
    call(controller.signal).then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The breaker refused the call without trying: the dependency failed repeatedly just now. */
export const isCircuitOpen = (error: unknown): boolean => causeOf(error) instanceof BrokenCircuitError;

/** An attempt (or the whole call) ran out of time. */
export const isTimeout = (error: unknown): boolean => causeOf(error) instanceof TaskCancelledError;

/** The failure behind the SYS002 that `execute` answered with; any other error itself. */
const causeOf = (error: unknown): unknown => (error instanceof ApiError ? error.cause : error);
