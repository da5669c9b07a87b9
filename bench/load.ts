import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  path: string;
  token: string;
  connections: number;
  seconds: number;
  /** A fixed JSON body, or one built per request (e.g. a new userId each time). */
  body: unknown | (() => unknown);
  /** Requests per second over all connections; unset: as fast as the service answers. */
  overallRate?: number;
  /** The exact body every answer must have; others are counted in `mismatches`. */
  expectBody?: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  non2xx: number;
  statusCodes: Record<string, number>;
}

/** One bounded autocannon run, over loopback. */
export async function load(spec: LoadSpec): Promise<LoadResult> {
  const headers = { authorization: `Bearer ${spec.token}`, 'content-type': 'application/json' };
  const { body } = spec;
  // A fixed body goes in the top-level options (autocannon checks expectBody only there).
  const requestOptions: Partial<autocannon.Options> =
    typeof body === 'function'
      ? { requests: [{ method: 'POST', path: spec.path, headers, setupRequest: (req) => ({ ...req, body: JSON.stringify(body()) }) }] }
      : {
          method: 'POST',
          url: `${spec.url}${spec.path}`,
          headers,
          body: JSON.stringify(body),
          ...(spec.expectBody ? { expectBody: spec.expectBody } : {}),
        };
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    timeout: 30,
    ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
    ...requestOptions,
  });
  const ok = result['2xx'];
  return {
    requests: ok,
    seconds: result.duration,
    requestsPerSecond: ok / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    mismatches: result.mismatches,
    non2xx: result.non2xx,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, stat.count ?? 0])),
  };
}
