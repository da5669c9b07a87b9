import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/**
 * The test run's PostgreSQL: TEST_DATABASE_URL, which `npm test` sets to the machine's server
 * (127.0.0.1:$TEST_POSTGRES_PORT, default 5432: trust auth, user postgres, database test) or, when
 * nothing answers there, to a server of its own from the npm registry (scripts/test-postgres.js).
 */
export const ADMIN_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? `postgres://postgres@127.0.0.1:${process.env.TEST_POSTGRES_PORT || 5432}/test`;

/** The test server's host and port (for a proxy in front of it). */
export function adminServer(): { host: string; port: number } {
  const { hostname, port } = new URL(ADMIN_DATABASE_URL);
  return { host: hostname, port: Number(port || 5432) };
}

/**
 * A fresh database on the test server, dropped by `drop()`. A server that does not answer fails
 * the suite loudly.
 */
export class TestDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
  ) {}

  static async create(): Promise<TestDatabase> {
    const name = `pii_test_${randomBytes(6).toString('hex')}`;
    await withAdmin(async (client) => client.query(`CREATE DATABASE ${name}`));
    const url = new URL(ADMIN_DATABASE_URL);
    url.pathname = `/${name}`;
    return new TestDatabase(name, url.toString());
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async drop(): Promise<void> {
    await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`));
  }
}

async function withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`PostgreSQL at ${ADMIN_DATABASE_URL} is required for these tests: ${(error as Error).message}`, { cause: error });
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
