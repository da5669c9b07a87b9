import { request } from 'node:http';

/** How often each probe is sent while a run lasts (the kubelet's are every 10 s; more samples here). */
const PROBE_INTERVAL_MS = 250;
/** A probe that takes longer counts as failed (the longest probe timeout the chart sets: liveness, 10 s). */
const PROBE_TIMEOUT_MS = 10_000;

export interface ProbeStats {
  probes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers other than 200, connection errors and timeouts. */
  failed: number;
}

export interface ProbeResults {
  live: ProbeStats;
  ready: ProbeStats;
}

/** One probe as the kubelet sends it: a GET on a connection of its own; its latency and status (0: no answer). */
function probe(url: string): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (status: number) => resolve({ ms: performance.now() - started, status });
    const req = request(url, { agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', () => done(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => done(0));
    req.end();
  });
}

function stats(samples: Array<{ ms: number; status: number }>): ProbeStats {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0);
  return {
    probes: samples.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: sorted.at(-1) ?? 0,
    failed: samples.filter((s) => s.status !== 200).length,
  };
}

/**
 * Polls `/health/live` and `/health/ready` of the service at `baseUrl`, each every
 * PROBE_INTERVAL_MS (one at a time, as the kubelet's probes of one pod), until `stop`, which
 * answers their latencies: what the probe timeouts of docs/operations.md 4.1 must stay above.
 */
export function pollProbes(baseUrl: string): { stop(): Promise<ProbeResults> } {
  const samples = { live: [] as Array<{ ms: number; status: number }>, ready: [] as Array<{ ms: number; status: number }> };
  let running = true;
  const loop = (path: 'live' | 'ready') =>
    (async () => {
      while (running) {
        const started = performance.now();
        samples[path].push(await probe(`${baseUrl}/health/${path}`));
        const wait = PROBE_INTERVAL_MS - (performance.now() - started);
        if (running && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    })();
  const loops = [loop('live'), loop('ready')];
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { live: stats(samples.live), ready: stats(samples.ready) };
    },
  };
}
