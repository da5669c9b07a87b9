import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { load, LoadResult, LoadSpec } from './load';
import { pollProbes, ProbeResults } from './probes';
import { CeilingResult, KeygenResult, PEER_SUITES, PeerResult, PeerSuite } from './references';
import { BareServer, BareServerKind, References, startBareServer } from './references-client';
import { BenchResults, GuardsRun, judgeTargets, printReport, ScenarioResult, writeResults } from './report';
import { processCpuSeconds, ROOT, ServiceUnderTest } from './service';
import { measureStartup, renderStartup, StartupResult } from './startup';
import { BATCH_SIZES, CONNECTIONS, ITEM_BYTES, makeItems, MANY_CONNECTIONS, randomUserIdBase, TARGET_BATCH, TEN_ITEMS } from './workload';

/**
 * `npm run bench`: the service in production configuration under autocannon, against the
 * in-process ceiling and the AWS Encryption SDK, measured in one run (see docs/performance.md).
 *
 * BENCH_SECONDS   seconds per measured load run (default 6; each run has a 1 s warm-up before it)
 * BENCH_ONLY      a regular expression: run only the scenarios whose name matches (results not saved);
 *                 `startup`: only time to ready and memory, .nvmrc's Node against the previous line
 * BENCH_CPU_PROF  1: run the service under `node --cpu-prof`; profiles go to .build/bench-profile
 * BENCH_SERVICE_ENTRY  another build of the service to run instead of dist/main.js (to compare builds)
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const CEILING_SECONDS = 3;
const PEER_SECONDS = 3;
const KEYGEN_SECONDS = 6;
const WARM_UP_SECONDS = 1;
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
const PROFILE_DIR = join(ROOT, '.build/bench-profile');
/** Connections for POST /keys: enough to keep every core generating. */
const KEY_CONNECTIONS = availableParallelism() * 8;

const selected = (name: string) => !ONLY || ONLY.test(name);
/** The scenarios that load the main service run (startup starts services of its own). */
const SERVICE_SCENARIOS = (['encrypt', 'decrypt'] as const)
  .flatMap((operation) => [
    ...BATCH_SIZES.map((items) => `${operation} ${items} @${CONNECTIONS}`),
    `${operation} ${TEN_ITEMS} @${MANY_CONNECTIONS}`,
  ])
  .concat(['keys', 'guards', 'indexes', 'peer']);
/** Canaries planted for the guards scenario (one person's), so the tripwire's lookup is not empty. */
const GUARD_CANARIES = 100;
const log = (line: string) => process.stderr.write(`${line}\n`);

type Workload = Omit<LoadSpec, 'url' | 'token' | 'seconds'>;
type Measured = LoadResult & { cpuMsPerRequest?: number; redisFallbacks: number; kmsCalls: number; probes?: ProbeResults };
type MeasuredBare = LoadResult & { cpuMsPerRequest?: number };
/** The bare references measured beside the service; fastify only where it is installed. */
const BARE_KINDS: BareServerKind[] = ['express', ...(isInstalled('fastify') ? (['fastify'] as const) : [])];

