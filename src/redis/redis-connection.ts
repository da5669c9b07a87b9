import { Logger } from '@nestjs/common';
import { createClient, createCluster, RedisClientType, RedisClusterType } from '@keyv/redis';
import { dependencyUnavailable } from '../common/api-error';
import { DependencyPolicy } from '../common/dependency-policy';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';

/** Hung commands a frozen Redis may hold before new ones are refused at once. */
const MAX_QUEUED_COMMANDS = 1000;
const RECONNECT_MAX_DELAY_MS = 2000;
const reconnectDelay = (retries: number) => Math.min(100 * 2 ** retries, RECONNECT_MAX_DELAY_MS) + Math.floor(Math.random() * 100);

/** The client: one node, or a cluster (REDIS_CLUSTER), whose commands go to the primary of their first key's slot. */
export type RedisCommands = RedisClientType | RedisClusterType;

/**
 * The one Redis client of the process (REDIS_URL), shared by the public-key cache, the rate
 * limiter and the token denylist; `null` client when Redis is not configured.
 *
 * Redis is optional at run time: the client connects and reconnects in the background with
 * backoff, commands fail at once while it is disconnected (no offline queue), and `execute`
 * bounds every call by REDIS_TIMEOUT_MS behind a circuit breaker, because node-redis cannot time
 * out a command it has already written to a server that stopped answering.
 *
 * With REDIS_CLUSTER it is a cluster client (ElastiCache Serverless, Redis/Valkey in cluster
 * mode): every command goes to the primary holding its first key's hash slot, so a command or
 * script that names several keys may only name keys of one slot. The keys every request shares
 * (the key epoch, the public-key cache, the token denylist) are named with `sharedKey`, which puts
 * them in one slot there; a caller's rate-limit and budget keys carry their own hash tag and
 * spread over the primaries.
 */
export class RedisConnection {
  private readonly logger = new Logger('Redis');
  private policy?: DependencyPolicy;
  private readonly readyListeners: Array<() => void> = [];
  private readonly watchers = new Map<string, { read: (value: string | null) => void; lost: () => void }>();
  /** The keys of `watch`, in the order their values are delivered. */
  readonly watchedKeys: string[] = [];
  private wasReady = false;
  /** Cluster: the topology has been discovered (cluster 'connect'); nodes unreachable since, by address. */
  private clusterConnected = false;
  private readonly nodesDown = new Set<string>();
  private readonly watchedNodes = new WeakSet<object>();
  private closed = false;

