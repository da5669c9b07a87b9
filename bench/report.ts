import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from './load';
import type { ProbeResults } from './probes';
import { KeyAlgorithm, RSA_OAEP_256, X_WING } from '../src/envelope/ciphertexts';
import type { CeilingResult, KeygenResult, PeerResult } from './references';
import { ROOT } from './service';
import { renderStartup, StartupResult } from './startup';
import { CONNECTIONS, MANY_CONNECTIONS, TARGET_BATCH, TEN_ITEMS } from './workload';

export interface ScenarioResult {
  name: string;
  /** The algorithm of the person's key (X-Wing on the main service, RSA-OAEP-256 on the second). */
  algorithm: KeyAlgorithm;
  operation: 'encrypt' | 'decrypt';
  items: number;
  connections: number;
  /**
   * cpuMsPerRequest: CPU time of the service process (all threads) per successful request;
   * redisFallbacks: public-key lookups that found Redis unavailable (timeout or open breaker).
   */
  service: LoadResult & { itemsPerSecond: number; cpuMsPerRequest?: number; redisFallbacks?: number };
  ceiling: CeilingResult;
  /** Reference (c): the same envelope behind a bare express server (no pipeline), same connections. */
  bareExpress?: BareResult;
  /** The same behind a bare fastify server: what the framework choice costs. */
  bareFastify?: BareResult;
  /** KMS requests per successful decrypt during the measured run (the warm-up before it excluded). */
  kmsCallsPerRequest?: number;
  /** The 1,000-connection runs: `/health/live` and `/health/ready` polled throughout (bench/probes.ts). */
  probes?: ProbeResults;
}

export type BareResult = LoadResult & { itemsPerSecond: number; cpuMsPerRequest?: number };
export type MeasuredRun = LoadResult & { cpuMsPerRequest?: number };
export interface GuardsRun {
  without: MeasuredRun;
  with: MeasuredRun;
}

/** POST /keys for new people with one algorithm, against the machine's rate of making such keys. */
export interface KeysResult {
  algorithm: KeyAlgorithm;
  keygen: KeygenResult;
  /** With the KMS provider (every key sealed by one KMS Encrypt). */
  service: LoadResult;
  /** With the local provider (an AES master key in a file). */
  local: LoadResult;
  connections: number;
}

/** Decrypt loaded from a replica's first ready answer, its private-key cache empty. */
export interface ColdStartResult {
  items: number;
  connections: number;
  readyMs: number;
  /** KMS requests during the run: one per cold key when concurrent misses share one unseal. */
  kmsCalls: number;
  service: LoadResult;
}

export interface Target {
  target: string;
  measured: string;
  met: boolean;
}

export interface BenchResults {
  date: string;
  commit: string;
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    node: string;
    platform: string;
    loadAverageAtStart: number;
    loadAverageAtEnd: number;
  };
  settings: Record<string, number>;
  scenarios: ScenarioResult[];
  peer: PeerResult[];
  keys?: KeysResult[];
  coldStart?: ColdStartResult;
  keygenInterference?: { keysRate: number; alone: LoadResult; withKeys: LoadResult; keys: LoadResult };
  /** Decrypt with the decrypt budget and canaries planted, against a service with neither (alternated runs). */
  guards?: { canaries: number; items: number; connections: number; runs: GuardsRun[] };
  /** Blind indexes computed per request, beside encrypt of the same batch size. */
  indexes?: { items: number; connections: number; compute: MeasuredRun; encrypt: MeasuredRun };
  /** Time to ready and resident memory, the project's Node against the previous line (bench/startup.ts). */
  startup?: StartupResult[];
  targets: Target[];
}

/** The algorithms measured side by side: the main service's (X-Wing), then the second service's. */
export const SIDE_BY_SIDE: readonly KeyAlgorithm[] = [X_WING, RSA_OAEP_256];

const RESULTS_FILE = join(ROOT, 'bench/results.json');
const DOC_FILE = join(ROOT, 'docs/performance.md');
const DOC_START = '<!-- bench-results:start -->';
const DOC_END = '<!-- bench-results:end -->';

