import { createConnection, createServer, Server, Socket } from 'node:net';

/**
 * A loopback TCP proxy. In front of the two service processes it hands each new connection to the
 * next backend in turn (round robin), trying the other one when a backend refuses; in front of
 * PostgreSQL it plays the faults: `restart` drops every connection and refuses new ones until
 * `restore`, `partition` stops every byte both ways (connections stay open) until `restore`.
 */
export class TcpProxy {
  private server?: Server;
  private next = 0;
  private readonly pairs = new Set<[Socket, Socket | undefined]>();
  private mode: 'pass' | 'refuse' | 'partition' = 'pass';
  private readonly waiting: Array<() => void> = [];
  port = 0;

  constructor(private readonly backends: () => number[]) {}

  async start(port = 0): Promise<this> {
    this.server = createServer({ pauseOnConnect: true }, (client) => void this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  private async accept(client: Socket): Promise<void> {
    client.on('error', () => undefined);
    if (this.mode === 'refuse') return void client.destroy();
    if (this.mode === 'partition') await new Promise<void>((resume) => this.waiting.push(resume));
    if ((this.mode as string) === 'refuse' || client.destroyed) return void client.destroy();
    const backends = this.backends();
    const connectTo = (attempt: number): void => {
      if (attempt >= backends.length) return void client.destroy();
      const port = backends[(this.next++ + attempt) % backends.length];
      const upstream = createConnection({ port, host: '127.0.0.1' });
      const pair: [Socket, Socket | undefined] = [client, upstream];
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        this.pairs.add(pair);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.on('error', () => {
        if (!connected) connectTo(attempt + 1);
        else client.destroy();
      });
      client.on('close', () => {
        upstream.destroy();
        this.pairs.delete(pair);
      });
      upstream.on('close', () => {
        if (connected) client.destroy();
        this.pairs.delete(pair);
      });
    };
    connectTo(0);
  }

  /** Every connection dropped at once, and new ones refused, until `restore` (a server restart). */
  restart(): void {
    this.mode = 'refuse';
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream?.destroy();
    }
    this.pairs.clear();
    for (const resume of this.waiting.splice(0)) resume();
  }

  /** No byte passes either way, on old or new connections, until `restore` (a network cut). */
  partition(): void {
    this.mode = 'partition';
    for (const [client, upstream] of this.pairs) {
      client.unpipe();
      upstream?.unpipe();
      client.pause();
      upstream?.pause();
    }
  }

  restore(): void {
    const partitioned = this.mode === 'partition';
    this.mode = 'pass';
    if (partitioned)
      for (const [client, upstream] of this.pairs) {
        if (!upstream) continue;
        client.pipe(upstream);
        upstream.pipe(client);
      }
    for (const resume of this.waiting.splice(0)) resume();
  }

  get connections(): number {
    return this.pairs.size;
  }

  async stop(): Promise<void> {
    this.restart();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
