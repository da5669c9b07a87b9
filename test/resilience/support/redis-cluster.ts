import { ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@keyv/redis';
import { requireOnPath } from '../../support/missing-tool';
import { freePort, spawnLogged, stopProcess, waitFor } from '../../support/processes';

/**
 * The user the service connects as, with the access string docs/operations.md recommends for
 * ElastiCache: only the service's own keys (`pii-api:`, so that a key outside them fails the
 * test) and no dangerous command.
 */
export const APP_USER = 'pii-api';
const APP_PASSWORD = 'app-Passw0rd';
/** The default user's password, for the test's own look inside and for redis-cli. */
const ADMIN_PASSWORD = 'admin-Passw0rd';

/** One primary: its port and its directory (nodes.conf: a restart rejoins with the same slots, empty of data). */
export class ClusterNode {
  child?: ChildProcess;

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const { child, output } = spawnLogged(
      'redis-server',
      [
        '--port', String(this.port),
        '--bind', '127.0.0.1',
        '--dir', this.dir,
        '--cluster-enabled', 'yes',
        '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', '1000',
        '--save', '',
        '--appendonly', 'no',
        '--requirepass', ADMIN_PASSWORD,
        '--masterauth', ADMIN_PASSWORD,
        '--user', APP_USER, 'on', `>${APP_PASSWORD}`, '~pii-api:*', '+@all', '-@dangerous',
      ], // prettier-ignore
    );
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (error) => reject(new Error(`redis-server could not be started: ${error.message}`))),
    );
    spawnError.catch(() => undefined);
    this.child = child;
    await Promise.race([
      spawnError,
      waitFor(`redis-server on ${this.port}`, async () => {
        if (child.exitCode !== null) throw new Error(`exited: ${output()}`);
        if ((await this.command('PING')) !== 'PONG') throw new Error('no PONG');
      }),
    ]);
  }

  /** Dies at once, like a crashed server (its data is gone: no persistence). */
  async kill(): Promise<void> {
    if (this.child) await stopProcess(this.child, 'SIGKILL');
  }

  /** One command to this node as the default user, through a short-lived client. */
  async command(...args: string[]): Promise<unknown> {
    const client = createClient({
      socket: { host: '127.0.0.1', port: this.port, reconnectStrategy: false, connectTimeout: 2000 },
      password: ADMIN_PASSWORD,
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await client.sendCommand(args);
    } finally {
      client.destroy();
    }
  }

  /** The keys this node holds that match `pattern`. */
  async keys(pattern: string): Promise<string[]> {
    return (await this.command('KEYS', pattern)) as string[];
  }
}

/**
 * A private Redis Cluster of `primaries` redis-server processes (no replicas) on free loopback
 * ports, joined with `redis-cli --cluster create`; slots split evenly. The service connects as
 * the ACL user APP_USER, allowed only keys starting `pii-api:`. The machine's own Redis is never
 * touched. Without redis-server or redis-cli on PATH it throws MissingTool: `npm test` skips the
 * tests that need it and names it in its closing summary (a failure with CI=true).
 */
export class RedisCluster {
  private constructor(
    readonly nodes: ClusterNode[],
    private readonly root: string,
  ) {}

  static async start(primaries = 3): Promise<RedisCluster> {
    requireOnPath('redis-server');
    requireOnPath('redis-cli');
    const root = mkdtempSync(join(tmpdir(), 'pii-api-redis-cluster-'));
    const nodes: ClusterNode[] = [];
    for (let i = 0; i < primaries; i++) nodes.push(new ClusterNode(await freePort(), mkdtempSync(join(root, 'node-'))));
    const cluster = new RedisCluster(nodes, root);
    try {
      await Promise.all(nodes.map((node) => node.start()));
      await promisify(execFile)(
        'redis-cli',
        [
          '-a',
          ADMIN_PASSWORD,
          '--no-auth-warning',
          '--cluster',
          'create',
          ...nodes.map((node) => node.address),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { timeout: 30_000 },
      );
      await cluster.waitUntilOk();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** REDIS_URL for the service: every node a seed, as the ACL user. */
  get url(): string {
    return this.nodes.map((node) => `redis://${APP_USER}:${APP_PASSWORD}@${node.address}`).join(',');
  }

  /** Every live node says cluster_state:ok and agrees that all slots are served. */
  async waitUntilOk(nodes = this.nodes): Promise<void> {
    await waitFor(
      'Redis cluster state ok',
      async () => {
        for (const node of nodes) {
          const info = String(await node.command('CLUSTER', 'INFO'));
          if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) throw new Error(`${node.address}: ${info}`);
        }
      },
      30_000,
      200,
    );
  }

  /** The primary serving `key`'s hash slot. */
  async ownerOf(key: string): Promise<ClusterNode> {
    const slot = Number(await this.nodes[0].command('CLUSTER', 'KEYSLOT', key));
    const ranges = (await this.nodes[0].command('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]]]>;
    const range = ranges.find(([from, to]) => from <= slot && slot <= to);
    const owner = this.nodes.find((node) => node.port === Number(range?.[2][1]));
    if (!owner) throw new Error(`no primary serves slot ${slot}`);
    return owner;
  }

  /** One command on the primary holding `key`. */
  async commandFor(key: string, ...args: string[]): Promise<unknown> {
    return (await this.ownerOf(key)).command(...args);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    rmSync(this.root, { recursive: true, force: true });
  }
}
