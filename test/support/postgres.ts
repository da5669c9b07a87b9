import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The test machine's PostgreSQL (README, running the tests): trust auth, user postgres, database test. */
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A fresh database on the test server, dropped by `drop()`. A missing server fails the suite
 * loudly — it is a required part of the test machine.
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
