import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { serializeSessions } from './pglite-session-queue';

/** The service's own pool on the embedded server. */
export const EMBEDDED_POOL_SIZE = 7;
/**
 * Connections the embedded server accepts: the service's pool, and room for other processes on
 * its socket (`npm run kms-migration`, a second process rehearsing a multi-replica operation).
 * Connections are cheap here: PGlite runs one statement at a time whatever their number.
 */
export const EMBEDDED_MAX_CONNECTIONS = 32;
const SOCKET_PORT = 5432;
const MAX_SOCKET_PATH = 100;

/**
 * The embedded database (DATABASE_URL unset): PGlite in DATA_DIR/pglite, served over the
 * PostgreSQL wire protocol on a Unix socket inside DATA_DIR. The application then talks to it
 * through the same `pg` driver, pool and SQL as to a real server — no second code path.
 * PGlite is one session and runs one query at a time: a connection keeps it for a whole
 * extended-query batch and for as long as its transaction is open (pglite-session-queue.ts), so
 * transactions stay isolated; row-lock waits become queueing.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    /** pg connection settings: a socket directory, or 127.0.0.1 and a port. */
    readonly connection: { host: string; port: number },
  ) {}

  static async start(dataDir: string): Promise<EmbeddedPostgres> {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const db = await PGlite.create({ dataDir: join(dataDir, 'pglite') });
    const socketPath = join(dataDir, `.s.PGSQL.${SOCKET_PORT}`);
    const useSocket = socketPath.length <= MAX_SOCKET_PATH;
    if (useSocket) await rm(socketPath, { force: true });
    const server = new PGLiteSocketServer({
      db,
      maxConnections: EMBEDDED_MAX_CONNECTIONS,
      ...(useSocket ? { path: socketPath } : { host: '127.0.0.1', port: 0 }),
    });
    serializeSessions(server, db);
    await server.start();
    const connection = useSocket
      ? { host: dataDir, port: SOCKET_PORT }
      : { host: '127.0.0.1', port: Number(server.getServerConn().split(':')[1]) };
    return new EmbeddedPostgres(db, server, connection);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.db.close();
  }
}
