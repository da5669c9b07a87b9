import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** One frontend message waiting for PGlite, as pglite-socket queues it. */
interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  onData(data: Uint8Array): void;
  resolve(bytes: number): void;
  reject(error: unknown): void;
}

/** The part of pglite-socket's (unexported) query queue this module takes over. */
interface SocketQueryQueue {
  queue: QueuedMessage[];
  processing: boolean;
  lastHandlerId: number | null;
  processQueue(): Promise<void>;
  clearQueueForHandler(handlerId: number): void;
}

const code = (letter: string) => letter.charCodeAt(0);
/** Parse, Bind, Describe, Execute, Close, Flush: an extended-query batch stays open after these… */
const OPENS_BATCH = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map(code));
/** …until Sync; a simple Query is a batch of its own. */
const ENDS_BATCH = new Set(['S', 'Q'].map(code));
const SYNC = new Uint8Array([code('S'), 0, 0, 0, 4]);

/**
 * PGlite is one backend session shared by every socket connection. pglite-socket 0.2 serializes
 * single messages and keeps a connection's turn only while a transaction is open, so two pooled
 * connections' Parse/Bind/Execute/Sync batches interleave (the second Parse replaces the first's
 * unnamed statement: 08P01 or wrong rows), and one failed message leaves its queue stuck for
 * good (electric-sql/pglite#1046). This gives a connection the session from its first message of
 * a batch to its Sync, and for as long as its transaction is open, and keeps the queue running
 * after a failure. Replaces the server's queue methods in place; checked by
 * embedded-postgres.spec.ts against the library version in package.json.
 */
export function serializeSessions(server: PGLiteSocketServer, db: PGlite): void {
  const queue = (server as unknown as { queryQueue: SocketQueryQueue }).queryQueue;
  if (!Array.isArray(queue?.queue) || typeof queue.processQueue !== 'function' || typeof queue.clearQueueForHandler !== 'function') {
    throw new Error('pglite-socket changed its query queue: check electric-sql/pglite#1046 and src/database/pglite-session-queue.ts');
  }
  /** The connection in the middle of an extended-query batch, if any. */
  let batchOwner: number | null = null;
  const turn = () => batchOwner ?? (db.isInTransaction() ? queue.lastHandlerId : null);

  queue.processQueue = async () => {
    if (queue.processing) return;
    queue.processing = true;
    try {
      while (queue.queue.length > 0) {
        const owner = turn();
        const index = owner === null ? 0 : queue.queue.findIndex((queued) => queued.handlerId === owner);
        if (index === -1) break; // the owner's next message is still on its way; enqueue restarts this
        const [next] = queue.queue.splice(index, 1);
        let bytes = 0;
        try {
          await db.runExclusive(() =>
            db.execProtocolRawStream(next.message, {
              onRawData: (data) => {
                bytes += data.length;
                next.onData(data);
              },
            }),
          );
          next.resolve(bytes);
        } catch (error) {
          next.reject(error);
        }
        queue.lastHandlerId = next.handlerId;
        const type = next.message[0];
        if (OPENS_BATCH.has(type)) batchOwner = next.handlerId;
        else if (ENDS_BATCH.has(type)) batchOwner = null;
      }
    } finally {
      queue.processing = false;
    }
  };

  const clearQueueForHandler = queue.clearQueueForHandler.bind(queue);
  queue.clearQueueForHandler = (handlerId) => {
    clearQueueForHandler(handlerId);
    if (batchOwner !== handlerId) return;
    // The connection closed mid-batch: end the batch as its Sync would have (after an error the
    // backend skips every message until a Sync), then the others go on.
    batchOwner = null;
    void db
      .runExclusive(() => db.execProtocolRaw(SYNC))
      .catch(() => undefined)
      .then(() => queue.processQueue());
  };
}
