import { Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CircuitStateName } from '../common/dependency-policy';

export type { CircuitStateName };
export type KmsOutcome = 'success' | 'error' | 'timeout' | 'rejected';
export type CacheResult = 'hit' | 'miss' | 'unavailable';
/** The key caches whose loads are shared by concurrent requests (SingleFlight). */
export type CoalescedCache = 'private_key' | 'public_key' | 'index_key';
/** What the shred-log replay did (docs/operations.md 2.4, 3.3): `failed` is a replay attempt that failed (retried). */
export type ShredReplayOutcome = 'destroyed' | 'completed' | 'aborted' | 'skipped' | 'audit_recovered' | 'failed';

const CIRCUIT_STATE_VALUES: Record<CircuitStateName, number> = { closed: 0, open: 1, 'half-open': 2 };
/** 3 s: the latency SLO's threshold (docs/slo.md), so the alert rules can count the answers slower than it. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 3, 5, 10, 15];

/**
 * The service's Prometheus metrics, served at GET /metrics. Each application instance has its
 * own registry (tests run several in one process). Labels are bounded: route templates, never
 * paths with user ids in them.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  private readonly httpRequests = new Counter({
    name: 'pii_api_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'pii_api_http_request_duration_seconds',
    help: 'HTTP request latency, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly kmsRequests = new Counter({
    name: 'pii_api_kms_requests_total',
    help: 'KMS calls by operation and outcome (success, error, timeout, rejected by the open circuit breaker)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly kmsDuration = new Histogram({
    name: 'pii_api_kms_request_duration_seconds',
    help: 'KMS call latency (retries included), by operation',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly cacheLookups = new Counter({
    name: 'pii_api_cache_lookups_total',
    help: 'Cache lookups by cache and result (hit, miss, unavailable)',
    labelNames: ['cache', 'result'] as const,
    registers: [this.registry],
  });
  private readonly coalescedWaits = new Counter({
    name: 'pii_api_coalesced_waits_total',
    help: 'Requests that waited for a key load already in flight (one KMS Decrypt or database read for many), by cache',
    labelNames: ['cache'] as const,
    registers: [this.registry],
  });
  private readonly circuitState = new Gauge({
    name: 'pii_api_circuit_breaker_state',
    help: 'Circuit breaker state by dependency: 0 closed, 1 open, 2 half-open',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });
  private readonly shed = new Counter({
    name: 'pii_api_http_requests_shed_total',
    help: 'Requests refused with 503 SYS002 because MAX_IN_FLIGHT_REQUESTS were in flight',
    registers: [this.registry],
  });
  /** Children of the HTTP counter and histogram by "method route status": label sets are resolved once, not per request. */
  private readonly httpSeries = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<'method' | 'route' | 'status'> }>();
  private readonly unknownSigningKeys = new Counter({
    name: 'pii_api_jwks_unknown_kid_total',
    help: "Tokens refused (401 AUTH001) because their kid is not in the issuer's JWKS, after the one refetch allowed per 30 s or at once in between: forged tokens, or a key rotation this pod could not fetch",
    registers: [this.registry],
  });
  private readonly rateLimited = new Counter({
    name: 'pii_api_rate_limited_requests_total',
    help: 'Requests refused with 429 RATE001',
    registers: [this.registry],
  });
  private readonly rotationRuns = new Counter({
    name: 'pii_api_rotation_job_runs_total',
    help: 'Runs of the scheduled rotation job, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly cryptoItems = new Counter({
    name: 'pii_api_crypto_items_total',
    help: 'Items encrypted or decrypted (batches that succeeded), by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  private readonly dependencyRetries = new Counter({
    name: 'pii_api_dependency_retries_total',
    help: 'Calls to a dependency repeated after a retryable failure (throttling, 5xx), by dependency',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });
  private readonly auditWriteFailures = new Counter({
    name: 'pii_api_audit_write_failures_total',
    help: 'Audit events that could not be stored (their operations refused with SYS002, or let through with AUDIT_FAIL_OPEN=true)',
    registers: [this.registry],
  });
  private readonly keysRotated = new Counter({
    name: 'pii_api_keys_rotated_total',
    help: 'Key versions rotated, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private readonly migrationResealed = new Counter({
    name: 'pii_api_kms_migration_resealed_total',
    help: 'Sealed keys this process re-sealed under the new KMS key during a KMS key migration',
    registers: [this.registry],
  });
  private readonly migrationBackoffs = new Counter({
    name: 'pii_api_kms_migration_backoffs_total',
    help: 'Batches of a KMS key migration stopped by KMS throttling or unavailability (after the call retries): the job waited, doubling from 2 s to 30 s, and went on',
    registers: [this.registry],
  });
  private readonly migrationUnsealable = new Gauge({
    name: 'pii_api_kms_migration_unsealable',
    help: 'Sealed keys this process could not unseal during the running KMS key migration (under a key not in KMS_PREVIOUS_KEY_IDS, or damaged): left under their old key and tried again every 5 minutes; the migration does not finish while any is left',
    registers: [this.registry],
  });
  private readonly migrationRemaining = new Gauge({
    name: 'pii_api_kms_migration_remaining',
    help: 'Sealed keys still under an old KMS key, as this process last counted them during a migration (0 when done)',
    registers: [this.registry],
  });

  private readonly canariesTripped = new Counter({
    name: 'pii_api_canary_tripped_total',
    help: 'Requests that touched a canary ciphertext (alert on any increase), by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  private readonly budgetExceeded = new Counter({
    name: 'pii_api_decrypt_budget_exceeded_total',
    help: 'Requests of a caller over its decrypt budget of distinct people: refused (429 RATE002) or allowed by break-glass (alert on any increase)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  private readonly shredBreakerTripped = new Gauge({
    name: 'pii_api_shred_breaker_tripped',
    help: 'The mass-destruction breaker (one for the cluster), as this process last read it from the primary: 1 tripped (no DELETE /keys destroys keys until two people lift it), 0 not',
    registers: [this.registry],
  });
  private readonly shredBreakerRefusals = new Counter({
    name: 'pii_api_shred_breaker_refusals_total',
    help: 'DELETE /keys refused with 429 SHRED001 by the mass-destruction breaker, by whether the request tripped it or found it tripped',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Where the gauge below gets its numbers when /metrics is scraped (the keys module's KeyCensus). */
  private currentKeysSource?: () => Promise<Record<string, number>>;
  private readonly currentKeysByAlgorithm = new Gauge({
    name: 'pii_api_current_keys_by_algorithm',
    help: "People's current key versions by algorithm (RSA-OAEP-256, X-Wing), counted from a replica at most once a minute per process: the move to the quantum-safe X-Wing is done when RSA-OAEP-256 reaches 0 (docs/operations.md 2.6)",
    labelNames: ['algorithm'] as const,
    registers: [this.registry],
    collect: async () => {
      const counts = await this.currentKeysSource?.().catch(() => undefined);
      for (const [algorithm, count] of Object.entries(counts ?? {})) this.currentKeysByAlgorithm.set({ algorithm }, count);
    },
  });

  private readonly shredReplays = new Counter({
    name: 'pii_api_shred_replay_total',
    help: 'What the shred-log replay did, by outcome: destroyed (a restored key destroyed again), completed and aborted (open intents settled), skipped (left for a later replay, or a state this version does not know), audit_recovered (a key.shred-replayed event stored late), failed (a replay attempt that failed; retried)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly shredReplayAuditPending = new Gauge({
    name: 'pii_api_shred_replay_audit_pending',
    help: 'key.shred-replayed audit events the last shred-log replay of this process could not store: appended by the next replay (the next start)',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** For the shred-log replay: one outcome. */
  countShredReplay(outcome: ShredReplayOutcome): void {
    this.shredReplays.inc({ outcome });
  }

  /** For the shred-log replay: audit events it could not store, left for the next replay. */
  setShredReplayAuditPending(count: number): void {
    this.shredReplayAuditPending.set(count);
  }

  /** For the keys module: counts people's current keys by algorithm when /metrics is scraped; a failure keeps the last numbers. */
  countCurrentKeysWith(source: () => Promise<Record<string, number>>): void {
    this.currentKeysSource = source;
  }

  /** Express middleware: counts and times every request once its response is done. */
  readonly recordHttpRequests = (request: Request, response: Response, next: NextFunction): void => {
    const start = performance.now();
    response.once('close', () => {
      const series = this.seriesOf(request.method, routeTemplate(request), response.statusCode);
      series.duration.observe((performance.now() - start) / 1000);
      series.count.inc();
    });
    next();
  };

  countShed(): void {
    this.shed.inc();
  }

  observeKmsCall(operation: string, outcome: KmsOutcome, seconds: number): void {
    this.kmsRequests.inc({ operation, outcome });
    this.kmsDuration.observe({ operation }, seconds);
  }

  countCacheLookup(cache: string, result: CacheResult): void {
    this.cacheLookups.inc({ cache, result });
  }

  countCoalescedWait(cache: CoalescedCache): void {
    this.coalescedWaits.inc({ cache });
  }

  setCircuitState(dependency: string, state: CircuitStateName): void {
    this.circuitState.set({ dependency }, CIRCUIT_STATE_VALUES[state]);
  }

  /** A request on `route` touched a canary ciphertext. */
  countCanaryTripped(route: string): void {
    this.canariesTripped.inc({ route });
  }

  /** A request over its caller's decrypt budget: refused, or allowed by break-glass. */
  countBudgetExceeded(outcome: 'refused' | 'break_glass'): void {
    this.budgetExceeded.inc({ outcome });
  }

  /** The mass-destruction breaker's state as last read from the primary. */
  setShredBreakerTripped(tripped: boolean): void {
    this.shredBreakerTripped.set(tripped ? 1 : 0);
  }

  /** A DELETE /keys refused by the mass-destruction breaker: the one that tripped it, or one after. */
  countShredBreakerRefusal(reason: 'tripped_now' | 'tripped'): void {
    this.shredBreakerRefusals.inc({ reason });
  }

  /** For the KMS key migration: `count` sealed keys re-sealed by this process. */
  countKeysResealed(count: number): void {
    this.migrationResealed.inc(count);
  }

  /** For the KMS key migration: a batch stopped by a KMS failure; the job backs off. */
  countMigrationBackoff(): void {
    this.migrationBackoffs.inc();
  }

  /** For the KMS key migration: sealed keys still under an old KMS key. */
  setMigrationRemaining(count: number): void {
    this.migrationRemaining.set(count);
  }

  /** For the KMS key migration: sealed keys this process found it cannot unseal (0 when the migration is done). */
  setMigrationUnsealable(count: number): void {
    this.migrationUnsealable.set(count);
  }

  countCryptoItems(operation: 'encrypt' | 'decrypt', count: number): void {
    this.cryptoItems.inc({ operation }, count);
  }

  countRetry(dependency: string): void {
    this.dependencyRetries.inc({ dependency });
  }

  countAuditWriteFailures(events: number): void {
    this.auditWriteFailures.inc(events);
  }

  /** A token refused because its signing key id is not in the issuer's JWKS. */
  countUnknownSigningKey(): void {
    this.unknownSigningKeys.inc();
  }

  countRateLimited(): void {
    this.rateLimited.inc();
  }

  /** For the rotation job: one call per run. */
  countRotationRun(outcome: 'success' | 'failure'): void {
    this.rotationRuns.inc({ outcome });
  }

  /** For rotation (scheduled or manual): `count` key versions rotated for `reason`. */
  countKeysRotated(reason: string, count = 1): void {
    this.keysRotated.inc({ reason }, count);
  }

  private seriesOf(method: string, route: string, status: number) {
    const key = `${method} ${route} ${status}`;
    let series = this.httpSeries.get(key);
    if (!series) {
      const labels = { method, route, status: String(status) };
      series = { count: this.httpRequests.labels(labels), duration: this.httpDuration.labels(labels) };
      this.httpSeries.set(key, series);
    }
    return series;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The matched route's template ("/api/v1/keys/:userId"), never the raw path. */
function routeTemplate(request: Request): string {
  const path = (request.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? path : 'unmatched';
}
