import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type ListenOptions, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { ListeningSockets } from './listening-sockets';

const linux = process.platform === 'linux';

/** An HTTP server on a free loopback port, opened by `count` listening sockets. */
async function open(
  count: number,
  handler: (request: IncomingMessage, response: ServerResponse) => void = (_, response) => response.end('ok'),
) {
  const server = createServer(handler);
  const listen = (options: ListenOptions) =>
    new Promise((resolve) => server.listen({ ...options, host: '127.0.0.1' }, () => resolve(server)));
  const sockets = await ListeningSockets.open(server, listen, { port: 0, backlog: 511, count });
  return { server, sockets, port: (server.address() as AddressInfo).port };
}

/**
 * Connections accepted in one event-loop turn of a process that was busy while they arrived:
 * `waiting` clients connect while the loop is blocked (the kernel completes each handshake and
 * queues it), then one turn runs — its poll phase accepts, its check phase counts.
 */
function acceptedInOneBusyTurn(server: Server, port: number, waiting: number): Promise<{ accepted: number; clients: Socket[] }> {
  let accepted = 0;
  server.on('connection', () => (accepted += 1));
  return new Promise((resolve) => {
    const clients = Array.from({ length: waiting }, () => connect(port, '127.0.0.1'));
    // After the clients' connect calls (queued on nextTick before this one): a busy turn.
    process.nextTick(() => {
      const busyUntil = performance.now() + 100;
      while (performance.now() < busyUntil);
      setImmediate(() => resolve({ accepted, clients }));
    });
  });
}

function get(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ port, host: '127.0.0.1', agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

describe('ListeningSockets', { skip: linux ? false : 'SO_REUSEPORT: Linux only' }, () => {
  const opened: ListeningSockets[] = [];
  const clients: Socket[] = [];
  after(async () => {
    for (const client of clients) client.destroy();
    await Promise.all(opened.map((sockets) => sockets.close()));
  });

  it('a busy process with one listening socket accepts one waiting connection per event-loop turn (libuv), which is why the port has several', async () => {
    const { server, sockets, port } = await open(1);
    opened.push(sockets);
    const turn = await acceptedInOneBusyTurn(server, port, 64);
    clients.push(...turn.clients);
    assert.equal(turn.accepted, 1);
  });

  it('with 8 listening sockets a busy process accepts a waiting connection on each socket in one turn', async () => {
    const { server, sockets, port } = await open(8);
    opened.push(sockets);
    assert.equal(sockets.count, 8);
    const turn = await acceptedInOneBusyTurn(server, port, 64);
    clients.push(...turn.clients);
    // The kernel spreads connections by hash; 64 leave all 8 queues busy but for bad luck.
    assert.ok(turn.accepted >= 5 && turn.accepted <= 8, `accepted ${turn.accepted} in one turn`);
  });

  it("on a Node that cannot share the port (reusePort ignored, as before 22.12) the server's own socket serves alone", async () => {
    const server = createServer((_, response) => response.end('ok'));
    const listenIgnoringReusePort = (options: ListenOptions) =>
      new Promise((resolve) => server.listen({ ...options, reusePort: false, host: '127.0.0.1' }, () => resolve(server)));
    const sockets = await ListeningSockets.open(server, listenIgnoringReusePort, { port: 0, backlog: 511, count: 8 });
    opened.push(sockets);
    assert.equal(sockets.count, 1);
    assert.equal(await get((server.address() as AddressInfo).port), 200);
  });

  it(
    'every socket serves the same HTTP server, and closing waits for the requests in progress on connections any socket accepted, then refuses new connections',
    { timeout: 10_000 },
    async () => {
      const held: ServerResponse[] = [];
      const { server, sockets, port } = await open(4, (_, response) => held.push(response));
      // Before the server's own listener: `socket.server` is still the socket that accepted it.
      const acceptedByServer = new WeakSet<Socket>();
      server.prependListener(
        'connection',
        (socket: Socket & { server?: unknown }) => socket.server === server && acceptedByServer.add(socket),
      );
      // Enough new connections that every socket accepts some.
      const answers = Array.from({ length: 24 }, () => get(port));
      while (held.length < 24) await new Promise((resolve) => setImmediate(resolve));
      let closed = false;
      const closing = sockets.close().then(() => (closed = true));
      await assert.rejects(get(port), { code: 'ECONNREFUSED' });
      const [own, others] = [
        held.filter((r) => acceptedByServer.has(r.socket as Socket)),
        held.filter((r) => !acceptedByServer.has(r.socket as Socket)),
      ];
      assert.ok(own.length > 0 && others.length > 0, `${own.length} and ${others.length} connections`);
      // The connections the server's own socket accepted end first: still not closed.
      for (const response of own) response.end('done');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(closed, false, 'closed while requests were in progress on the other sockets');
      for (const response of others) response.end('done');
      assert.deepEqual(await Promise.all(answers), Array(24).fill(200));
      await closing;
      assert.equal(closed, true);
    },
  );
});