const failures = (result: LoadResult) => result.errors + result.mismatches;

/** The fastest unsigned configuration of the peer for an operation, and its default (signed) one. */
function peerRates(results: BenchResults, operation: 'encrypt' | 'decrypt') {
  const rate = (peer: PeerResult) => (operation === 'encrypt' ? peer.encryptItemsPerSecond : peer.decryptItemsPerSecond);
  const unsigned = results.peer.filter((peer) => !peer.signed).map(rate);
  const signed = results.peer.filter((peer) => peer.signed).map(rate);
  return { fastest: unsigned.length ? Math.max(...unsigned) : undefined, signed: signed[0] };
}

export function judgeTargets(results: BenchResults): Target[] {
  const targets: Target[] = [];
  // A run of results.json written before the algorithm was recorded is an RSA run.
  const scenario = (operation: string, items: number, connections: number, algorithm: KeyAlgorithm = X_WING) =>
    results.scenarios.find(
      (s) => s.operation === operation && s.items === items && s.connections === connections && (s.algorithm ?? RSA_OAEP_256) === algorithm,
    );

  for (const operation of ['encrypt', 'decrypt'] as const) {
    for (const algorithm of SIDE_BY_SIDE) {
      const batch = scenario(operation, TARGET_BATCH, CONNECTIONS, algorithm);
      if (!batch) continue;
      const share = batch.service.itemsPerSecond / batch.ceiling.itemsPerSecond;
      const wanted = operation === 'encrypt' ? 0.75 : 0.6;
      targets.push({
        target: `${operation}, ${TARGET_BATCH}-item batches @${CONNECTIONS}, ${algorithm}: ≥ ${percent(wanted)} of in-process items/s`,
        measured: percent(share),
        met: share >= wanted,
      });
    }
    const batch = scenario(operation, TARGET_BATCH, CONNECTIONS);
    if (batch) {
      const peer = peerRates(results, operation).fastest;
      const wanted = operation === 'encrypt' ? 40 : 100;
      if (peer) {
        const times = batch.service.itemsPerSecond / peer;
        targets.push({
          target: `${operation} items/s ≥ ${wanted}× the peer's fastest unsigned suite (${TARGET_BATCH}-item batches)`,
          measured: `${times.toFixed(1)}×`,
          met: times >= wanted,
        });
      }
    }
    for (const items of [1, 10, 100, 1000]) {
      const run = scenario(operation, items, CONNECTIONS);
      if (!run?.bareExpress) continue;
      const wanted = items >= 100 ? 0.8 : 0.6;
      const share = run.service.itemsPerSecond / run.bareExpress.itemsPerSecond;
      targets.push({
        target: `${operation} ${items} @${CONNECTIONS}: service ≥ ${percent(wanted)} of bare express`,
        measured: percent(share),
        met: share >= wanted,
      });
    }
    for (const algorithm of SIDE_BY_SIDE) {
      const many = scenario(operation, TEN_ITEMS, MANY_CONNECTIONS, algorithm);
      const few = scenario(operation, TEN_ITEMS, CONNECTIONS, algorithm);
      if (!many) continue;
      const failed = failures(many.service) + many.service.non2xx;
      targets.push({
        target: `${operation}, ${TEN_ITEMS} items @${MANY_CONNECTIONS}, ${algorithm}: zero errors`,
        measured: `${failed} errors or non-2xx`,
        met: failed === 0,
      });
      targets.push({
        target: `${operation}, ${TEN_ITEMS} items @${MANY_CONNECTIONS}, ${algorithm}: p99 < 3 s`,
        measured: `${ms(many.service.p99Ms)} ms`,
        met: many.service.p99Ms < 3000,
      });
      if (few) {
        const share = many.service.itemsPerSecond / few.service.itemsPerSecond;
        targets.push({
          target: `${operation}, ${TEN_ITEMS} items @${MANY_CONNECTIONS}, ${algorithm}: ≥ 80 % of the @${CONNECTIONS} throughput`,
          measured: percent(share),
          met: share >= 0.8,
        });
      }
    }
    // X-Wing against RSA, same batch and connections: CPU per request, the figure other load disturbs least.
    for (const items of [1, 10, 100, 1000]) {
      const hybrid = scenario(operation, items, CONNECTIONS, X_WING)?.service.cpuMsPerRequest;
      const classic = scenario(operation, items, CONNECTIONS, RSA_OAEP_256)?.service.cpuMsPerRequest;
      if (hybrid === undefined || classic === undefined) continue;
      const wanted = operation === 'decrypt' && items <= 10 ? 0.6 : 1;
      targets.push({
        target: `${operation} ${items} @${CONNECTIONS}: X-Wing CPU per request ≤ ${wanted === 1 ? 'RSA’s' : `${percent(wanted)} of RSA’s`}`,
        measured: `${hybrid.toFixed(2)} against ${classic.toFixed(2)} ms (${percent(hybrid / classic)})`,
        met: hybrid <= wanted * classic,
      });
    }
  }
  for (const algorithm of SIDE_BY_SIDE) {
    const single = scenario('encrypt', 1, CONNECTIONS, algorithm)?.service.cpuMsPerRequest;
    if (single === undefined) continue;
    targets.push({
      target: `encrypt 1 @${CONNECTIONS}, ${algorithm}: CPU ≤ 0.5 ms per request`,
      measured: `${single.toFixed(2)} ms`,
      met: single <= 0.5,
    });
  }
  const keysOf = (algorithm: KeyAlgorithm) => results.keys?.find((keys) => keys.algorithm === algorithm);
  const rsaKeys = keysOf(RSA_OAEP_256);
  const hybridKeys = keysOf(X_WING);
  if (rsaKeys) {
    const share = rsaKeys.service.requestsPerSecond / rsaKeys.keygen.keysPerSecond;
    targets.push({
      target: 'POST /keys, RSA-OAEP-256: ≥ 80 % of the machine’s RSA-2048 key generation rate (all cores)',
      measured: percent(share),
      met: share >= 0.8,
    });
  }
  if (rsaKeys && hybridKeys) {
    const factor = hybridKeys.local.requestsPerSecond / rsaKeys.local.requestsPerSecond;
    targets.push({
      target: 'POST /keys with the local provider: X-Wing ≥ 50× RSA’s rate',
      measured: `${factor.toFixed(1)}×`,
      met: factor >= 50,
    });
  }
  if (results.coldStart) {
    const { service, kmsCalls } = results.coldStart;
    const failed = failures(service) + service.non2xx;
    targets.push({
      target: `decrypt ${results.coldStart.items} @${results.coldStart.connections} from a cold start: zero errors, p99 < 3 s, one KMS call for the one cold key`,
      measured: `${failed} errors or non-2xx, p99 ${ms(service.p99Ms)} ms, ${kmsCalls} KMS calls`,
      met: failed === 0 && service.p99Ms < 3000 && kmsCalls === 1,
    });
  }
  if (results.keygenInterference) {
    const { alone, withKeys, keysRate } = results.keygenInterference;
    const factor = withKeys.p99Ms / alone.p99Ms;
    targets.push({
      target: `encrypt p99 with POST /keys at ${keysRate}/s (¼ of keygen rate) ≤ 2× without`,
      measured: `${factor.toFixed(2)}×`,
      met: factor <= 2,
    });
  }
  if (results.guards) {
    const { without, with: guarded } = guardTotals(results.guards.runs);
    const share = guarded.requestsPerSecond / without.requestsPerSecond;
    targets.push({
      target: `decrypt ${results.guards.items} @${results.guards.connections} with the decrypt budget and ${results.guards.canaries} canaries: ≥ 95 % of the throughput without`,
      measured: percent(share),
      met: share >= 0.95,
    });
  }
  // The probe timeouts of docs/operations.md 4.1 (liveness 10 s, readiness 10 s) against the probes' worst answer under load.
  for (const s of results.scenarios.filter((s) => s.probes)) {
    const { live, ready } = s.probes!;
    targets.push({
      target: `${label(s)}: every /health/live and /health/ready answered 200 within its probe timeout (10 s, 10 s)`,
      measured: `live max ${ms(live.maxMs)} ms, ready max ${ms(ready.maxMs)} ms, ${live.failed + ready.failed} failed`,
      met: live.failed + ready.failed === 0 && live.maxMs < 10_000 && ready.maxMs < 10_000,
    });
  }
  const decrypts = results.scenarios.filter((s) => s.kmsCallsPerRequest !== undefined);
  if (decrypts.length) {
    const calls = decrypts.reduce((sum, s) => sum + s.kmsCallsPerRequest! * s.service.requests, 0);
    const requests = decrypts.reduce((sum, s) => sum + s.service.requests, 0);
    targets.push({
      target: 'steady-state decrypt: ≈ 0 KMS calls per request',
      measured: `${calls} calls in ${requests} requests`,
      met: calls / Math.max(1, requests) < 0.001,
    });
  }
  return targets;
}

