import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../bench/service';
import { Cluster } from './cluster';
import type { RestartFigures } from './checks';
import { FAULTS, FaultWindow } from './faults';
import { writeReport, writeRollingRestartSection } from './report';
import { Mix, newLedger, Workload } from './workload';

/**
 * `npm run soak`: two service processes in production configuration behind a round-robin proxy
 * (new connections to the processes its health check sees ready), a bounded mixed workload through
 * the typed client's retry policy for SOAK_MINUTES (default 10) at SOAK_RATE requests a second
 * (default 60), faults injected on a schedule, then every check of issue 17 over what was recorded.
 * Writes soak/results.json, docs/reliability-timeline.svg and docs/reliability.md.
 *
 * Arguments (after `npm run soak --`) override the environment: `--minutes 2 --rate 200`; and
 * `--faults rolling-restart,sigterm` (some faults only) with `--mix crypto` (encrypt, decrypt and
 * rotate only) make a partial run: it writes soak/results-<faults>.json and, for the rolling
 * restart, only its section of docs/reliability.md.
 */
const { values: args } = parseArgs({
  options: { minutes: { type: 'string' }, rate: { type: 'string' }, faults: { type: 'string' }, mix: { type: 'string' } },
});
const MINUTES = Number(args.minutes ?? process.env.SOAK_MINUTES ?? 10);
const RATE = Number(args.rate ?? process.env.SOAK_RATE ?? 60);
const MIX = (args.mix ?? 'full') as Mix;
const ONLY = args.faults?.split(',').map((name) => name.trim());
const faults = ONLY ? FAULTS.filter((fault) => ONLY.includes(fault.name)) : FAULTS;
/** Requests the driver lets wait at once; beyond it a tick is skipped (and counted). */
const MAX_IN_FLIGHT = 200;
/**
 * The documented recovery bound after a fault ends (README "Running it reliably"): a KMS call is
 * bounded by 15 s in all and an open circuit breaker lets a trial call through after
 * CIRCUIT_BREAKER_RESET_MS (10 s); PostgreSQL statements by DATABASE_STATEMENT_TIMEOUT_MS + 1 s.
 */
export const RECOVERY_BOUND_S = 25;
const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

export interface ProcessSample {
  t: number;
  service: string;
  rssMiB?: number;
  lagP99Ms?: number;
  heapUsedMiB?: number;
}

async function scrapeMetrics(url: string): Promise<{ lagP99Ms?: number; heapUsedMiB?: number }> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const value = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
    };
    const lag = value('nodejs_eventloop_lag_p99_seconds');
    const heap = value('nodejs_heap_size_used_bytes');
    return { lagP99Ms: lag === undefined ? undefined : lag * 1000, heapUsedMiB: heap === undefined ? undefined : heap / 2 ** 20 };
  } catch {
    return {};
  }
}

