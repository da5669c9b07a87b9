import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { load, LoadResult, LoadSpec } from './load';
import { pollProbes, ProbeResults } from './probes';
import { CeilingResult, KeygenResult, PEER_SUITES, PeerResult, PeerSuite } from './references';
import { BareServer, BareServerKind, References, startBareServer } from './references-client';
import { KeyAlgorithm, RSA_OAEP_256, X_WING } from '../src/envelope/ciphertexts';
import { BenchResults, GuardsRun, judgeTargets, printReport, ScenarioResult, writeResults } from './report';
import { processCpuSeconds, ROOT, ServiceUnderTest } from './service';
import { measureStartup, renderStartup, StartupResult } from './startup';
import { BATCH_SIZES, CONNECTIONS, ITEM_BYTES, makeItems, MANY_CONNECTIONS, randomUserIdBase, TARGET_BATCH, TEN_ITEMS } from './workload';

/**
 * `npm run bench`: the service in production configuration under autocannon, against the
 * in-process ceiling and the AWS Encryption SDK, measured in one run (see docs/performance.md).
 * Encrypt and decrypt run twice, side by side: on the main service, whose people's keys are
 * X-Wing (KEY_ALGORITHM's default), and on a second one with KEY_ALGORITHM=rsa-oaep.
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
  .concat(['keys', 'guards', 'indexes', 'peer', 'cold']);
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
  log('starting a second service with KEY_ALGORITHM=rsa-oaep...');
  const rsa = await ServiceUnderTest.start({ env: { KEY_ALGORITHM: 'rsa-oaep' } });
  const scenarios: ScenarioResult[] = [];
  const results: Partial<BenchResults> = {};
  const bareServers: BareServer[] = [];
  try {
    const runId = Date.now().toString(36);
    let callers = 0;
    /** A token of `target`'s own issuer, for a caller of its own (so its own rate-limit count). */
    const tokenFor = (target: ServiceUnderTest = service) => target.token(`bench-${runId}-${++callers}`);
    const userId = randomUserIdBase().toString();
    const plaintexts = makeItems(Math.max(...BATCH_SIZES));
    /** A person with a key on `target`, and the plaintexts encrypted for them in one batch. */
    const person = async (target: ServiceUnderTest, owner: string) => {
      const created = await post(target.url, '/api/v1/keys', tokenFor(target), { userId: owner });
      if (!created.ok) throw new Error(`POST /keys answered ${created.status}: ${await created.text()}`);
      const encrypted = await post(target.url, '/api/v1/encrypt', tokenFor(target), { userId: owner, data: plaintexts });
      if (!encrypted.ok) throw new Error(`POST /encrypt answered ${encrypted.status}: ${await encrypted.text()}`);
      return ((await encrypted.json()) as { encryptedData: string[] }).encryptedData;
    };
    const ciphertexts = await person(service, userId);
    const rsaUserId = randomUserIdBase().toString();
    const rsaCiphertexts = await person(rsa, rsaUserId);

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
    const measure = async (workload: Workload, target: ServiceUnderTest = service): Promise<Measured> => {
      const token = tokenFor(target); // its own caller, so its own rate-limit count
      await warmUp(target.url, token, workload);
      const before = { kmsCalls: target.kmsCalls, cpuSeconds: target.cpuSeconds, redisFallbacks: await target.redisFallbacks() };
      // During the 1,000-connection runs the kubelet's probes are played too, and their latencies reported.
      const prober = workload.connections >= MANY_CONNECTIONS ? pollProbes(target.url) : undefined;
      const result = await load({ ...workload, url: target.url, token, seconds: SECONDS });
      const probes = await prober?.stop();
      const cpuSeconds = target.cpuSeconds;
      return {
        ...result,
        ...(probes ? { probes } : {}),
        cpuMsPerRequest: cpuMsPerRequest(before.cpuSeconds, cpuSeconds, result.requests),
        redisFallbacks: (await target.redisFallbacks()) - before.redisFallbacks,
        kmsCalls: target.kmsCalls - before.kmsCalls,
      };
    };

    for (const operation of ['encrypt', 'decrypt'] as const) {
      // 10 items last, so that the 1,000-connection run follows its 50-connection reference directly.
      const runs = [...BATCH_SIZES.filter((size) => size !== TEN_ITEMS), TEN_ITEMS].map((items) => ({ items, connections: CONNECTIONS }));
      runs.push({ items: TEN_ITEMS, connections: MANY_CONNECTIONS });
      for (const { items, connections } of runs) {
        const name = `${operation} ${items} @${connections}`;
        if (!selected(name)) continue;
        // A decrypt answer must be exactly the plaintexts: any other body counts as an error.
        const expectBody = operation === 'decrypt' ? JSON.stringify({ decryptedData: plaintexts.slice(0, items) }) : undefined;
        const workload = (data: string[], owner: string): Workload => ({
          path: `/api/v1/${operation}`,
          connections,
          expectBody,
          body: { userId: owner, data: data.slice(0, items) },
        });
        for (const { algorithm, target, owner, own } of [
          { algorithm: X_WING as KeyAlgorithm, target: service, owner: userId, own: ciphertexts },
          { algorithm: RSA_OAEP_256 as KeyAlgorithm, target: rsa, owner: rsaUserId, own: rsaCiphertexts },
        ]) {
          log(`${name}, ${algorithm}: ceiling...`);
          const ceiling = await references.run<CeilingResult>({ kind: 'ceiling', algorithm, operation, items, seconds: CEILING_SECONDS });
          // The bare servers hold an X-Wing key (bench/bare-envelope.ts): they are the main service's reference.
          const bareResults: Partial<Record<BareServerKind, MeasuredBare & { itemsPerSecond: number }>> = {};
          if (algorithm === X_WING) {
            for (const [kind, { server, ciphertexts: bareOwn }] of bare) {
              log(`${name}: bare ${kind}...`);
              const measured = await measureBare(server, workload(operation === 'encrypt' ? plaintexts : bareOwn, server.userId));
              bareResults[kind] = { ...measured, itemsPerSecond: measured.requestsPerSecond * items };
            }
          }
          log(`${name}, ${algorithm}: service...`);
          const { kmsCalls, probes, ...result } = await measure(workload(operation === 'encrypt' ? plaintexts : own, owner), target);
          scenarios.push({
            name,
            algorithm,
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
    }

    if (selected('keys')) {
      let nextUser = randomUserIdBase();
      const newUser = () => ({ userId: (nextUser++).toString() });
      const createKeys = (target: ServiceUnderTest) =>
        load({
          url: target.url,
          path: '/api/v1/keys',
          token: tokenFor(target),
          connections: KEY_CONNECTIONS,
          seconds: SECONDS,
          body: newUser,
        });
      results.keys = [];
      for (const { algorithm, target, setting } of [
        { algorithm: X_WING as KeyAlgorithm, target: service, setting: 'x-wing' },
        { algorithm: RSA_OAEP_256 as KeyAlgorithm, target: rsa, setting: 'rsa-oaep' },
      ]) {
        log(`keys, ${algorithm}: key generation rate of the machine...`);
        const keygen = await references.run<KeygenResult>({ kind: 'keygen', algorithm, bits: 2048, seconds: KEYGEN_SECONDS });
        log(`keys, ${algorithm}: POST /keys for new users, KMS provider...`);
        const kms = await createKeys(target);
        // The local key provider (an AES master key in a file) is refused in production: this one service runs as development.
        log(`keys, ${algorithm}: POST /keys for new users, local provider...`);
        const local = await ServiceUnderTest.start({
          env: { NODE_ENV: 'development', KEY_PROVIDER: 'local', AUTH_MODE: 'cognito', KEY_ALGORITHM: setting },
        });
        try {
          results.keys.push({ algorithm, keygen, service: kms, local: await createKeys(local), connections: KEY_CONNECTIONS });
        } finally {
          await local.stop();
        }
      }

      // RSA key pairs are made on libuv's pool; what that costs encrypt is measured on the RSA service.
      const rsaKeygen = results.keys.find((keys) => keys.algorithm === RSA_OAEP_256)!.keygen;
      log('keys: encrypt p99 with and without POST /keys (RSA) at a quarter of the key-generation rate...');
      const encrypt = {
        path: '/api/v1/encrypt',
        connections: CONNECTIONS,
        body: { userId: rsaUserId, data: plaintexts.slice(0, TARGET_BATCH) },
      };
      const alone = await measure(encrypt, rsa);
      const keysRate = Math.max(1, Math.round(rsaKeygen.keysPerSecond / 4));
      const background = load({
        url: rsa.url,
        path: '/api/v1/keys',
        token: tokenFor(rsa),
        connections: availableParallelism() * 2,
        seconds: SECONDS + 2 * WARM_UP_SECONDS + 1,
        overallRate: keysRate,
        body: newUser,
      });
      await sleep(1000);
      const withKeys = await measure(encrypt, rsa);
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
    if (selected('cold')) {
      // A replica just deployed: a new process on the same database, Redis and KMS, its in-process caches empty,
      // loaded from its first ready answer with no warm-up.
      log(`cold: decrypt ${TEN_ITEMS} @${MANY_CONNECTIONS} from a cold start...`);
      await service.restart();
      const kmsBefore = service.kmsCalls;
      const result = await load({
        url: service.url,
        token: tokenFor(),
        seconds: SECONDS,
        path: '/api/v1/decrypt',
        connections: MANY_CONNECTIONS,
        expectBody: JSON.stringify({ decryptedData: plaintexts.slice(0, TEN_ITEMS) }),
        body: { userId, data: ciphertexts.slice(0, TEN_ITEMS) },
      });
      results.coldStart = {
        items: TEN_ITEMS,
        connections: MANY_CONNECTIONS,
        readyMs: service.readyMs,
        kmsCalls: service.kmsCalls - kmsBefore,
        service: result,
      };
    }
    const warnings = service.log.trim();
    if (warnings) log(`the service logged:\n${warnings.split('\n').slice(-20).join('\n')}`);
  } finally {
    log('stopping the services...');
    await Promise.all([service.stop(), rsa.stop()]);
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
    coldStart: results.coldStart,
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
