import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Pool } from 'pg';
import { EMBEDDED_POOL_SIZE, EmbeddedPostgres } from '../../src/database/embedded-postgres';

/**
 * The embedded database (PGlite behind a socket) with the pool the service opens on it: many
 * connections at once, parameterized statements (the extended protocol TypeORM uses) and
 * transactions, as a burst of requests sends them.
 */
describe('the embedded database under concurrent pooled connections', { timeout: 120_000 }, () => {
  let dir: string;
  let embedded: EmbeddedPostgres;
  let pool: Pool;
  const settings = () => ({ ...embedded.connection, user: 'postgres', database: 'postgres' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pglite-'));
    embedded = await EmbeddedPostgres.start(dir);
    pool = new Pool({ ...settings(), max: EMBEDDED_POOL_SIZE });
    await pool.query('CREATE TABLE items (id int PRIMARY KEY, owner text NOT NULL)');
  });
  after(async () => {
    await pool?.end();
    await embedded?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A transaction that writes a row and reads it back, or a plain read with 1–3 parameters. */
  const request = async (i: number): Promise<void> => {
    if (i % 4 === 0) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('INSERT INTO items (id, owner) VALUES ($1, $2)', [i, `owner-${i}`]);
        const { rows } = await client.query('SELECT owner FROM items WHERE id = $1', [i]);
        assert.deepEqual(rows, [{ owner: `owner-${i}` }]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
      return;
    }
    const params = Array.from({ length: (i % 3) + 1 }, (_, k) => `value-${i}-${k}`);
    const { rows } = await pool.query(`SELECT ${params.map((_, k) => `$${k + 1}::text AS c${k}`).join(', ')}`, params);
    assert.deepEqual(Object.values(rows[0]), params);
  };

  it('answers every one of 600 concurrent statements and transactions with its own rows', async () => {
    const results = await Promise.allSettled(Array.from({ length: 600 }, (_, i) => request(i)));
    const failures = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
    assert.deepEqual(failures.slice(0, 5), []);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM items');
    assert.equal(rows[0].n, 150);
  });

  it('goes on serving the others when a connection drops in the middle of a transaction', async () => {
    const dropped = new Client(settings());
    dropped.on('error', () => undefined); // its own loss, caused below
    await dropped.connect();
    await dropped.query('BEGIN');
    await dropped.query('INSERT INTO items (id, owner) VALUES ($1, $2)', [100_000, 'never committed']);
    const waiting = Promise.all(Array.from({ length: 20 }, (_, i) => request(1_000 + i)));
    // Lost without COMMIT or a goodbye, as when its process is killed.
    (dropped as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await waiting;
    const { rows } = await pool.query('SELECT owner FROM items WHERE id = $1', [100_000]);
    assert.deepEqual(rows, [], 'the dropped transaction was rolled back');
  });
});
