import type { Server as HttpServer } from 'node:http';
import { type AddressInfo, type ListenOptions, createServer, type Server } from 'node:net';

/**
 * The API port, opened by several listening sockets (`SO_REUSEPORT`) that all hand their
 * connections to the one HTTP(S) server, so its timeouts, shutdown and connection tracking see
 * every connection.
 *
 * Why several: libuv (1.45 and later, so Node 20 on) accepts one connection per listening socket
 * per event-loop turn, and a turn of a busy process runs every request whose I/O completed since
 * the previous one. Under 1,000 connections the service accepted about 60 a second while the rest
 * waited in the kernel's queue: a kubelet probe, which opens a new connection each time, waited
 * 5–6 s, and the 99th percentile of the run was the wait to be accepted (docs/performance.md).
 * The kernel spreads new connections over the port's sockets and each accepts one per turn, so
 * `count` sockets accept `count` times as fast. `SO_REUSEPORT` is Linux's (what production runs
 * on); elsewhere, or on a Node without `reusePort` (before 22.12), the port has one socket, and
 * `count` says so (main.ts logs it).
 */
export class ListeningSockets {
  private constructor(private readonly sockets: ReadonlyArray<Server>) {}

  /**
   * Opens the port: `listen` opens the server's own socket with the options given (main.ts
   * passes Nest's `app.listen`, which keeps its own bookkeeping), then `count − 1` more sockets
   * join the same address and port.
   */
  static async open(
    server: HttpServer,
    listen: (options: ListenOptions) => Promise<unknown>,
    options: { port: number; backlog: number; count: number },
  ): Promise<ListeningSockets> {
    const count = process.platform === 'linux' ? options.count : 1;
    await listen({ port: options.port, backlog: options.backlog, reusePort: count > 1 });
    const { port, address } = server.address() as AddressInfo;
    const sockets: Server[] = [server];
    for (let i = 1; i < count; i++) {
      const acceptor = createServer((socket) => server.emit('connection', socket));
      const joined = await new Promise<boolean>((resolve) => {
        acceptor.once('error', () => resolve(false));
        acceptor.listen({ port, host: address, backlog: options.backlog, reusePort: true }, () => resolve(true));
      });
      // A Node without `reusePort` (before 22.12) cannot share the port: the server's socket serves alone.
      if (!joined) break;
      acceptor.removeAllListeners('error');
      // An accept failure is the server's, as on its own socket.
      acceptor.on('error', (error) => server.emit('error', error));
      sockets.push(acceptor);
    }
    return new ListeningSockets(sockets);
  }

  get count(): number {
    return this.sockets.length;
  }

  /**
   * Stops accepting on every socket (new connections are refused) and closes the idle
   * connections; resolves when every connection, whichever socket accepted it, has closed.
   */
  close(): Promise<void> {
    return Promise.all(this.sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve())))).then(() => undefined);
  }
}