async function main(): Promise<void> {
  const unknown = (ONLY ?? []).filter((name) => !FAULTS.some((fault) => fault.name === name));
  if (unknown.length) throw new Error(`unknown fault(s) ${unknown.join(', ')}; known: ${FAULTS.map((f) => f.name).join(', ')}`);
  if (!['full', 'crypto'].includes(MIX)) throw new Error('--mix must be full or crypto');
  if (!(MINUTES > 0 && RATE > 0)) throw new Error('--minutes and --rate must be positive numbers');
  const started = new Date();
  const openapiFile = join(ROOT, '.build', 'soak-openapi.json');
  const generated = spawnSync(process.execPath, [join(ROOT, 'scripts/openapi.js'), openapiFile], { stdio: 'inherit' });
  if (generated.status !== 0) throw new Error('scripts/openapi.js failed');
  const openapi = JSON.parse(readFileSync(openapiFile, 'utf8'));

  process.stdout.write(
    `soak: ${MINUTES} min at ${RATE} req/s (${MIX} mix; faults: ${faults.map((f) => f.name).join(', ')}); starting two service processes…\n`,
  );
  const cluster = await Cluster.start();
  const ledger = newLedger();
  const workload = new Workload(
    () => cluster.url,
    (sub, lifetime) => cluster.token(sub, lifetime),
    ledger,
    MIX,
  );
  const processSamples: ProcessSample[] = [];
  const windows: Array<
    FaultWindow & { detail?: unknown; failedDuring?: number; failedAfter?: number; recoveredAfterS?: number; figures?: RestartFigures }
  > = [];
  let skipped = 0;
  try {
    const total = MINUTES * 60;
    const scale = Math.min(1, MINUTES / 10);
    const durations = faults.map((f) => Math.max(f.seconds ? 3 : 0, Math.round(f.seconds * scale)));
    const warmup = Math.max(15, 0.15 * total);
    const cooldown = Math.max(20, 0.2 * total);
    const gap = Math.max(2, (total - warmup - cooldown - durations.reduce((a, b) => a + b, 0)) / faults.length);

    const sampler = setInterval(() => {
      const t = workload.now();
      for (const service of cluster.services) {
        const memory = service.memoryMiB;
        void scrapeMetrics(service.url).then((m) => processSamples.push({ t, service: service.name, rssMiB: memory?.rss, ...m }));
      }
    }, 2000);
    const driver = setInterval(() => {
      if (workload.inFlight >= MAX_IN_FLIGHT) return void skipped++;
      void workload.step();
    }, 1000 / RATE);

    await sleep(warmup);
    for (const [i, fault] of faults.entries()) {
      const living = [...ledger.people.values()].filter((p) => p.shreddedAt === undefined && !p.shredding);
      const start = workload.now();
      process.stdout.write(`soak: t=${start.toFixed(0)} s fault ${fault.name} (${durations[i]} s)\n`);
      const detail = await fault.run(cluster, durations[i], living[0]?.id ?? '1');
      windows.push({ name: fault.name, what: fault.what, start, end: workload.now(), ...(detail ? { detail } : {}) });
      if (i < faults.length - 1) await sleep(gap);
    }
    // The rest of the run, and at least a cool-down after the last fault (it may have run long).
    await sleep(Math.max(total - workload.now(), Math.min(gap, cooldown)));
    clearInterval(driver);
    for (let waited = 0; workload.inFlight > 0 && waited < 35; waited++) await sleep(1);
    clearInterval(sampler);
    process.stdout.write(`soak: workload over at t=${workload.now().toFixed(0)} s (${ledger.samples.length} requests); checking…\n`);

    // What each fault cost: 503s and connection failures sent during it and within the bound after,
    // and how long after its end the last of them was sent (its measured recovery).
    for (const w of windows) {
      const failed = ledger.samples.filter(
        (s) => (s.status === 503 || s.status === 0) && s.t >= w.start - 1 && s.t <= w.end + RECOVERY_BOUND_S,
      );
      const during = failed.filter((s) => s.t <= w.end);
      const after = failed.filter((s) => s.t > w.end);
      Object.assign(w, {
        failedDuring: during.length,
        failedAfter: after.length,
        recoveredAfterS: after.length ? Number((Math.max(...after.map((s) => s.t)) - w.end).toFixed(1)) : 0,
      });
    }
    const { restartFigures, runChecks } = await import('./checks');
    for (const w of windows) if (w.name === 'rolling-restart') Object.assign(w, { figures: restartFigures(ledger.samples, w) });
    const checks = await runChecks({
      cluster,
      ledger,
      windows,
      processSamples,
      openapi,
      readme: readFileSync(join(ROOT, 'README.md'), 'utf8'),
      boundS: RECOVERY_BOUND_S,
    });
    const results = {
      startedAt: started.toISOString(),
      minutes: MINUTES,
      rate: RATE,
      mix: MIX,
      faults: faults.map((f) => f.name),
      recoveryBoundS: RECOVERY_BOUND_S,
      requests: ledger.samples.length,
      skippedTicks: skipped,
      people: ledger.people.size,
      ciphertexts: [...ledger.people.values()].reduce((n, p) => n + p.items.size, 0),
      shredded: [...ledger.people.values()].filter((p) => p.shreddedAt !== undefined).length,
      operations: ledger.counts,
      restarts: cluster.services.map((s) => ({ service: s.name, restarts: s.restarts })),
      windows,
      checks,
      timeline: timeline(ledger.samples, workload.now()),
      processSamples,
    };
    mkdirSync(join(ROOT, 'soak'), { recursive: true });
    if (ONLY) {
      writeFileSync(join(ROOT, 'soak', `results-${faults.map((f) => f.name).join('-')}.json`), `${JSON.stringify(results, null, 1)}\n`);
      writeRollingRestartSection(results);
    } else {
      writeFileSync(join(ROOT, 'soak', 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
      writeReport(results);
    }
    for (const check of checks) process.stdout.write(`${check.pass ? 'PASS' : 'FAIL'} ${check.name}: ${check.detail}\n`);
    process.exitCode = checks.every((c) => c.pass) ? 0 : 1;
  } finally {
    await cluster.stop();
  }
}

/** Per-second buckets: answers, 2xx, errors (5xx and transport failures), p50 and p99 latency. */
function timeline(samples: Array<{ t: number; ms: number; status: number }>, end: number) {
  const buckets = Array.from({ length: Math.ceil(end) + 1 }, (_, t) => ({ t, ok: 0, errors: 0, other: 0, lat: [] as number[] }));
  for (const s of samples) {
    const b = buckets[Math.min(buckets.length - 1, Math.floor(s.t))];
    if (s.status >= 200 && s.status < 300) b.ok++;
    else if (s.status === 0 || s.status >= 500) b.errors++;
    else b.other++;
    b.lat.push(s.ms);
  }
  return buckets.map(({ t, ok, errors, other, lat }) => {
    lat.sort((a, b) => a - b);
    const q = (p: number) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]) : null);
    return { t, ok, errors, other, p50Ms: q(0.5), p99Ms: q(0.99) };
  });
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
