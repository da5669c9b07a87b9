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
import { CIRCUIT_BREAKER_FAILURES } from './limits';
import type { CircuitStateName, MetricsService } from '../metrics/metrics.service';

export interface DependencyPolicyOptions {
  /** Names the dependency in metrics ("kms", "redis"). */
  name: string;
  /** Bound of one attempt. */
  attemptTimeoutMs: number;
  /** How long the open breaker refuses calls before letting a trial call through. */
  breakerResetMs: number;
  /** Errors that mean the dependency is in trouble (they count against the breaker); timeouts always do. */
  isDependencyFailure: (error: Error) => boolean;
  /** Retries with exponential backoff and jitter, for errors `when` accepts. */
  retry?: { attempts: number; when: (error: Error) => boolean };
  /** Bound of the whole call, retries and backoff included. */
  totalTimeoutMs?: number;
  metrics: MetricsService;
}

const STATE_NAMES: Partial<Record<CircuitState, CircuitStateName>> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
};

/**
 * Timeouts, retries and a circuit breaker around calls to one dependency (cockatiel). While the
 * breaker is open calls fail at once with BrokenCircuitError instead of waiting on a dependency
 * known to be down; after `breakerResetMs` one trial call decides whether it closes again.
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
        retry(handleWhen((error) => !(error instanceof BrokenCircuitError) && when(error)), {
          maxAttempts: attempts - 1,
          backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }),
        }),
      );
    }
    this.policy = wrap(...layers, breaker, attemptTimeout);
  }

  /** Runs `call`; its signal aborts when the attempt times out, so the client can drop the request. */
  execute<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.policy.execute(({ signal }) => call(signal)) as Promise<T>;
  }
}

/** The breaker refused the call without trying: the dependency failed repeatedly just now. */
export const isCircuitOpen = (error: unknown): boolean => error instanceof BrokenCircuitError;

/** An attempt (or the whole call) ran out of time. */
export const isTimeout = (error: unknown): boolean => error instanceof TaskCancelledError;
