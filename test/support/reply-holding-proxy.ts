import { createServer, Server, Socket } from 'node:net';
import { adminServer } from './postgres';
import { freePort, waitFor } from './processes';

/**
 * A loopback TCP proxy in front of the test PostgreSQL (test/support/postgres.ts) that can hold one
 * reply: once `holdReplyMatching(pattern)` is armed, the first chunk the database sends back that matches is
 * kept (with everything after it on that connection) until `release()`. The query has run by
 * then, so the application gets an answer the database gave before whatever the test does
 * meanwhile — a slow network made deterministic, to interleave one read with other writes.
 */
export class ReplyHoldingProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private pattern?: RegExp;
  private holding?: Socket;
  private held: Buffer[] = [];

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number } = adminServer()): Promise<ReplyHoldingProxy> {
    const proxy = new ReplyHoldingProxy(await freePort(), target);
    const server = createServer((client) => proxy.forward(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(proxy.port, '127.0.0.1', resolve);
    });
    proxy.server = server;
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  /** Holds the next reply that contains `pattern` (read as latin1), until `release()`. */
  holdReplyMatching(pattern: RegExp): void {
    this.pattern = pattern;
  }

  /** Resolves once a reply is being held. */
  async holdingReply(): Promise<void> {
    await waitFor('a held database reply', async () => {
      if (!this.holding) throw new Error('no reply held yet');
    });
  }

  /** Delivers the held reply and passes everything through again. */
  release(): void {
    const socket = this.holding;
    this.pattern = undefined;
    this.holding = undefined;
    for (const chunk of this.held.splice(0)) socket?.write(chunk);
  }

  async stop(): Promise<void> {
    this.release();
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }

  private forward(client: Socket): void {
    const upstream = new Socket();
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (!this.holding && this.pattern?.test(chunk.toString('latin1'))) this.holding = client;
      if (this.holding === client) this.held.push(chunk);
      else client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.connect(this.target.port, this.target.host);
  }
}
