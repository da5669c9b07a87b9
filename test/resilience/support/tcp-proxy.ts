import { createServer, Server, Socket } from 'node:net';
import { freePort } from '../../support/processes';

/**
 * A loopback TCP proxy the test controls, in front of the machine's PostgreSQL: `cut()` drops
 * every connection and refuses new ones (the database is gone), `blackhole()` keeps accepting
 * but forwards nothing (the database stopped answering), `restore()` serves normally again on
 * the same port. PostgreSQL itself keeps running for everyone else.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private silent = false;
  /** What arrived while blackholed, delivered in order on restore. */
  private held: Array<[Socket, Buffer]> = [];

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
    await proxy.restore();
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  async cut(): Promise<void> {
    const closed = new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.held = [];
    await closed;
  }

  /** Connections stay open and new ones are accepted, but nothing goes through until `restore()` (a network partition). */
  blackhole(): void {
    this.silent = true;
  }

  async restore(): Promise<void> {
    this.silent = false;
    for (const [socket, chunk] of this.held.splice(0)) socket.write(chunk);
    if (this.server) return;
    const server = createServer((client) => this.forward(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    await this.cut();
  }

  private forward(client: Socket): void {
    const upstream = new Socket();
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    const relay = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => (this.silent ? this.held.push([to, chunk]) : to.write(chunk)));
    relay(client, upstream);
    relay(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.connect(this.target.port, this.target.host);
  }
}
