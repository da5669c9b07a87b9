import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { load } from './load';
import { ROOT, ServiceUnderTest } from './service';
import { CONNECTIONS, makeItems, randomUserIdBase, TEN_ITEMS } from './workload';

/**
 * Startup and memory, per Node line: the same build (dist/main.js) run by the project's Node
 * (.nvmrc) and by the previous line, both binaries from the npm registry (scripts/node-line.js),
 * started alternately RUNS times each. Per start: milliseconds from spawning the process to its
 * first 200 on /health/ready; resident memory (VmRSS) after IDLE_SECONDS of idling; then
 * encrypt and decrypt of 10 items at 50 connections for LOAD_SECONDS each, and VmRSS after the
 * same idle time again, with the peak (VmHWM).
 */
export const PREVIOUS_LINE = process.env.BENCH_PREVIOUS_NODE ?? '20.20.2';
const RUNS = 3;
const IDLE_SECONDS = 3;
const LOAD_SECONDS = 5;

export interface StartupResult {
  node: string;
  runs: number;
  /** Each start's time to ready, in ms, in the order measured. */
  readyMs: number[];
  /** Medians over the runs, in MiB. */
  rssIdleMiB: number;
  rssAfterLoadMiB: number;
  peakRssMiB: number;
  /** Requests per second of the load, median over the runs (encrypt, decrypt). */
  encryptPerSecond: number;
  decryptPerSecond: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

function registryNode(version: string): string {
  const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'node-line.js'), '--registry', version], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (run.status !== 0) throw new Error(`no Node ${version} from the npm registry`);
  return run.stdout.trim();
}

interface OneStart {
  readyMs: number;
  rssIdle: number;
  rssAfterLoad: number;
  peak: number;
  encrypt: number;
  decrypt: number;
}

async function startOnce(node: string): Promise<OneStart> {
  // RSA keys on both lines: Node 20's node:crypto has no ML-KEM, so it cannot make or open X-Wing keys.
  const service = await ServiceUnderTest.start({ node, env: { KEY_ALGORITHM: 'rsa-oaep' } });
  try {
    const readyMs = service.readyMs;
    await sleep(IDLE_SECONDS * 1000);
    const idle = service.memoryMiB;
    const token = service.token(`startup-${Date.now().toString(36)}`);
    // A user of its own: the machine's Redis outlives each start's database and caches public keys by user.
    const userId = randomUserIdBase().toString();
    const post = (path: string, body: unknown) =>
      fetch(`${service.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const created = await post('/api/v1/keys', { userId });
    if (!created.ok) throw new Error(`POST /keys answered ${created.status}`);
    const data = makeItems(TEN_ITEMS);
    const encrypted = (await (await post('/api/v1/encrypt', { userId, data })).json()) as { encryptedData: string[] };
    const common = { url: service.url, token, connections: CONNECTIONS, seconds: LOAD_SECONDS };
    const encrypt = await load({ ...common, path: '/api/v1/encrypt', body: { userId, data } });
    const decrypt = await load({
      ...common,
      path: '/api/v1/decrypt',
      body: { userId, data: encrypted.encryptedData },
      expectBody: JSON.stringify({ decryptedData: data }),
    });
    for (const result of [encrypt, decrypt]) {
      if (result.errors + result.mismatches + result.non2xx > 0) throw new Error(`the load failed: ${JSON.stringify(result.statusCodes)}`);
    }
    await sleep(IDLE_SECONDS * 1000);
    const after = service.memoryMiB;
    if (!idle || !after) throw new Error('resident memory is read from /proc: Linux only');
    return {
      readyMs,
      rssIdle: idle.rss,
      rssAfterLoad: after.rss,
      peak: after.peak,
      encrypt: encrypt.requestsPerSecond,
      decrypt: decrypt.requestsPerSecond,
    };
  } finally {
    await service.stop();
  }
}

/** The project's Node against the previous line, started alternately so that machine noise hits both alike. */
export async function measureStartup(log: (line: string) => void): Promise<StartupResult[]> {
  const project = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim();
  const lines = [project, PREVIOUS_LINE].map((version) => ({ version, node: registryNode(version), starts: [] as OneStart[] }));
  for (let run = 1; run <= RUNS; run++) {
    for (const line of lines) {
      log(`startup: Node ${line.version}, start ${run} of ${RUNS}...`);
      line.starts.push(await startOnce(line.node));
    }
  }
  return lines.map(({ version, starts }) => ({
    node: `v${version}`,
    runs: starts.length,
    readyMs: starts.map((start) => Math.round(start.readyMs)),
    rssIdleMiB: median(starts.map((start) => start.rssIdle)),
    rssAfterLoadMiB: median(starts.map((start) => start.rssAfterLoad)),
    peakRssMiB: median(starts.map((start) => start.peak)),
    encryptPerSecond: median(starts.map((start) => start.encrypt)),
    decryptPerSecond: median(starts.map((start) => start.decrypt)),
  }));
}

/** The startup table, in the report's markdown style. */
export function renderStartup(results: StartupResult[]): string {
  const mib = (value: number) => value.toFixed(0);
  const rows = results.map((result) => {
    const ready = [...result.readyMs].sort((a, b) => a - b);
    return `| ${result.node} | ${median(ready)} | ${ready[0]}–${ready.at(-1)} | ${mib(result.rssIdleMiB)} | ${mib(result.rssAfterLoadMiB)} | ${mib(result.peakRssMiB)} | ${Math.round(result.encryptPerSecond).toLocaleString('en')} | ${Math.round(result.decryptPerSecond).toLocaleString('en')} |`;
  });
  return [
    `| same build, node dist/main (${results[0]?.runs ?? 0} starts each, alternating) | ready ms (median) | ready ms (min–max) | RSS idle MiB | RSS after load MiB | peak RSS MiB | encrypt 10 @50 req/s | decrypt 10 @50 req/s |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|',
    ...rows,
  ].join('\n');
}
