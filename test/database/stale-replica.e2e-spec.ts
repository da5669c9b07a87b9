import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DataSource } from 'typeorm';
import { Permission } from '../../src/common/permissions';
import { MIGRATIONS } from '../../src/database/migrations';
import { RotationScheduler } from '../../src/rotation/rotation.scheduler';
import { TestDatabase } from '../support/postgres';
import { awsStack, Stack } from '../support/stacks';

const MARKER = 'PLAINTEXT-MARKER-stale-replica';

/**
 * DATABASE_REPLICA_URLS points at a second database with the app's schema that never catches
 * up by itself: the test copies rows into it at chosen moments, as replication would have by
 * then. Whatever the replica still shows, every decision (authorize, refuse, which key) must be
 * the primary's. Only listings and reports may show the replica's stale view.
 */
describe('a read replica that lags — PostgreSQL + KMS and Cognito on moto_server', { timeout: 300_000 }, () => {
  let replica: TestDatabase;
  let stack: Stack & { database: TestDatabase };
  let admin: string;

  const call = (token: string, method: 'get' | 'post' | 'delete', path: string, body?: object) =>
    stack.as(token)[method](`/api/v1/${path}`).send(body);
  const encrypt = async (userId: string, data: string[]): Promise<string[]> => {
    const response = await call(admin, 'post', 'encrypt', { userId, data });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.encryptedData;
  };
  const createKey = async (userId: string) => assert.equal((await call(admin, 'post', 'keys', { userId })).status, 201);
  const caller = (name: string, permissions: Permission[]) => stack.identity(name, permissions);

  /** Copies the rows of `table` matching `where` from the primary into the replica, as they are now. */
  const replicate = async (table: string, where: string, params: unknown[]) => {
    const rows = await stack.database.query<{ row: unknown }>(`SELECT row_to_json(t) AS row FROM ${table} t WHERE ${where}`, params);
    assert.ok(rows.length > 0, `nothing in ${table} to replicate`);
    for (const { row } of rows) {
      await replica.query(`INSERT INTO ${table} OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_record(null::${table}, $1)`, [
        JSON.stringify(row),
      ]);
    }
  };

  before(async () => {
    replica = await TestDatabase.create();
    const schema = await new DataSource({
      type: 'postgres',
      url: replica.url,
      migrations: MIGRATIONS,
      migrationsTableName: 'schema_migrations',
    }).initialize();
    try {
      await schema.runMigrations({ transaction: 'each' });
    } finally {
      await schema.destroy();
    }
    stack = (await awsStack.start({ DATABASE_REPLICA_URLS: replica.url })) as Stack & { database: TestDatabase };
    admin = await stack.token();
  });
  after(async () => {
    await stack?.close();
    await replica?.drop();
  });

  it('creates, approves and uses a grant the replica has never seen, and stops /translate at its revocation although the replica still shows it active', async () => {
    await createKey('42');
    await createKey('77');
    const creator = await caller('estate-service', ['grants:write', 'grants:approve']);
    const approverA = await caller('compliance-officer', ['grants:approve']);
    const approverB = await caller('legal-reviewer', ['grants:approve']);

    const created = await call(creator, 'post', 'grants', { fromUserId: '42', toUserId: '77', reason: 'Executor of the estate' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { id } = created.body;
    assert.equal((await replica.query(`SELECT 1 FROM key_grants WHERE id = $1`, [id])).length, 0);
    assert.equal((await call(approverA, 'post', `grants/${id}/approve`)).body.state, 'pending');
    const approved = await call(approverB, 'post', `grants/${id}/approve`);
    assert.equal(approved.status, 200);
    assert.equal(approved.body.state, 'active');
    const data = await encrypt('42', [MARKER]);
    assert.equal((await call(admin, 'post', 'translate', { fromUserId: '42', toUserId: '77', data })).status, 200);

    await replicate('key_grants', 'id = $1', [id]);
    await replicate('key_grant_approvals', 'grant_id = $1', [id]);
    const revoked = await call(creator, 'delete', `grants/${id}`);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.state, 'revoked');

    const refused = await call(admin, 'post', 'translate', { fromUserId: '42', toUserId: '77', data });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'AUTH002');
    assert.match(refused.body.message, /revoked/);
    assert.doesNotMatch(refused.text, new RegExp(MARKER));
    assert.deepEqual(await replica.query(`SELECT revoked_at FROM key_grants WHERE id = $1`, [id]), [{ revoked_at: null }]);
    // GET /grants is a listing that may lag: it shows the replica's view, which proves the replica is read at all.
    const listed = await call(approverA, 'get', 'grants?fromUserId=42&toUserId=77');
    assert.deepEqual(
      listed.body.map((grant: { id: string; state: string }) => [grant.id, grant.state]),
      [[id, 'active']],
    );
  });

  it('refuses a revoked token at once although the replica has no record of the revocation', async () => {
    const leaked = await caller('leaky-service', ['encrypt']);
    assert.equal((await call(leaked, 'post', 'encrypt', { userId: '42', data: ['x'] })).status, 200);
    assert.equal((await call(admin, 'post', 'tokens/revoke', { token: leaked })).status, 200);

    const refused = await call(leaked, 'post', 'encrypt', { userId: '42', data: ['x'] });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.code, 'AUTH001');
    assert.equal(refused.body.message, 'Token has been revoked');
    assert.deepEqual(await replica.query(`SELECT token_id FROM revoked_tokens`), []);
  });

  it('encrypts under the version a rotation just created, not the superseded one the replica still holds', async () => {
    await createKey('501');
    const before = await encrypt('501', ['before rotation']);
    assert.match(before[0], /^ek2:1:/);
    await replicate('user_keys', 'user_id = $1', ['501']);

    const rotated = await call(admin, 'post', 'rotate', { userId: '501', data: [] });
    assert.equal(rotated.status, 200);
    assert.equal(rotated.body.keyVersion, 2);
    const after = await encrypt('501', ['after rotation']);
    assert.match(after[0], /^ek2:2:/);
    assert.deepEqual((await call(admin, 'post', 'decrypt', { userId: '501', data: [...before, ...after] })).body.decryptedData, [
      'before rotation',
      'after rotation',
    ]);

    assert.deepEqual(await replica.query(`SELECT key_version FROM user_keys WHERE user_id = 501`), [{ key_version: 1 }]);
    // Key metadata may lag: GET /keys/{userId} still shows version 1 from the replica.
    assert.equal((await call(admin, 'get', 'keys/501')).body.keyVersion, 1);
  });

  it('refuses to encrypt or decrypt for a crypto-shredded key while the replica still holds it, and re-creates it at the next version', async () => {
    await createKey('601');
    const secret = await encrypt('601', [MARKER]);
    await replicate('user_keys', 'user_id = $1', ['601']);

    const shredded = await call(admin, 'delete', 'keys/601');
    assert.equal(shredded.status, 200);
    assert.equal(shredded.body.versionsDestroyed, 1);
    for (const [path, data] of [
      ['encrypt', ['new data']],
      ['decrypt', secret],
    ] as const) {
      const response = await call(admin, 'post', path, { userId: '601', data });
      assert.equal(response.status, 404, path);
      assert.equal(response.body.code, 'KEY001', path);
      assert.doesNotMatch(response.text, new RegExp(MARKER));
    }
    assert.deepEqual(await replica.query(`SELECT is_active, sealed_private_key IS NOT NULL AS sealed FROM user_keys WHERE user_id = 601`), [
      { is_active: true, sealed: true },
    ]);

    const recreated = await call(admin, 'post', 'keys', { userId: '601' });
    assert.equal(recreated.status, 201);
    assert.deepEqual(recreated.body, { success: true, created: true, keyVersion: 2 });
  });

  it('purges retired versions past retention on the primary; their ciphertexts no longer decrypt although the replica keeps them', async () => {
    await createKey('701');
    const old = await encrypt('701', ['old']);
    assert.equal((await call(admin, 'post', 'rotate', { userId: '701', data: [] })).body.keyVersion, 2);
    await replicate('user_keys', 'user_id = $1', ['701']);
    await replicate('user_key_history', 'user_id = $1', ['701']);
    await stack.query(`UPDATE user_key_history SET rotation_date = now() - interval '2556 days' WHERE user_id = 701`);

    const { purged } = await stack.app.get(RotationScheduler).run();
    assert.ok(purged >= 1);
    assert.deepEqual(await stack.query(`SELECT key_version FROM user_key_history WHERE user_id = 701`), []);
    assert.deepEqual(
      await replica.query(`SELECT key_version, sealed_private_key IS NOT NULL AS sealed FROM user_key_history WHERE user_id = 701`),
      [{ key_version: 1, sealed: true }],
    );
    const response = await call(admin, 'post', 'decrypt', { userId: '701', data: old });
    assert.equal(response.status, 400);
    assert.equal(response.body.code, 'ENC002');
  });
});
