import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { LocalIssuer } from '../../src/auth/signing-keys';
import { MIGRATIONS } from '../../src/database/migrations';
import { TestDatabase } from '../support/postgres';
import { waitFor } from '../support/processes';
import { AppProcess, LogCapture } from './support/app-process';
import { TcpProxy } from './support/tcp-proxy';

const MARKER = `PLAINTEXT-MARKER-${randomUUID()}`;

/** PostgreSQL reached through a proxy the test controls; local key provider and issuer. */
describe('PostgreSQL cut, slow and partitioned; read replicas; log levels', { timeout: 300_000 }, () => {
  const logs = new LogCapture();
  let database: TestDatabase;
  let proxy: TcpProxy;
  let app: AppProcess;
  let token: string;
  let ciphertexts: string[];

  const expectUnavailable = async (response: PromiseLike<{ status: number; body: { code: string }; text: string }>) => {
    const { status, body, text } = await response;
    assert.equal(status, 503);
    assert.equal(body.code, 'SYS002');
    assert.doesNotMatch(text, /revoked_tokens|SELECT|timeout|ECONN|127\.0\.0\.1/i);
  };

  before(async () => {
    logs.forbid(MARKER);
    database = await TestDatabase.create();
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(database.url).port) });
    app = await AppProcess.start(
      { DATABASE_URL: proxy.through(database.url), DATABASE_STATEMENT_TIMEOUT_MS: '1000', DATABASE_CONNECT_TIMEOUT_MS: '1000' },
      logs,
    );
    token = (await LocalIssuer.open(app.dataDir)).mint(600);
    logs.forbid(token);
    await app.as(token).post('/api/v1/keys').send({ userId: '3001' }).expect(201);
    ({ encryptedData: ciphertexts } = (
      await app
        .as(token)
        .post('/api/v1/encrypt')
        .send({ userId: '3001', data: [MARKER] })
        .expect(200)
    ).body);
    logs.forbid(...ciphertexts);
  });

  after(async () => {
    await proxy?.restore();
    await app?.stop();
    await proxy?.stop();
    await database?.drop();
  });

  it('answers 503 SYS002 at once while PostgreSQL is unreachable; not ready, still live; recovers without a restart', async () => {
    await proxy.cut();
    try {
      await expectUnavailable(app.as(token).post('/api/v1/keys').send({ userId: '3002' }));
      await expectUnavailable(app.as(token).get('/api/v1/keys/3001'));
      // Without Redis the token denylist lives in the database: every authenticated request needs it.
      await expectUnavailable(
        app
          .as(token)
          .post('/api/v1/encrypt')
          .send({ userId: '3001', data: ['x'] }),
      );
      const ready = await app.http().get('/health/ready');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.details.error.database.status, 'down');
      await app.http().get('/health/live').expect(200);
    } finally {
      await proxy.restore();
    }
    await waitFor('ready again', () => app.http().get('/health/ready').expect(200));
    await app.as(token).post('/api/v1/keys').send({ userId: '3002' }).expect(201);
    const { body } = await app.as(token).post('/api/v1/decrypt').send({ userId: '3001', data: ciphertexts }).expect(200);
    assert.deepEqual(body.decryptedData, [MARKER]);
  });

  it('cancels a statement that waits longer than DATABASE_STATEMENT_TIMEOUT_MS and answers SYS002', async () => {
    const locker = new Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE revoked_tokens IN ACCESS EXCLUSIVE MODE');
      await expectUnavailable(app.as(token).get('/api/v1/keys/3001'));
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    await app.as(token).get('/api/v1/keys/3001').expect(200);
  });

  it('gives up on a PostgreSQL that stops answering (a network partition) and recovers when the network heals', async () => {
    proxy.blackhole();
    try {
      await expectUnavailable(app.as(token).get('/api/v1/keys/3001'));
      assert.equal((await app.http().get('/health/ready')).status, 503);
    } finally {
      await proxy.restore();
    }
    await waitFor('answering again', () => app.as(token).get('/api/v1/keys/3001').expect(200));
    await waitFor('ready again', () => app.http().get('/health/ready').expect(200));
  });

  it('reads keys from a read replica (DATABASE_REPLICA_URLS) and writes to the primary', async () => {
    const replica = await TestDatabase.create();
    const schema = await new DataSource({
      type: 'postgres',
      url: replica.url,
      migrations: MIGRATIONS,
      migrationsTableName: 'schema_migrations',
    }).initialize();
    let replicated: AppProcess | undefined;
    try {
      await schema.runMigrations();
      // A key that only the replica has: whoever reads it was served by the replica.
      const [row] = await database.query(`SELECT key, key_provider, algorithm FROM user_keys WHERE user_id = 3001`);
      await schema.query(
        `INSERT INTO user_keys (user_id, key, key_version, sealed_private_key, key_provider, algorithm) VALUES (3100, $1, 1, '\\x00', $2, $3)`,
        [row.key, row.key_provider, row.algorithm],
      );
      replicated = await AppProcess.start({ DATABASE_URL: database.url, DATABASE_REPLICA_URLS: replica.url }, logs);
      const own = (await LocalIssuer.open(replicated.dataDir)).mint(600);
      logs.forbid(own);

      await replicated.as(own).get('/api/v1/keys/3100').expect(200);
      await replicated.as(own).post('/api/v1/keys').send({ userId: '3101' }).expect(201);
      assert.equal((await database.query(`SELECT 1 FROM user_keys WHERE user_id = 3101`)).length, 1);
      assert.equal((await replica.query(`SELECT 1 FROM user_keys WHERE user_id = 3101`)).length, 0);
      // A key the replica has not seen yet is found on the primary rather than answered KEY001.
      await replicated.as(own).get('/api/v1/keys/3101').expect(200);
      await replicated.as(own).get('/api/v1/keys/3999').expect(404);
    } finally {
      await replicated?.stop();
      await schema.destroy();
      await replica.drop();
    }
  });

  it('writes only lines at or above LOG_LEVEL', async () => {
    const quiet = new LogCapture();
    const errorsOnly = await AppProcess.start({ DATABASE_URL: database.url, LOG_LEVEL: 'error' }, quiet);
    try {
      await errorsOnly.http().get('/api/v1/keys/3001').expect(401);
    } finally {
      await errorsOnly.stop();
    }
    const levels = quiet.lines.filter((line) => line.startsWith('{')).map((line) => (JSON.parse(line) as { level: string }).level);
    assert.deepEqual(
      levels.filter((level) => level !== 'error' && level !== 'fatal'),
      [],
    );
    assert.ok(
      logs.lines.some((line) => line.includes('"level":"debug"')),
      'LOG_LEVEL=trace (the suite default) writes debug lines',
    );
  });

  it('never logs a plaintext, ciphertext, key or token, through every fault above', () => {
    assert.ok(logs.requestLines().some((line) => line.status === 503));
    logs.assertNothingSecret();
  });
});