  readonly client: RedisCommands | null;
  /** REDIS_CLUSTER: a cluster client. */
  readonly isCluster: boolean;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    const { redisUrl, redisClusterUrls, redisTimeoutMs } = config.cache;
    this.isCluster = redisClusterUrls !== undefined;
    this.client = redisClusterUrls
      ? this.connectCluster(redisClusterUrls, redisTimeoutMs)
      : redisUrl
        ? this.connect(redisUrl, redisTimeoutMs)
        : null;
    if (redisUrl) this.policy = this.newPolicy();
  }

  get isConfigured(): boolean {
    return this.client !== null;
  }

  /** Connected (cluster: its topology is known), so that a command may succeed; commands fail at once otherwise. */
  get isReady(): boolean {
    if (!this.client) return false;
    return this.isCluster ? this.clusterConnected && this.client.isOpen : (this.client as RedisClientType).isReady;
  }

  /**
   * The name of a key that every replica shares and that is used with the other shared keys in one
   * command or script (the key epoch with a public-key cache entry, the token denylist with the
   * key epoch in a request's round trip): `pii-api:<name>` on a single node — the names of earlier
   * releases, so that a rolling upgrade shares them — and `pii-api:{shared}:<name>` in a cluster,
   * where the hash tag puts them all in one slot.
   */
  sharedKey(name: string): string {
    return this.isCluster ? `pii-api:{shared}:${name}` : `pii-api:${name}`;
  }

  /**
   * The readiness probe, within REDIS_TIMEOUT_MS: PING; in a cluster, PING every primary and read
   * a shared key (refused while the cluster reports itself down), so that one lost primary shows.
   */
  probe(): Promise<void> {
    return this.execute(async (client) => {
      if (!this.isCluster) {
        await (client as RedisClientType).ping();
        return;
      }
      const cluster = client as RedisClusterType;
      if (!cluster.masters.length) throw new Error('Redis cluster topology not discovered yet');
      await Promise.all([
        ...cluster.masters.map(async (primary) => (await cluster.nodeClient(primary)).ping()),
        cluster.exists(this.sharedKey('probe')),
      ]);
    });
  }

  /**
   * Runs `command` against Redis within REDIS_TIMEOUT_MS. Rejects with 503 SYS002 when Redis is
   * absent, down or slow (every caller falls back instead), so nothing else escapes.
   */
  execute<T>(command: (client: RedisCommands) => Promise<T>): Promise<T> {
    const { client, policy } = this;
    if (!client || !policy) return Promise.reject(dependencyUnavailable('Redis'));
    return policy.execute(() => command(client));
  }

  /** Bounds an operation that reaches Redis indirectly (through cache-manager) the same way; without Redis, just runs it. */
  guard<T>(operation: () => Promise<T>): Promise<T> {
    return this.policy ? this.policy.execute(operation) : operation();
  }

  /** Called each time the client (re)connects: state kept elsewhere can be copied back in. */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  /**
   * Asks for the value of `key` on every request's one Redis round trip (the rate limiter's
   * script reads it along): `listener` gets it each time, so in-process state derived from Redis
   * (the public-key cache) can tell at once that another replica changed it. `lost` is called
   * when a round trip failed: the value may have changed unseen.
   */
  watch(key: string, read: (value: string | null) => void, lost: () => void): void {
    if (this.watchers.has(key)) throw new Error(`${key} is watched already`);
    this.watchers.set(key, { read, lost });
    this.watchedKeys.push(key);
  }

  /** Hands the values read for `watchedKeys` (same order) to their watchers. */
  deliverWatched(values: ReadonlyArray<string | null>): void {
    for (let i = 0; i < this.watchedKeys.length; i++) this.watchers.get(this.watchedKeys[i])!.read(values[i] ?? null);
  }

  /** The round trip that would have read the watched keys failed. */
  watchedLost(): void {
    for (const watcher of this.watchers.values()) watcher.lost();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.client?.isOpen) await this.client.close().catch(() => this.client?.destroy());
  }

  private newPolicy(): DependencyPolicy {
    return new DependencyPolicy({
      name: 'redis',
      label: 'Redis',
      attemptTimeoutMs: this.config.cache.redisTimeoutMs,
      breakerResetMs: this.config.circuitBreakerResetMs,
      isDependencyFailure: () => true,
      metrics: this.metrics,
    });
  }

  private connect(url: string, timeoutMs: number): RedisClientType {
    const client: RedisClientType = createClient({
      url,
      disableOfflineQueue: true,
      commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
      socket: {
        connectTimeout: Math.max(timeoutMs, 1000),
        reconnectStrategy: reconnectDelay,
      },
    });
    // Without an error listener a lost connection would crash the process. Log transitions only:
    // a reconnect loop raises an error per attempt.
    client.on('error', (error: Error) => {
      if (!this.wasReady) return;
      this.wasReady = false;
      this.logger.warn(`Redis connection lost (${error.name}); serving from the database and reconnecting`);
    });
    client.on('ready', () => {
      this.wasReady = true;
      this.logger.log('Redis connected');
      this.connected();
    });
    client.connect().catch((error: Error) => this.logger.warn(`Redis is not reachable (${error.name}); retrying in the background`));
    return client;
  }

  /** A (re)established connection: to the node, or in a cluster to one of its nodes. */
  private connected(): void {
    // A fresh connection is proof enough: no need to wait for the open breaker's trial call.
    this.policy = this.newPolicy();
    for (const listener of this.readyListeners) listener();
  }

  /**
   * A cluster client: the seed URLs' scheme (rediss: TLS) and credentials apply to every node it
   * discovers. Each node's connection reconnects by itself with backoff, and fails its commands
   * at once while down; the topology is discovered again when a node answers MOVED (a failover,
   * a slot moved). Discovery itself does not retry, so a failed first one is retried here.
   */
  private connectCluster(urls: string[], timeoutMs: number): RedisClusterType {
    const cluster: RedisClusterType = createCluster(clusterOptions(urls, timeoutMs));
    // Discovery errors; a node's own come as 'node-error'. Log transitions only.
    cluster.on('error', () => undefined);
    cluster.on('node-error', (error: Error, node: { host: string; port: number }) => {
      const address = `${node.host}:${node.port}`;
      if (this.nodesDown.has(address)) return;
      this.nodesDown.add(address);
      this.logger.warn(`Redis cluster node ${address} lost (${error.name}); serving its keys without Redis and reconnecting`);
    });
    // Each node connection, on its first connect: its every 'ready' (reconnects too) counts as a connection.
    cluster.on('node-connect', () => {
      for (const node of [...cluster.masters, ...cluster.replicas]) {
        const client = node.client;
        if (!client || this.watchedNodes.has(client)) continue;
        this.watchedNodes.add(client);
        client.on('ready', () => {
          if (this.nodesDown.delete(node.address)) this.logger.log(`Redis cluster node ${node.address} connected`);
          if (this.clusterConnected) this.connected();
        });
      }
    });
    cluster.on('connect', () => {
      this.clusterConnected = true;
      this.logger.log(`Redis cluster connected (${cluster.masters.length} primaries)`);
      this.connected();
    });
    const discover = (attempt: number): void => {
      if (this.closed) return;
      cluster.connect().catch((error: Error) => {
        if (attempt === 0) this.logger.warn(`Redis cluster is not reachable (${error.name}); retrying in the background`);
        if (!cluster.isOpen) setTimeout(() => discover(attempt + 1), reconnectDelay(attempt)).unref();
      });
    };
    discover(0);
    return cluster;
  }
}

/**
 * The cluster client's options for REDIS_URL's seed URLs (validated by the config): the seeds are
 * where it discovers the topology, and the first URL's scheme (rediss: TLS, verified against the
 * system's CAs) and username and password are the defaults of every node connection, the nodes
 * it discovers included — node-redis takes a seed's URL for that seed only.
 */
export function clusterOptions(urls: readonly string[], timeoutMs: number) {
  const seed = new URL(urls[0]);
  return {
    rootNodes: urls.map((url) => {
      const { hostname, port } = new URL(url);
      return { socket: { host: hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(port || 6379) } };
    }),
    defaults: {
      ...(seed.username ? { username: decodeURIComponent(seed.username) } : {}),
      ...(seed.password ? { password: decodeURIComponent(seed.password) } : {}),
      disableOfflineQueue: true,
      commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
      socket: { tls: seed.protocol === 'rediss:', connectTimeout: Math.max(timeoutMs, 1000), reconnectStrategy: reconnectDelay },
    },
  };
}
