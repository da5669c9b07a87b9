import { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PERMISSIONS } from '../src/common/permissions';
import { KmsFaultProxy } from '../test/support/kms-fault-proxy';
import { Moto, MOTO_REGION } from '../test/support/moto';
import { TestDatabase } from '../test/support/postgres';
import { freePort, spawnLogged, stopProcess, waitUntilReady } from '../test/support/processes';
import { TestIssuer } from '../test/support/test-issuer';

export const ROOT = resolve(__dirname, '../../..');
const MACHINE_REDIS_URL = 'redis://127.0.0.1:6379';
/** A bench token outlives any run. */
const TOKEN_LIFETIME = '2h';

export interface ServiceOptions {
  /** Directory for `node --cpu-prof` output; no profiling when unset. */
  cpuProfileDir?: string;
  /** The node binary that runs the service; the bench's own by default. */
  node?: string;
  /** More environment for the service (e.g. OTEL_* for bench/tracing.ts). */
  env?: Record<string, string>;
}

/**
 * The service as production runs it (`node dist/main`, NODE_ENV=production) on real parts: a
 * fresh database on the machine's PostgreSQL, the machine's Redis, KMS on a private moto_server
 * behind a counting proxy, and Cognito-shaped tokens from an issuer of the bench's own.
 */
export class ServiceUnderTest {
  private constructor(
    readonly url: string,
    private child: ChildProcess,
    private output: () => string,
    private readonly parts: { database: TestDatabase; moto: Moto; kms: KmsFaultProxy; issuer: TestIssuer; cwd: string },
    /** Starts the process again on the same database, KMS, port and settings. */
    private readonly spawn: () => { child: ChildProcess; output: () => string },
  ) {}

  /** Milliseconds from spawning the process to its first 200 on /health/ready (polled every 10 ms). */
  readyMs = NaN;

  static async start(options: ServiceOptions = {}): Promise<ServiceUnderTest> {
    const database = await TestDatabase.create();
    const moto = await Moto.start();
    const kms = await new KmsFaultProxy(moto.endpoint).start();
    const issuer = await new TestIssuer().start();
    const port = await freePort();
    // A directory of its own: no developer's .env is read, and profiles land in one place.
    const cwd = mkdtempSync(join(tmpdir(), 'pii-bench-'));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      NODE_ENV: 'production',
      // Loopback, no TLS between the load generator and the process.
      ALLOW_PLAIN_HTTP: 'true',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATABASE_URL: database.url,
      REDIS_URL: MACHINE_REDIS_URL,
      KEY_PROVIDER: 'kms',
      KMS_KEY_ID: await moto.createKmsKey(),
      KMS_ENDPOINT: kms.endpoint,
      AWS_REGION: MOTO_REGION,
      ...issuer.env(),
      RATE_LIMIT_PER_MINUTE: '1000000',
      ...options.env,
    };
    const profiling = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
    const entry = process.env.BENCH_SERVICE_ENTRY ?? join(ROOT, 'dist/main.js');
    const spawn = () => spawnLogged(options.node ?? process.execPath, [...profiling, entry], { cwd, env });
    const spawnedAt = performance.now();
    const { child, output } = spawn();
    const service = new ServiceUnderTest(`http://127.0.0.1:${port}`, child, output, { database, moto, kms, issuer, cwd }, spawn);
    await service.ready(spawnedAt);
    return service;
  }

  private async ready(spawnedAt: number): Promise<void> {
    try {
      await waitUntilReady('the service', this.child, this.output, this.url, { intervalMs: 10 });
      this.readyMs = performance.now() - spawnedAt;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /**
   * Stops the process (SIGTERM, drained) and starts a new one on the same database and KMS: a
   * replica after a deploy, its in-process caches empty. Resolves at its first 200 on /health/ready.
   */
  async restart(): Promise<void> {
    await stopProcess(this.child);
    const spawnedAt = performance.now();
    ({ child: this.child, output: this.output } = this.spawn());
    await this.ready(spawnedAt);
  }

  /** An access token with every permission, for its own caller (each caller has its own rate limit). */
  token(caller: string): string {
    const scope = PERMISSIONS.map((permission) => `pii-api/${permission}`).join(' ');
    return this.parts.issuer.token({ sub: caller, scope }, { expiresIn: TOKEN_LIFETIME });
  }

  /** The service's own PostgreSQL database (bench/scale.ts fills it). */
  get databaseUrl(): string {
    return this.parts.database.url;
  }

  /** KMS requests the service has made so far. */
  get kmsCalls(): number {
    return this.parts.kms.calls.length;
  }

  /**
   * CPU seconds the service process has used so far (all its threads), from /proc on Linux;
   * undefined elsewhere. Per request it is far less disturbed by other load on the machine than
   * throughput is.
   */
  get cpuSeconds(): number | undefined {
    return processCpuSeconds(this.child.pid);
  }

  /**
   * Public-key cache lookups that found Redis unavailable (timed out, or its circuit breaker open)
   * and fell back to the database, from the service's own /metrics.
   */
  async redisFallbacks(): Promise<number> {
    const metrics = await (await fetch(`${this.url}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('pii_api_cache_lookups_total{') && l.includes('result="unavailable"'));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  }

  /** Resident memory of the service process now (`rss`) and at its highest so far (`peak`), in MiB; Linux only. */
  get memoryMiB(): { rss: number; peak: number } | undefined {
    return processMemoryMiB(this.child.pid);
  }

  /** What the service wrote (LOG_LEVEL=warn: warnings and errors only). */
  get log(): string {
    return this.output();
  }

  async stop(): Promise<void> {
    const { database, moto, kms, issuer, cwd } = this.parts;
    await stopProcess(this.child);
    await Promise.allSettled([kms.stop(), moto.stop(), issuer.stop(), database.drop()]);
    rmSync(cwd, { recursive: true, force: true });
  }
}

/**
 * CPU seconds a process has used so far (all its threads), from /proc on Linux; undefined
 * elsewhere. Per request it is far less disturbed by other load on the machine than throughput.
 */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime (fields 14 and 15 of proc(5)), in clock ticks of 1/100 s on Linux.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM of a process from /proc (proc(5)), in MiB; undefined elsewhere. */
export function processMemoryMiB(pid: number | undefined): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)![1]);
    return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}
