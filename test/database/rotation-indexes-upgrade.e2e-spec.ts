import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../src/database/migrations';
import { AddRotationIndexes1764000930000 } from '../../src/database/migrations/1764000930000-add-rotation-indexes';
import { TestDatabase } from '../support/postgres';

const PEOPLE = 20_000;
const CLAIM = `SELECT user_id, key_version FROM user_keys
  WHERE is_active AND created_at <= $1 AND (rotation_lease_until IS NULL OR rotation_lease_until < now())
  ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED`;

const dataSource = (database: TestDatabase, migrations: typeof MIGRATIONS) =>
  new DataSource({ type: 'postgres', url: database.url, migrations, migrationsTableName: 'schema_migrations', logging: false });

/**
 * A database released before the rotation indexes, holding keys and history, upgraded by the
 * next start's migrations: the data stays as it was and the scheduled rotation's claim and the
 * history purge use their indexes.
 */
describe('upgrading a database that holds keys to the rotation indexes (PostgreSQL)', { timeout: 120_000 }, () => {
  let database: TestDatabase;

  before(async () => {
    database = await TestDatabase.create();
    const released = MIGRATIONS.slice(0, MIGRATIONS.indexOf(AddRotationIndexes1764000930000));
    const old = await dataSource(database, released).initialize();
    try {
      await old.runMigrations({ transaction: 'each' });
      await old.query(
        `INSERT INTO user_keys (user_id, key, key_version, sealed_private_key, key_provider, created_at, is_active)
         SELECT g, 'public key ' || g, 2, '\\x00'::bytea, 'local', now() - ((g % 700) || ' days')::interval, g % 10 <> 0
           FROM generate_series(1, ${PEOPLE}) g`,
      );
      // An inactive row keeps no key (crypto-shredded); every tenth person here.
      await old.query(`UPDATE user_keys SET key = NULL, sealed_private_key = NULL WHERE NOT is_active`);
      await old.query(
        `INSERT INTO user_key_history (user_id, key_version, key_value, sealed_private_key, key_provider, created_at, rotation_date, rotation_reason)
         SELECT g, 1, 'old public key', '\\x00'::bytea, 'local', now() - interval '800 days', now() - ((g % 700) || ' days')::interval, 'scheduled'
           FROM generate_series(1, ${PEOPLE}) g`,
      );
    } finally {
      await old.destroy();
    }
    const upgraded = await dataSource(database, MIGRATIONS).initialize();
    try {
      await upgraded.runMigrations({ transaction: 'all' });
      await upgraded.query('ANALYZE user_keys, user_key_history');
    } finally {
      await upgraded.destroy();
    }
  });
  after(() => database?.drop());

  it('keeps every key and history row', async () => {
    const [keys] = await database.query<{ active: number; all: number }>(
      `SELECT count(*) FILTER (WHERE is_active)::int AS active, count(*)::int AS all FROM user_keys`,
    );
    assert.deepEqual(keys, { active: PEOPLE - PEOPLE / 10, all: PEOPLE });
    const [history] = await database.query<{ n: number }>(`SELECT count(*)::int AS n FROM user_key_history`);
    assert.equal(history.n, PEOPLE);
  });

  it('claims the oldest due active key through the new index, never a shredded one', async () => {
    const cutoff = new Date(Date.now() - 90 * 86_400_000);
    const [due] = await database.query<{ user_id: string }>(CLAIM, [cutoff]);
    const [oldest] = await database.query<{ user_id: string }>(
      `SELECT user_id FROM user_keys WHERE is_active ORDER BY created_at, user_id LIMIT 1`,
    );
    assert.equal(due.user_id, oldest.user_id);
    const plan = (await database.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${CLAIM}`, [cutoff])).map((row) => row['QUERY PLAN']).join('\n');
    assert.match(plan, /idx_user_keys_rotation_due/, plan);
    assert.doesNotMatch(plan, /Seq Scan/, plan);
  });

  it('finds the history rows past retention through the new index', async () => {
    const cutoff = new Date(Date.now() - 690 * 86_400_000);
    const plan = (
      await database.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT user_id, key_version FROM user_key_history WHERE rotation_date < $1`, [
        cutoff,
      ])
    )
      .map((row) => row['QUERY PLAN'])
      .join('\n');
    assert.match(plan, /idx_user_key_history_rotation_date/, plan);
  });
});
