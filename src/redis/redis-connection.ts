import { Logger } from '@nestjs/common';
import { createClient, RedisClientType } from '@keyv/redis';
import { dependencyUnavailable } from '../common/api-error';
import { DependencyPolicy } from '../common/dependency-policy';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';

/** Hung commands a frozen Redis may hold before new ones are refused at once. */
const MAX_QUEUED_COMMANDS = 1000;
const RECONNECT_MAX_DELAY_MS = 2000;

/**
 * The one Redis client of the process (REDIS_URL), shared by the public-key cache, the rate
 * limiter and the token denylist; `null` client when Redis is not configured.
 *
 * Redis is optional at run time: the client connects and reconnects in the background with
 * backoff, commands fail at once while it is disconnected (no offline queue), and `execute`
 * bounds every call by REDIS_TIMEOUT_MS behind a circuit breaker, because node-redis cannot time
 * out a command it has already written to a server that stopped answering.
 */
export class RedisConnection {
  private readonly logger = new Logger('Redis');
  private policy?: DependencyPolicy;
  private readonly readyListeners: Array<() => void> = [];
  private readonly watchers = new Map<string, { read: (value: string | null) => void; lost: () => void }>();
  /** The keys of `watch`, in the order their values are delivered. */
  readonly watchedKeys: string[] = [];
  private wasReady = false;

  readonly client: RedisClientType | null;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    const { redisUrl, redisTimeoutMs } = config.cache;
    this.client = redisUrl ? this.connect(redisUrl, redisTimeoutMs) : null;
    if (redisUrl) this.policy = this.newPolicy();
  }

  get isConfigured(): boolean {
    return this.client !== null;
  }

  /**
   * Runs `command` against Redis within REDIS_TIMEOUT_MS. Rejects with 503 SYS002 when Redis is
   * absent, down or slow (every caller falls back instead), so nothing else escapes.
   */
  execute<T>(command: (client: RedisClientType) => Promise<T>): Promise<T> {
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
        reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, RECONNECT_MAX_DELAY_MS) + Math.floor(Math.random() * 100),
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
      // A fresh connection is proof enough: no need to wait for the open breaker's trial call.
      this.policy = this.newPolicy();
      this.logger.log('Redis connected');
      for (const listener of this.readyListeners) listener();
    });
    client.connect().catch((error: Error) => this.logger.warn(`Redis is not reachable (${error.name}); retrying in the background`));
    return client;
  }
}
