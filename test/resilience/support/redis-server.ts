import { ChildProcess } from 'node:child_process';
import { createClient } from '@keyv/redis';
import { requireOnPath } from '../../support/missing-tool';
import { freePort, spawnLogged, stopProcess, waitFor } from '../../support/processes';

/**
 * A private redis-server on a free loopback port, which the test may kill, restart on the same
 * port, or freeze (SIGSTOP) and thaw. The machine's own Redis is never touched. Without
 * redis-server on PATH it throws MissingTool: `npm test` skips the tests that need it and names
 * it in its closing summary (a failure with CI=true).
 */
export class RedisServer {
  private child?: ChildProcess;

  private constructor(readonly port: number) {}

  static async start(): Promise<RedisServer> {
    requireOnPath('redis-server');
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port, empty: no persistence. */
  async restart(): Promise<void> {
    const { child } = spawnLogged('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (error) => reject(new Error(`redis-server could not be started: ${error.message}`))),
    );
    this.child = child;
    await Promise.race([spawnError, waitFor('redis-server', () => this.ping())]);
  }

  /** Dies at once, like a crashed server. */
  async kill(): Promise<void> {
    if (this.child) await stopProcess(this.child, 'SIGKILL');
  }

  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.thaw();
    await this.kill();
  }

  /** One command through a short-lived client, for a test to look inside. */
  async command(...args: string[]): Promise<unknown> {
    const client = createClient({ url: this.url, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await client.sendCommand(args);
    } finally {
      client.destroy();
    }
  }

  private async ping(): Promise<void> {
    const reply = await this.command('PING');
    if (reply !== 'PONG') throw new Error(`unexpected reply ${String(reply)}`);
  }
}