async function main(): Promise<void> {
  if (!Number.isFinite(SECONDS) || SECONDS < 1 || SECONDS > 30) throw new Error('BENCH_SECONDS must be between 1 and 30');
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const profiling = process.env.BENCH_CPU_PROF === '1';
  if (profiling) {
    rmSync(PROFILE_DIR, { recursive: true, force: true });
    mkdirSync(PROFILE_DIR, { recursive: true });
  }

  let startup: StartupResult[] | undefined;
  if (selected('startup')) startup = await measureStartup(log);
  if (!SERVICE_SCENARIOS.some(selected)) {
    if (startup) process.stdout.write(`\n${renderStartup(startup)}\n`);
    log('BENCH_ONLY is set: partial run, results not saved');
    return;
  }

  const references = new References();
  log('starting PostgreSQL database, moto (KMS), token issuer and the service (node dist/main)...');
  const service = await ServiceUnderTest.start({ cpuProfileDir: profiling ? PROFILE_DIR : undefined });
  const scenarios: ScenarioResult[] = [];
  const results: Partial<BenchResults> = {};
  const bareServers: BareServer[] = [];
  try {
    const runId = Date.now().toString(36);
    let callers = 0;
    const tokenFor = () => service.token(`bench-${runId}-${++callers}`);
    const userId = randomUserIdBase().toString();
    const created = await post(service.url, '/api/v1/keys', tokenFor(), { userId });
    if (!created.ok) throw new Error(`POST /keys answered ${created.status}: ${await created.text()}`);

    const plaintexts = makeItems(Math.max(...BATCH_SIZES));
    const encrypted = await post(service.url, '/api/v1/encrypt', tokenFor(), { userId, data: plaintexts });
    const ciphertexts = ((await encrypted.json()) as { encryptedData: string[] }).encryptedData;

    const bare = new Map<BareServerKind, { server: BareServer; ciphertexts: string[] }>();
    for (const kind of BARE_KINDS) {
      const server = await startBareServer(kind);
      bareServers.push(server);
      const encrypted = await post(server.url, '/api/v1/encrypt', '', { userId: server.userId, data: plaintexts });
      bare.set(kind, { server, ciphertexts: ((await encrypted.json()) as { encryptedData: string[] }).encryptedData });
    }

    /**
     * A short warm-up, then the requests it left in flight are let finish (its client hung up on
     * them, the server still serves them), so the measured run starts clean.
     */
    const warmUp = async (url: string, token: string, workload: Workload) => {
      await load({ ...workload, url, token, seconds: WARM_UP_SECONDS });
      await settle(url);
    };
    const measureBare = async (server: BareServer, workload: Workload): Promise<MeasuredBare> => {
      await warmUp(server.url, '', workload);
      const before = processCpuSeconds(server.pid);
      const result = await load({ ...workload, url: server.url, token: '', seconds: SECONDS });
      const after = processCpuSeconds(server.pid);
      return { ...result, cpuMsPerRequest: cpuMsPerRequest(before, after, result.requests) };
    };
    const measure = async (workload: Workload): Promise<Measured> => {
      const token = tokenFor(); // its own caller, so its own rate-limit count
      await warmUp(service.url, token, workload);
      const before = { kmsCalls: service.kmsCalls, cpuSeconds: service.cpuSeconds, redisFallbacks: await service.redisFallbacks() };
      // During the 1,000-connection runs the kubelet's probes are played too, and their latencies reported.
      const prober = workload.connections >= MANY_CONNECTIONS ? pollProbes(service.url) : undefined;
      const result = await load({ ...workload, url: service.url, token, seconds: SECONDS });
      const probes = await prober?.stop();
      const cpuSeconds = service.cpuSeconds;
      return {
        ...result,
        ...(probes ? { probes } : {}),
        cpuMsPerRequest: cpuMsPerRequest(before.cpuSeconds, cpuSeconds, result.requests),
        redisFallbacks: (await service.redisFallbacks()) - before.redisFallbacks,
        kmsCalls: service.kmsCalls - before.kmsCalls,
      };
    };

    for (const operation of ['encrypt', 'decrypt'] as const) {
      // 10 items last, so that the 1,000-connection run follows its 50-connection reference directly.
      const runs = [...BATCH_SIZES.filter((size) => size !== TEN_ITEMS), TEN_ITEMS].map((items) => ({ items, connections: CONNECTIONS }));
      runs.push({ items: TEN_ITEMS, connections: MANY_CONNECTIONS });
      for (const { items, connections } of runs) {
        const name = `${operation} ${items} @${connections}`;
        if (!selected(name)) continue;
        log(`${name}: ceiling...`);
        const ceiling = await references.run<CeilingResult>({ kind: 'ceiling', operation, items, seconds: CEILING_SECONDS });
        // A decrypt answer must be exactly the plaintexts: any other body counts as an error.
        const expectBody = operation === 'decrypt' ? JSON.stringify({ decryptedData: plaintexts.slice(0, items) }) : undefined;
        const workload = (data: string[], owner: string): Workload => ({
          path: `/api/v1/${operation}`,
          connections,
          expectBody,
          body: { userId: owner, data: data.slice(0, items) },
        });
        const bareResults: Partial<Record<BareServerKind, MeasuredBare & { itemsPerSecond: number }>> = {};
        for (const [kind, { server, ciphertexts: own }] of bare) {
          log(`${name}: bare ${kind}...`);
          const measured = await measureBare(server, workload(operation === 'encrypt' ? plaintexts : own, server.userId));
          bareResults[kind] = { ...measured, itemsPerSecond: measured.requestsPerSecond * items };
        }
        log(`${name}: service...`);
        const { kmsCalls, probes, ...result } = await measure(workload(operation === 'encrypt' ? plaintexts : ciphertexts, userId));
        scenarios.push({
          name,
          operation,
          items,
          connections,
          service: { ...result, itemsPerSecond: result.requestsPerSecond * items },
          ceiling,
          ...(bareResults.express ? { bareExpress: bareResults.express } : {}),
          ...(bareResults.fastify ? { bareFastify: bareResults.fastify } : {}),
          ...(operation === 'decrypt' ? { kmsCallsPerRequest: kmsCalls / Math.max(1, result.requests) } : {}),
          ...(probes ? { probes } : {}),
        });
      }
    }

    if (selected('keys')) {
      log('keys: RSA key generation on all cores...');
      const keygen = await references.run<KeygenResult>({ kind: 'keygen', bits: 2048, seconds: KEYGEN_SECONDS });
      let nextUser = randomUserIdBase();
      const newUser = () => ({ userId: (nextUser++).toString() });
      log('keys: POST /keys for new users...');
      const keys = await load({
        url: service.url,
        path: '/api/v1/keys',
        token: tokenFor(),
        connections: KEY_CONNECTIONS,
        seconds: SECONDS,
        body: newUser,
      });
      results.keys = { keygen, service: keys, connections: KEY_CONNECTIONS };

      log('keys: encrypt p99 with and without POST /keys at a quarter of the key-generation rate...');
      const encrypt = { path: '/api/v1/encrypt', connections: CONNECTIONS, body: { userId, data: plaintexts.slice(0, TARGET_BATCH) } };
      const alone = await measure(encrypt);
      const keysRate = Math.max(1, Math.round(keygen.keysPerSecond / 4));
      const background = load({
        url: service.url,
        path: '/api/v1/keys',
        token: tokenFor(),
        connections: availableParallelism() * 2,
        seconds: SECONDS + 2 * WARM_UP_SECONDS + 1,
        overallRate: keysRate,
        body: newUser,
      });
      await sleep(1000);
      const withKeys = await measure(encrypt);
      const keysDuringEncrypt = await background;
      results.keygenInterference = { keysRate, alone, withKeys, keys: keysDuringEncrypt };
    }

    if (selected('guards')) {
      // Decrypt with the decrypt budget (the default DECRYPT_SUBJECT_BUDGET) and canaries planted,
      // against a second service with the budget off and no canaries; alternated, so drift hits both.
      log('guards: a second service without decrypt budget or canaries...');
      const plain = await ServiceUnderTest.start({ env: { DECRYPT_SUBJECT_BUDGET: '0' } });
      try {
        const plainUser = randomUserIdBase().toString();
        const plainToken = plain.token(`bench-${runId}-plain`);
        await post(plain.url, '/api/v1/keys', plainToken, { userId: plainUser });
        const plainEncrypted = await post(plain.url, '/api/v1/encrypt', plainToken, {
          userId: plainUser,
          data: plaintexts.slice(0, TEN_ITEMS),
        });
        const plainCiphertexts = ((await plainEncrypted.json()) as { encryptedData: string[] }).encryptedData;
        const planted = await post(service.url, '/api/v1/canaries', tokenFor(), {
          userId,
          count: GUARD_CANARIES,
          label: 'bench: guards scenario',
        });
        if (!planted.ok) throw new Error(`POST /canaries answered ${planted.status}: ${await planted.text()}`);
        await sleep(1000); // the registry also refreshes on its own schedule; the planting replica knows at once
        const expectBody = JSON.stringify({ decryptedData: plaintexts.slice(0, TEN_ITEMS) });
        const decrypt = (data: string[], owner: string): Workload => ({
          path: '/api/v1/decrypt',
          connections: CONNECTIONS,
          expectBody,
          body: { userId: owner, data: data.slice(0, TEN_ITEMS) },
        });
        const runs: GuardsRun[] = [];
        for (let round = 0; round < 2; round++) {
          log(`guards: round ${round + 1} of 2, without...`);
          const token = plain.token(`bench-${runId}-plain-${round}`);
          await warmUp(plain.url, token, decrypt(plainCiphertexts, plainUser));
          const cpuBefore = plain.cpuSeconds;
          const without = await load({ ...decrypt(plainCiphertexts, plainUser), url: plain.url, token, seconds: SECONDS });
          const withoutCpu = cpuMsPerRequest(cpuBefore, plain.cpuSeconds, without.requests);
          log(`guards: round ${round + 1} of 2, with budget and ${GUARD_CANARIES} canaries...`);
          const guarded = await measure(decrypt(ciphertexts, userId));
          runs.push({ without: { ...without, cpuMsPerRequest: withoutCpu }, with: guarded });
        }
        results.guards = { canaries: GUARD_CANARIES, items: TEN_ITEMS, connections: CONNECTIONS, runs };
      } finally {
        await plain.stop();
      }
    }

    if (selected('indexes')) {
      // Blind indexes at batches of TARGET_BATCH, beside encrypt of the same batch size.
      const admin = tokenFor();
      const defined = await post(service.url, '/api/v1/indexes', admin, {
        name: `bench_${runId}`,
        normalisation: 'text',
        outputBits: 16,
        expectedCardinality: 1_000_000,
      });
      if (!defined.ok) throw new Error(`POST /indexes answered ${defined.status}: ${await defined.text()}`);
      log(`indexes: ${TARGET_BATCH} values per request...`);
      const compute = await measure({
        path: `/api/v1/indexes/bench_${runId}`,
        connections: CONNECTIONS,
        body: { data: plaintexts.slice(0, TARGET_BATCH) },
      });
      log(`indexes: encrypt of ${TARGET_BATCH} items beside it...`);
      const encrypt = await measure({
        path: '/api/v1/encrypt',
        connections: CONNECTIONS,
        body: { userId, data: plaintexts.slice(0, TARGET_BATCH) },
      });
      results.indexes = { items: TARGET_BATCH, connections: CONNECTIONS, compute, encrypt };
    }

    if (selected('peer')) {
      results.peer = [];
      for (const suite of Object.keys(PEER_SUITES) as PeerSuite[]) {
        log(`peer: AWS Encryption SDK, ${suite}...`);
        results.peer.push(await references.run<PeerResult>({ kind: 'peer', suite, seconds: PEER_SECONDS }));
      }
    }
    const warnings = service.log.trim();
    if (warnings) log(`the service logged:\n${warnings.split('\n').slice(-20).join('\n')}`);
  } finally {
    log('stopping the service...');
    await service.stop();
    references.stop();
    for (const server of bareServers) server.stop();
  }

  const complete: BenchResults = {
    date: startedAt.toISOString(),
    commit: describeCommit(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      loadAverageAtStart: loadAtStart[0],
      loadAverageAtEnd: loadavg()[0],
    },
    settings: {
      secondsPerRun: SECONDS,
      warmUpSeconds: WARM_UP_SECONDS,
      ceilingSeconds: CEILING_SECONDS,
      peerSeconds: PEER_SECONDS,
      itemBytes: ITEM_BYTES,
    },
    scenarios,
    peer: results.peer ?? [],
    keys: results.keys,
    keygenInterference: results.keygenInterference,
    guards: results.guards,
    indexes: results.indexes,
    startup,
    targets: [],
  };
  complete.targets = judgeTargets(complete);
  printReport(complete);
  if (ONLY) log('BENCH_ONLY is set: partial run, results not saved');
  else writeResults(complete);
  if (profiling)
    log(
      `CPU profile(s): ${readdirSync(PROFILE_DIR)
        .map((file) => join(PROFILE_DIR, file))
        .join(', ')}`,
    );
}

function cpuMsPerRequest(before: number | undefined, after: number | undefined, requests: number): number | undefined {
  return before === undefined || after === undefined ? undefined : (1000 * (after - before)) / Math.max(1, requests);
}

function isInstalled(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** The commit measured, marked when the working tree had uncommitted changes. */
function describeCommit(): string {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown';
  return git('status', '--porcelain', '--untracked-files=no') ? `${commit} (with uncommitted changes)` : commit;
}

/** Waits until the server answers a liveness probe promptly: nothing left over is queued ahead. */
async function settle(url: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const start = Date.now();
    await fetch(`${url}/health/live`);
    if (Date.now() - start < 50) return;
    await sleep(100);
  }
}

function post(url: string, path: string, token: string, body: unknown): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
