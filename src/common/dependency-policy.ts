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
    const attemptTimeout = timeout(options.attemptTimeoutMs, TimeoutStrategy.Aggressive);
    const layers: IPolicy[] = [];
    if (options.totalTimeoutMs) layers.push(timeout(options.totalTimeoutMs, TimeoutStrategy.Aggressive));
    if (options.retry) {
      const { attempts, when } = options.retry;
      layers.push(
        retry(
          handleWhen((error) => !(error instanceof BrokenCircuitError) && when(error)),
          {
            maxAttempts: attempts - 1,
            backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }),
          },
        ),
      );
    }
    this.policy = wrap(...layers, breaker, attemptTimeout);
  }

  /** Runs `call`; its signal aborts when the attempt times out, so the client can drop the request. */
  async execute<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return (await this.policy.execute(({ signal }) => call(signal))) as T;
    } catch (error) {
      if (error instanceof BrokenCircuitError || error instanceof TaskCancelledError)
        throw dependencyUnavailable(this.options.label, error);
      if (error instanceof Error && !(error instanceof ApiError) && this.options.isDependencyFailure(error)) {
        throw dependencyUnavailable(this.options.label, error);
      }
      throw error;
    }
  }
}

/** The breaker refused the call without trying: the dependency failed repeatedly just now. */
export const isCircuitOpen = (error: unknown): boolean => causeOf(error) instanceof BrokenCircuitError;

/** An attempt (or the whole call) ran out of time. */
export const isTimeout = (error: unknown): boolean => causeOf(error) instanceof TaskCancelledError;

/** The failure behind the SYS002 that `execute` answered with; any other error itself. */
const causeOf = (error: unknown): unknown => (error instanceof ApiError ? error.cause : error);