/** The guards scenario's alternated runs, summed per side. */
function guardTotals(runs: GuardsRun[]) {
  const total = (side: 'without' | 'with') => {
    const requests = runs.reduce((sum, run) => sum + run[side].requests, 0);
    const seconds = runs.reduce((sum, run) => sum + run[side].seconds, 0);
    const cpu = runs.every((run) => run[side].cpuMsPerRequest !== undefined)
      ? runs.reduce((sum, run) => sum + run[side].cpuMsPerRequest! * run[side].requests, 0) / Math.max(1, requests)
      : undefined;
    return {
      requestsPerSecond: requests / Math.max(1e-9, seconds),
      cpuMsPerRequest: cpu,
      p99Ms: Math.max(...runs.map((run) => run[side].p99Ms)),
      failed: runs.reduce((sum, run) => sum + failures(run[side]) + run[side].non2xx, 0),
    };
  };
  return { without: total('without'), with: total('with') };
}

/** The report as Markdown: printed on stdout and kept in docs/performance.md. */
export function renderReport(results: BenchResults): string {
  const lines: string[] = [];
  const { machine } = results;
  lines.push(
    `Measured ${results.date} at commit ${results.commit} on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ` +
      `Node ${machine.node} (${machine.platform}); load average ${machine.loadAverageAtStart.toFixed(2)} at start, ${machine.loadAverageAtEnd.toFixed(2)} at end. ` +
      `${results.settings.secondsPerRun} s per run, items of ${results.settings.itemBytes} bytes.`,
    '',
  );
  if (results.scenarios.length) {
    const ordered = [...results.scenarios].sort(
      (a, b) =>
        b.operation.localeCompare(a.operation) ||
        a.connections - b.connections ||
        a.items - b.items ||
        (b.algorithm ?? RSA_OAEP_256).localeCompare(a.algorithm ?? RSA_OAEP_256),
    );
    lines.push(
      '| the service | req/s | items/s | p50 ms | p99 ms | errors | non-2xx | KMS calls/req | CPU ms/req | Redis fallbacks |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    for (const s of ordered) {
      lines.push(
        `| ${label(s)} | ${int(s.service.requestsPerSecond)} | ${int(s.service.itemsPerSecond)} | ${ms(s.service.p50Ms)} | ${ms(s.service.p99Ms)} | ` +
          `${failures(s.service)} | ${s.service.non2xx} | ${s.kmsCallsPerRequest === undefined ? '–' : s.kmsCallsPerRequest.toFixed(3)} | ` +
          `${s.service.cpuMsPerRequest === undefined ? '–' : s.service.cpuMsPerRequest.toFixed(2)} | ${s.service.redisFallbacks ?? '–'} |`,
      );
    }
    lines.push(
      '',
      '| against the references | ceiling items/s (one core) | ceiling ms/batch | service ÷ ceiling | service ÷ peer (fastest unsigned) | service ÷ peer (default signed) |',
      '|---|--:|--:|--:|--:|--:|',
    );
    for (const s of ordered) {
      const peer = peerRates(results, s.operation);
      lines.push(
        `| ${label(s)} | ${int(s.ceiling.itemsPerSecond)} | ${(1000 / s.ceiling.requestsPerSecond).toFixed(2)} | ` +
          `${percent(s.service.itemsPerSecond / s.ceiling.itemsPerSecond)} | ${times(s.service.itemsPerSecond, peer.fastest)} | ${times(s.service.itemsPerSecond, peer.signed)} |`,
      );
    }
    lines.push(
      '',
      '| against bare servers (no pipeline) | bare express items/s | bare express p99 ms | bare express CPU ms/req | bare fastify items/s | bare fastify p99 ms | bare fastify CPU ms/req | bare express ÷ ceiling | bare fastify ÷ ceiling | service ÷ bare express | service CPU ÷ bare express CPU |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    for (const s of ordered.filter((each) => each.bareExpress || each.bareFastify)) {
      const express = s.bareExpress;
      const fastify = s.bareFastify;
      const cpu = (bare?: BareResult) => (bare?.cpuMsPerRequest === undefined ? '–' : bare.cpuMsPerRequest.toFixed(2));
      const cpuRatio =
        express?.cpuMsPerRequest && s.service.cpuMsPerRequest !== undefined
          ? `${(s.service.cpuMsPerRequest / express.cpuMsPerRequest).toFixed(1)}×`
          : '–';
      lines.push(
        `| ${label(s)} | ${express ? int(express.itemsPerSecond) : '–'} | ${express ? ms(express.p99Ms) : '–'} | ${cpu(express)} | ` +
          `${fastify ? int(fastify.itemsPerSecond) : '–'} | ${fastify ? ms(fastify.p99Ms) : '–'} | ${cpu(fastify)} | ` +
          `${express ? percent(express.itemsPerSecond / s.ceiling.itemsPerSecond) : '–'} | ${fastify ? percent(fastify.itemsPerSecond / s.ceiling.itemsPerSecond) : '–'} | ` +
          `${express ? percent(s.service.itemsPerSecond / express.itemsPerSecond) : '–'} | ${cpuRatio} |`,
      );
    }
    const pairs = ordered
      .filter((s) => s.algorithm === X_WING)
      .map((hybrid) => ({
        hybrid,
        classic: ordered.find(
          (s) =>
            s.algorithm === RSA_OAEP_256 &&
            s.operation === hybrid.operation &&
            s.items === hybrid.items &&
            s.connections === hybrid.connections,
        ),
      }))
      .filter((pair): pair is { hybrid: ScenarioResult; classic: ScenarioResult } => pair.classic !== undefined);
    if (pairs.length) {
      const cpu = (s: ScenarioResult) => (s.service.cpuMsPerRequest === undefined ? '–' : s.service.cpuMsPerRequest.toFixed(2));
      lines.push(
        '',
        '| X-Wing beside RSA-OAEP-256, same run | X-Wing req/s | RSA req/s | X-Wing p99 ms | RSA p99 ms | X-Wing CPU ms/req | RSA CPU ms/req | X-Wing CPU ÷ RSA CPU | X-Wing ÷ its ceiling | RSA ÷ its ceiling | ceiling ms/batch X-Wing / RSA |',
        '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
      );
      for (const { hybrid, classic } of pairs) {
        const cpuRatio =
          hybrid.service.cpuMsPerRequest !== undefined && classic.service.cpuMsPerRequest
            ? percent(hybrid.service.cpuMsPerRequest / classic.service.cpuMsPerRequest)
            : '–';
        lines.push(
          `| ${hybrid.operation} ${hybrid.items} @${hybrid.connections} | ${int(hybrid.service.requestsPerSecond)} | ${int(classic.service.requestsPerSecond)} | ` +
            `${ms(hybrid.service.p99Ms)} | ${ms(classic.service.p99Ms)} | ${cpu(hybrid)} | ${cpu(classic)} | ${cpuRatio} | ` +
            `${percent(hybrid.service.itemsPerSecond / hybrid.ceiling.itemsPerSecond)} | ${percent(classic.service.itemsPerSecond / classic.ceiling.itemsPerSecond)} | ` +
            `${(1000 / hybrid.ceiling.requestsPerSecond).toFixed(2)} / ${(1000 / classic.ceiling.requestsPerSecond).toFixed(2)} |`,
        );
      }
    }
    lines.push('');
  }
  const probed = results.scenarios.filter((s) => s.probes);
  if (probed.length) {
    lines.push(
      '### Probes under load',
      '',
      '| run (probes every 250 ms, each on a new connection) | /health/live p50 ms | p99 ms | max ms | failed | /health/ready p50 ms | p99 ms | max ms | failed |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    for (const s of probed) {
      const { live, ready } = s.probes!;
      lines.push(
        `| ${label(s)} (${live.probes} + ${ready.probes} probes) | ${ms(live.p50Ms)} | ${ms(live.p99Ms)} | ${ms(live.maxMs)} | ${live.failed} | ` +
          `${ms(ready.p50Ms)} | ${ms(ready.p99Ms)} | ${ms(ready.maxMs)} | ${ready.failed} |`,
      );
    }
    lines.push('');
  }
  if (results.guards) {
    const { without, with: guarded } = guardTotals(results.guards.runs);
    const cpu = (value?: number) => (value === undefined ? '–' : value.toFixed(2));
    lines.push(
      `| decrypt ${results.guards.items} @${results.guards.connections}, ${results.guards.runs.length} alternated runs each | req/s | p99 ms (worst run) | CPU ms/req | errors or non-2xx |`,
      '|---|--:|--:|--:|--:|',
      `| without decrypt budget or canaries | ${int(without.requestsPerSecond)} | ${ms(without.p99Ms)} | ${cpu(without.cpuMsPerRequest)} | ${without.failed} |`,
      `| with the decrypt budget and ${results.guards.canaries} canaries | ${int(guarded.requestsPerSecond)} | ${ms(guarded.p99Ms)} | ${cpu(guarded.cpuMsPerRequest)} | ${guarded.failed} |`,
      '',
    );
  }
  if (results.indexes) {
    const { items, connections, compute, encrypt } = results.indexes;
    const cpu = (run: MeasuredRun) => (run.cpuMsPerRequest === undefined ? '–' : run.cpuMsPerRequest.toFixed(2));
    lines.push(
      `| ${items} values per request @${connections} | req/s | values/s | p99 ms | CPU ms/req | errors or non-2xx |`,
      '|---|--:|--:|--:|--:|--:|',
      `| blind indexes (\`POST /indexes/{name}\`) | ${int(compute.requestsPerSecond)} | ${int(compute.requestsPerSecond * items)} | ${ms(compute.p99Ms)} | ${cpu(compute)} | ${failures(compute) + compute.non2xx} |`,
      `| encrypt, same run | ${int(encrypt.requestsPerSecond)} | ${int(encrypt.requestsPerSecond * items)} | ${ms(encrypt.p99Ms)} | ${cpu(encrypt)} | ${failures(encrypt) + encrypt.non2xx} |`,
      '',
    );
  }
  if (results.peer.length) {
    lines.push(
      '| peer: AWS Encryption SDK, raw RSA-OAEP-SHA256 keyring, one message per item | encrypt items/s | decrypt items/s |',
      '|---|--:|--:|',
    );
    for (const peer of results.peer)
      lines.push(`| ${peer.suite} | ${int(peer.encryptItemsPerSecond)} | ${int(peer.decryptItemsPerSecond)} |`);
    lines.push('');
  }
  if (results.keys?.length) {
    lines.push(
      '| POST /keys (new users) | connections | keys/s, KMS provider | p99 ms | errors or non-2xx | keys/s, local provider | p99 ms | errors or non-2xx | machine keygen/s | KMS provider ÷ machine |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    for (const { algorithm, keygen, service, local, connections } of results.keys) {
      lines.push(
        `| ${algorithm} | ${connections} | ${service.requestsPerSecond.toFixed(1)} | ${ms(service.p99Ms)} | ${failures(service) + service.non2xx} | ` +
          `${local.requestsPerSecond.toFixed(1)} | ${ms(local.p99Ms)} | ${failures(local) + local.non2xx} | ` +
          `${keygen.keysPerSecond.toFixed(1)} (${keygen.concurrency} at once) | ${percent(service.requestsPerSecond / keygen.keysPerSecond)} |`,
      );
    }
    lines.push('');
  }
  if (results.coldStart) {
    const { items, connections, readyMs, kmsCalls, service } = results.coldStart;
    lines.push(
      `| decrypt ${items} @${connections} from a cold start (loaded from the first ready answer) | ready after ms | req/s | p50 ms | p99 ms | errors | non-2xx | KMS calls |`,
      '|---|--:|--:|--:|--:|--:|--:|--:|',
      `| X-Wing, a new process on the same database, Redis and KMS | ${int(readyMs)} | ${int(service.requestsPerSecond)} | ${ms(service.p50Ms)} | ${ms(service.p99Ms)} | ${failures(service)} | ${service.non2xx} | ${kmsCalls} |`,
      '',
    );
  }
  if (results.keygenInterference) {
    const { alone, withKeys, keysRate, keys } = results.keygenInterference;
    lines.push(
      `| encrypt ${TARGET_BATCH} @${CONNECTIONS} | req/s | p50 ms | p99 ms | errors | non-2xx |`,
      '|---|--:|--:|--:|--:|--:|',
      `| alone | ${int(alone.requestsPerSecond)} | ${ms(alone.p50Ms)} | ${ms(alone.p99Ms)} | ${failures(alone)} | ${alone.non2xx} |`,
      `| with POST /keys at ${keysRate}/s (achieved ${keys.requestsPerSecond.toFixed(1)}/s) | ${int(withKeys.requestsPerSecond)} | ${ms(withKeys.p50Ms)} | ${ms(withKeys.p99Ms)} | ${failures(withKeys)} | ${withKeys.non2xx} |`,
      '',
    );
  }
  if (results.startup?.length) lines.push(renderStartup(results.startup), '');
  if (results.targets.length) {
    lines.push('| target | measured | met |', '|---|--:|:-:|');
    for (const target of results.targets) lines.push(`| ${target.target} | ${target.measured} | ${target.met ? 'yes' : '**no**'} |`);
  }
  return lines.join('\n');
}

