import type { HealthCheckResult, HealthIndicatorResult } from '@nestjs/terminus';

/**
 * What the public probes show of a health check result: each check's name and status, with its
 * numbers (counts, response time) only. Text a check carries (a dependency's error message, an
 * AWS AccessDenied naming role and key ARNs, a connection string's host, the shred log's bucket)
 * never leaves the process: the controller logs it instead.
 */
export function publicHealth(result: HealthCheckResult): HealthCheckResult {
  return {
    status: result.status,
    info: result.info && publicChecks(result.info),
    error: result.error && publicChecks(result.error),
    details: publicChecks(result.details),
  };
}

function publicChecks(checks: Partial<HealthIndicatorResult>): HealthIndicatorResult {
  return Object.fromEntries(
    Object.entries(checks).map(([name, check]) => [
      name,
      {
        ...Object.fromEntries(Object.entries(check ?? {}).filter(([, value]) => typeof value === 'number' && Number.isFinite(value))),
        status: check!.status,
      },
    ]),
  ) as HealthIndicatorResult;
}

/** The checks not up, with their own text, for the log: "keyProvider down: User: arn:aws:sts::…; redis degraded: …". */
export function problemSummary(result: HealthCheckResult): string {
  return Object.entries(result.details ?? {})
    .filter(([, check]) => check?.status !== 'up')
    .map(([name, check]) => `${name} ${check?.status}${typeof check?.message === 'string' ? `: ${check.message}` : ''}`)
    .join('; ');
}
