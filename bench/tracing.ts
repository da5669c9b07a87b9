/**
 * `npm run bench:tracing`: what tracing costs. /encrypt and /decrypt of 100 items at 50
 * connections against the service on real parts (bench/service.ts), with tracing off, at 10 %
 * sampling and at 100 %, spans exported over OTLP/HTTP to a receiver on loopback that accepts
 * and counts them. The modes run in turns (off, 10 %, 100 %, off, …) so that drift of the machine
 * spreads over all of them; each figure is the mean of its rounds. Results: the table printed,
 * .build/bench-tracing.json, and /metrics snapshots of the first "off" round in
 * .build/bench-metrics.json (scripts/dashboard-svg.js draws docs/observability's dashboard from them).
 * BENCH_TRACING_MODES (e.g. `off,10`) runs some modes only; BENCH_CPU_PROF=1 profiles the service
 * in each mode (.build/bench-profile-tracing/<mode>/, read with bench/profile-summary.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { load, LoadResult } from './load';
import { ROOT, ServiceUnderTest } from './service';
import { CONNECTIONS, makeItems, randomUserIdBase, TARGET_BATCH } from './workload';

const SECONDS = Number(process.env.BENCH_TRACING_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_TRACING_ROUNDS ?? 2);
const ALL_MODES = [
  { name: 'off', ratio: undefined },
  { name: '10 %', ratio: '0.1' },
  { name: '100 %', ratio: '1' },
] as const;
/** BENCH_TRACING_MODES=off,10: only those modes (by their number, or "off"). */
const MODES = process.env.BENCH_TRACING_MODES
  ? ALL_MODES.filter((mode) => process.env.BENCH_TRACING_MODES!.split(',').includes(mode.ratio ? String(Number(mode.ratio) * 100) : 'off'))
  : ALL_MODES;
/** BENCH_CPU_PROF=1: the service runs under `node --cpu-prof`, a directory of profiles per mode. */
const PROFILE_DIR = process.env.BENCH_CPU_PROF === '1' ? join(ROOT, '.build/bench-profile-tracing') : undefined;

interface Measured {
  mode: string;
  operation: 'encrypt' | 'decrypt';
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerRequest?: number;
  failures: number;
}