export function printReport(results: BenchResults): void {
  process.stdout.write(`\n${renderReport(results)}\n`);
}

/** bench/results.json (raw figures) and the results section of docs/performance.md. */
export function writeResults(results: BenchResults): void {
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  const doc = readFileSync(DOC_FILE, 'utf8');
  const start = doc.indexOf(DOC_START);
  const end = doc.indexOf(DOC_END);
  if (start < 0 || end < start) throw new Error(`${DOC_FILE} lacks the ${DOC_START} … ${DOC_END} markers`);
  writeFileSync(DOC_FILE, `${doc.slice(0, start + DOC_START.length)}\n${renderReport(results)}\n\n${doc.slice(end)}`);
  process.stderr.write(`wrote ${RESULTS_FILE} and the results in ${DOC_FILE}\n`);
}

/** A scenario's row name: operation, batch, connections and the algorithm of the person's key. */
const label = (s: ScenarioResult) => `${s.operation} ${s.items} @${s.connections}, ${s.algorithm ?? RSA_OAEP_256}`;
const int = (value: number) => Math.round(value).toLocaleString('en-US');
const ms = (value: number) => (value >= 100 ? Math.round(value).toString() : value.toFixed(1));
const percent = (share: number) => `${Math.round(share * 100)} %`;
const times = (value: number, reference: number | undefined) => (reference ? `${(value / reference).toFixed(1)}×` : '–');
