import { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PERMISSIONS } from '../src/common/permissions';
import { processMemoryMiB, ROOT } from '../bench/service';
import { KmsFaultProxy } from '../test/support/kms-fault-proxy';
import { Moto, MOTO_REGION } from '../test/support/moto';
import { RedisServer } from '../test/resilience/support/redis-server';
import { ReadinessWatch, readyPorts, terminate } from '../test/resilience/support/readiness-watch';
import { TestDatabase } from '../test/support/postgres';
import { freePort, spawnLogged, stopProcess, waitUntilReady } from '../test/support/processes';
import { TestIssuer } from '../test/support/test-issuer';
import { TcpProxy } from './tcp-proxy';

/** Every KMS operation the service makes: a KMS fault holds or fails them all. */
export const KMS_OPERATIONS = ['Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'DescribeKey'];

/** How often the front proxy's health check polls /health/ready (a load balancer's interval, shortened). */
export const READINESS_INTERVAL_MS = 250;
/** SHUTDOWN_DELAY_MS of the services: several health-check intervals, as the chart's delay covers the ALB's. */
export const SHUTDOWN_DELAY_MS = 3000;
/** The services' SHUTDOWN_GRACE_MS (the default). */
const SHUTDOWN_GRACE_MS = 10_000;

/** One service process (`node dist/main`, NODE_ENV=production) on a fixed port, restartable. */
export class ServiceProcess {
  child?: ChildProcess;
  output: () => string = () => '';
  restarts = 0;
  constructor(
    readonly name: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    private readonly cwd: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const { child, output } = spawnLogged(process.execPath, [join(ROOT, 'dist/main.js')], { cwd: this.cwd, env: this.env });
    this.child = child;
    this.output = output;
    await waitUntilReady(this.name, child, output, this.url, { intervalMs: 50 });
  }

  /** SIGTERM, wait for the exit (SHUTDOWN_DELAY_MS, then up to SHUTDOWN_GRACE_MS for requests in flight), then start again. */
  async restart(): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; forcedClose: boolean }> {
    const exit = await terminate(this.child!, SHUTDOWN_DELAY_MS + SHUTDOWN_GRACE_MS + 5000);
    // The drain's warning when requests were still in flight after SHUTDOWN_GRACE_MS (their connections destroyed).
    const forcedClose = this.output().includes('still in flight after SHUTDOWN_GRACE_MS');
    this.restarts++;
    await this.start();
    return { ...exit, forcedClose };
  }

  get memoryMiB() {
    return processMemoryMiB(this.child?.pid);
  }

  async stop(): Promise<void> {
    if (this.child) await stopProcess(this.child);
  }
}

/**
 * Two service processes in production configuration sharing one fresh PostgreSQL database (reached
 * through a TCP proxy that can cut it), a Redis of their own, and KMS on moto behind the fault
 * proxy, with tokens from a test issuer; callers reach them through a round-robin proxy.
 */
export class Cluster {
  private constructor(
    readonly database: TestDatabase,
    readonly moto: Moto,
    readonly kms: KmsFaultProxy,
    readonly issuer: TestIssuer,
    /** Redis of the soak's own (the machine's is shared): killable, restartable empty and freezable. */
    readonly redis: RedisServer,
    readonly postgresProxy: TcpProxy,
    readonly services: ServiceProcess[],
    readonly front: TcpProxy,
    /** The front proxy's health check: new connections go to the services that answer ready. */
    readonly readiness: ReadinessWatch,
    private readonly dir: string,
  ) {}

  static async start(): Promise<Cluster> {
    const database = await TestDatabase.create();
    const moto = await Moto.start();
    const kms = await new KmsFaultProxy(moto.endpoint).start();
    const issuer = await new TestIssuer().start();
    const redis = await RedisServer.start();
    const pgUrl = new URL(database.url);
    const postgresProxy = await new TcpProxy(() => [Number(pgUrl.port || 5432)]).start();
    const proxiedUrl = new URL(database.url);
    proxiedUrl.port = String(postgresProxy.port);
    const dir = mkdtempSync(join(tmpdir(), 'pii-soak-'));
    mkdirSync(join(dir, 'shred-log'));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      AWS_ACCESS_KEY_ID: 'soak',
      AWS_SECRET_ACCESS_KEY: 'soak',
      NODE_ENV: 'production',
      // Loopback, no TLS between the test and the process.
      ALLOW_PLAIN_HTTP: 'true',
      LOG_LEVEL: 'warn',
      DATA_DIR: dir,
      SHRED_LOG_DIR: join(dir, 'shred-log'),
      DATABASE_URL: proxiedUrl.toString(),
      REDIS_URL: redis.url,
      KEY_PROVIDER: 'kms',
      KMS_KEY_ID: await moto.createKmsKey(),
      KMS_ENDPOINT: kms.endpoint,
      AWS_REGION: MOTO_REGION,
      ...issuer.env(),
      // The soak is one caller pool at a fixed rate: per-caller limits would only refuse it, and its
      // ~70 deletions a minute would trip the mass-destruction breaker (100 an hour) within two.
      RATE_LIMIT_PER_MINUTE: '1000000',
      DECRYPT_SUBJECT_BUDGET: '0',
      SHRED_MAX_PER_HOUR: '1000000',
      // After SIGTERM: serve (not ready, Connection: close) while the front proxy's health check moves away.
      SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
    };
    const services: ServiceProcess[] = [];
    for (const name of ['service-a', 'service-b']) {
      const port = await freePort();
      const cwd = join(dir, name);
      mkdirSync(cwd);
      services.push(new ServiceProcess(name, port, { ...env, PORT: String(port) }, cwd));
    }
    // One after the other: the first runs the migrations.
    for (const service of services) await service.start();
    const readiness = new ReadinessWatch(() => services.map((s) => s.url), READINESS_INTERVAL_MS).start();
    const front = await new TcpProxy(() => readyPorts(readiness, services)).start();
    return new Cluster(database, moto, kms, issuer, redis, postgresProxy, services, front, readiness, dir);
  }

  get url(): string {
    return `http://127.0.0.1:${this.front.port}`;
  }

  token(sub: string, lifetime: number | `${number}h` = '3h'): string {
    const scope = PERMISSIONS.map((permission) => `pii-api/${permission}`).join(' ');
    return this.issuer.token({ sub, scope }, { expiresIn: lifetime });
  }

  async stop(): Promise<void> {
    await this.readiness.stop();
    await Promise.allSettled(this.services.map((s) => s.stop()));
    await Promise.allSettled([this.front.stop(), this.kms.stop(), this.moto.stop(), this.issuer.stop(), this.redis.stop()]);
    await this.postgresProxy.stop();
    await this.database.drop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