/** An OTLP/HTTP receiver that accepts everything and counts the bytes. */
async function startReceiver() {
  let bytes = 0;
  let exports = 0;
  const server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => {
      exports++;
      response.writeHead(200, { 'content-type': request.headers['content-type'] ?? 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, stats: () => ({ bytes, exports }), stop: () => new Promise((r) => server.close(r)) };
}

async function post(url: string, token: string, path: string, body: unknown): Promise<any> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** /metrics every second while `work` runs. */
async function sampleMetrics<T>(
  url: string,
  work: () => Promise<T>,
): Promise<{ result: T; snapshots: Array<{ t: number; text: string }> }> {
  const snapshots: Array<{ t: number; text: string }> = [];
  let running = true;
  const sampler = (async () => {
    while (running) {
      snapshots.push({ t: Date.now(), text: await (await fetch(`${url}/metrics`)).text() });
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const result = await work();
  running = false;
  await sampler;
  return { result, snapshots };
}

async function runMode(mode: (typeof MODES)[number], receiverEndpoint: string, keepMetrics: boolean) {
  const env: Record<string, string> = mode.ratio
    ? {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiverEndpoint,
        OTEL_SERVICE_NAME: 'pii-encryption-api-bench',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: mode.ratio,
      }
    : {};
  const cpuProfileDir = PROFILE_DIR && join(PROFILE_DIR, mode.ratio ? `sampled-${Number(mode.ratio) * 100}` : 'off');
  if (cpuProfileDir) mkdirSync(cpuProfileDir, { recursive: true });
  const service = await ServiceUnderTest.start({ env, cpuProfileDir });
  try {
    const token = service.token('bench-tracing');
    const userId = String(randomUserIdBase());
    await post(service.url, token, '/api/v1/keys', { userId });
    const items = makeItems(TARGET_BATCH);
    const { encryptedData } = await post(service.url, token, '/api/v1/encrypt', { userId, data: items });
    const workloads = [
      { operation: 'encrypt' as const, path: '/api/v1/encrypt', body: { userId, data: items } },
      { operation: 'decrypt' as const, path: '/api/v1/decrypt', body: { userId, data: encryptedData } },
    ];
    const measure = async () => {
      const measured: Measured[] = [];
      for (const workload of workloads) {
        await load({ url: service.url, path: workload.path, token, connections: CONNECTIONS, seconds: 3, body: workload.body });
        const cpuBefore = service.cpuSeconds;
        const result: LoadResult = await load({
          url: service.url,
          path: workload.path,
          token,
          connections: CONNECTIONS,
          seconds: SECONDS,
          body: workload.body,
        });
        const cpuAfter = service.cpuSeconds;
        measured.push({
          mode: mode.name,
          operation: workload.operation,
          requestsPerSecond: result.requestsPerSecond,
          p50Ms: result.p50Ms,
          p99Ms: result.p99Ms,
          cpuMsPerRequest:
            cpuBefore !== undefined && cpuAfter !== undefined && result.requests
              ? ((cpuAfter - cpuBefore) * 1000) / result.requests
              : undefined,
          failures: result.errors + result.timeouts + result.non2xx,
        });
      }
      return measured;
    };
    if (!keepMetrics) return { measured: await measure(), snapshots: [] };
    const { result, snapshots } = await sampleMetrics(service.url, measure);
    return { measured: result, snapshots };
  } finally {
    await service.stop();
  }
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

async function main(): Promise<void> {
  const receiver = await startReceiver();
  const all: Measured[] = [];
  let metrics: Array<{ t: number; text: string }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of MODES) {
      const { measured, snapshots } = await runMode(mode, receiver.endpoint, round === 0 && mode.ratio === undefined);
      if (snapshots.length) metrics = snapshots;
      all.push(...measured);
      for (const m of measured) {
        console.log(
          `round ${round + 1} ${m.mode.padEnd(6)} ${m.operation}: ${m.requestsPerSecond.toFixed(1)} req/s, p99 ${m.p99Ms} ms, CPU ${m.cpuMsPerRequest?.toFixed(2)} ms/request, failures ${m.failures}`,
        );
      }
    }
  }
  const summary = MODES.flatMap((mode) =>
    (['encrypt', 'decrypt'] as const).map((operation) => {
      const runs = all.filter((m) => m.mode === mode.name && m.operation === operation);
      const off = all.filter((m) => m.mode === 'off' && m.operation === operation);
      const rps = mean(runs.map((m) => m.requestsPerSecond));
      const cpu = runs.every((m) => m.cpuMsPerRequest !== undefined) ? mean(runs.map((m) => m.cpuMsPerRequest!)) : undefined;
      const offCpu = off.every((m) => m.cpuMsPerRequest !== undefined) ? mean(off.map((m) => m.cpuMsPerRequest!)) : undefined;
      return {
        mode: mode.name,
        operation,
        requestsPerSecond: rps,
        throughputVsOff: rps / mean(off.map((m) => m.requestsPerSecond)),
        p99Ms: mean(runs.map((m) => m.p99Ms)),
        cpuMsPerRequest: cpu,
        cpuVsOff: cpu !== undefined && offCpu ? cpu / offCpu : undefined,
        failures: runs.reduce((n, m) => n + m.failures, 0),
      };
    }),
  );
  console.log('\n| operation (100 items, 50 connections) | tracing | requests/s | vs off | p99 ms | CPU ms/request | vs off |');
  console.log('|---|---|---|---|---|---|---|');
  for (const s of summary) {
    console.log(
      `| ${s.operation} | ${s.mode} | ${s.requestsPerSecond.toFixed(1)} | ${s.throughputVsOff.toFixed(3)} | ${s.p99Ms.toFixed(0)} | ${s.cpuMsPerRequest?.toFixed(2) ?? 'n/a'} | ${s.cpuVsOff?.toFixed(3) ?? 'n/a'} |`,
    );
  }
  console.log(`\nspans exported: ${receiver.stats().exports} OTLP requests, ${(receiver.stats().bytes / 1e6).toFixed(1)} MB`);
  mkdirSync(join(ROOT, '.build'), { recursive: true });
  writeFileSync(
    join(ROOT, '.build', 'bench-tracing.json'),
    JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, runs: all, summary }, null, 2),
  );
  writeFileSync(join(ROOT, '.build', 'bench-metrics.json'), JSON.stringify(metrics));
  await receiver.stop();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
