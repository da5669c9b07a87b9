import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { ShredReplayService } from '../src/keys/shred-replay.service';
import { UserKeyRepository } from '../src/repositories/user-key.repository';
import type { Moto } from './support/moto';
import { checkedAgent } from './support/openapi-contract';
import { bucketLog, directoryLog, LogAccess } from './support/shred-log-access';
import { awsStack, embeddedStack, Stack, STACKS, urlOf } from './support/stacks';

/**
 * The shred log as intent, then commit (docs/operations.md 2.4, issue 30 D1 and D4): a DELETE
 * answered with an error never destroys the key later, an intent left open is settled from the
 * database by the replay at the next start, and the replay destroys only the version it checked.
 */

const UNTHROTTLED = { RATE_LIMIT_PER_MINUTE: '100000' };
const PLAINTEXT = 'Jane Doe, 046 454 286';

/** A key row as stored, to put back as a restore from a backup would. */
type KeyRow = Record<string, unknown>;

for (const definition of STACKS) {
  const aws = definition === awsStack;

  describe(`a DELETE answered with an error never destroys the key later; open intents are settled from the database — ${definition.name}`, () => {
    let stack: Stack;
    /** The replica now serving: after a restart, the one that replayed the log when it started. */
    let url: string;
    let app: Stack['app'];
    let token: string;
    let log: LogAccess;

    const api = () => checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), stack.contract);
    const query = <T = Record<string, any>>(sql: string, params: unknown[] = []) => stack.query<T>(sql, params);
    const namesOf = async (userId: string) => (await log.names()).filter((name) => name.includes(`_${userId}_v`));

    /** Stops the service and starts it again on the same database and log: its replay runs before it serves. */
    async function restart(): Promise<void> {
      if (aws) {
        app = await stack.startAnother();
      } else {
        await stack.app.close();
        stack = await embeddedStack.start({ ...UNTHROTTLED, DATA_DIR: stack.env.DATA_DIR });
        app = stack.app;
      }
      url = urlOf(app);
      const ready = await checkedAgent(request.agent(url), stack.contract).get('/health/ready');
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
    }

    async function keyWithCiphertext(userId: string): Promise<string> {
      assert.equal((await api().post('/api/v1/keys').send({ userId })).status, 201);
      const encrypted = await api()
        .post('/api/v1/encrypt')
        .send({ userId, data: [PLAINTEXT] });
      assert.equal(encrypted.status, 200, JSON.stringify(encrypted.body));
      return encrypted.body.encryptedData[0];
    }

    async function assertUsable(userId: string, ciphertext: string): Promise<void> {
      const decrypted = await api()
        .post('/api/v1/decrypt')
        .send({ userId, data: [ciphertext] });
      assert.equal(decrypted.status, 200, JSON.stringify(decrypted.body));
      assert.deepEqual(decrypted.body.decryptedData, [PLAINTEXT]);
      const encrypted = await api()
        .post('/api/v1/encrypt')
        .send({ userId, data: [PLAINTEXT] });
      assert.equal(encrypted.status, 200, JSON.stringify(encrypted.body));
    }

    /** The user's key row with everything a restore would bring back. */
    const rowOf = async (userId: string): Promise<KeyRow> => (await query(`SELECT * FROM user_keys WHERE user_id = $1`, [userId]))[0];
    const putBack = (row: KeyRow) =>
      query(
        `UPDATE user_keys SET key = $2, key_version = $3, sealed_private_key = $4, created_at = $5, updated_at = $6, is_active = true,
                shred_receipt = NULL WHERE user_id = $1`,
        [row.user_id, row.key, row.key_version, row.sealed_private_key, row.created_at, row.updated_at],
      );
    const generationOf = async (userId: string) =>
      (
        await query<{ key_version: number; created_at: string }>(
          `SELECT key_version, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at
             FROM user_keys WHERE user_id = $1`,
          [userId],
        )
      )[0];

    before(async () => {
      stack = await definition.start(UNTHROTTLED);
      app = stack.app;
      url = stack.url;
      token = await stack.token();
      log = aws ? bucketLog((stack as Stack & { moto: Moto }).moto.endpoint) : directoryLog(join(stack.env.DATA_DIR, 'shred-log'));
    });
    after(async () => {
      log?.close?.();
      await stack?.close();
    });

    it('answers 503 when the database refuses to commit the shred, keeps the key usable, records the intent aborted, and still after a restart', async () => {
      const userId = '9201';
      const ciphertext = await keyWithCiphertext(userId);
      // A real failure at COMMIT: a deferred constraint trigger raises when the transaction commits.
      await query(`CREATE OR REPLACE FUNCTION refuse_shred_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN RAISE EXCEPTION 'the database refuses this commit'; END $$`);
      await query(`CREATE CONSTRAINT TRIGGER refuse_shred_commit AFTER UPDATE ON user_keys DEFERRABLE INITIALLY DEFERRED
                   FOR EACH ROW WHEN (NEW.user_id = ${userId}) EXECUTE FUNCTION refuse_shred_commit()`);
      try {
        const refused = await api().delete(`/api/v1/keys/${userId}`);
        assert.equal(refused.status, 503, JSON.stringify(refused.body));
        assert.equal(refused.body.code, 'SYS002');
        assert.match(refused.body.message, /the key is intact/);
      } finally {
        await query(`DROP TRIGGER refuse_shred_commit ON user_keys`);
      }
      await assertUsable(userId, ciphertext);
      const names = await namesOf(userId);
      assert.deepEqual(
        names.map((name) => name.replace(/^.*_v1\./, '')),
        ['aborted.json', 'intent.json'],
      );
      const intent = await log.read(names[1]);
      assert.deepEqual(
        { keyVersion: intent.keyVersion, keyCreatedAt: intent.keyCreatedAt },
        { keyVersion: 1, keyCreatedAt: (await generationOf(userId)).created_at },
      );

      await restart();
      await assertUsable(userId, ciphertext);
      await restart();
      await assertUsable(userId, ciphertext);
      assert.equal((await namesOf(userId)).filter((name) => name.endsWith('.destroyed.json')).length, 0);
    });

    it('settles an intent left open by a DELETE that died before its commit as aborted at the next start, and the key stays usable', async () => {
      const userId = '9202';
      const ciphertext = await keyWithCiphertext(userId);
      const { key_version, created_at } = await generationOf(userId);
      // What a pod killed between writing the intent and committing leaves: the intent, and the key as it was.
      const at = new Date(Date.now() - 60_000).toISOString();
      const name = `${at.replace(/:/g, '-')}_${userId}_v${key_version}`;
      await log.write(`${name}.intent.json`, {
        typ: 'crypto-shred',
        state: 'intent',
        userId,
        keyVersion: key_version,
        keyCreatedAt: created_at,
        at,
      });

      await restart();
      await assertUsable(userId, ciphertext);
      assert.deepEqual(await namesOf(userId), [`${name}.aborted.json`, `${name}.intent.json`]);
      const aborted = await log.read(`${name}.aborted.json`);
      assert.equal(aborted.state, 'aborted');
      assert.match(aborted.reason, /did not commit/);
      await restart();
      await assertUsable(userId, ciphertext);
    });

    it('completes an intent whose transaction committed but whose destroyed record was never written, so a later restore stays shredded', async () => {
      const userId = '9203';
      const ciphertext = await keyWithCiphertext(userId);
      const backup = await rowOf(userId);
      const shredded = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(shredded.status, 200, JSON.stringify(shredded.body));
      // What a pod killed right after the commit leaves: the intent only (the database holds the shred and its receipt).
      for (const name of await namesOf(userId)) if (!name.endsWith('.intent.json')) await log.remove(name);
      const [intentName] = await namesOf(userId);

      await restart();
      const destroyedName = intentName.replace('.intent.json', '.destroyed.json');
      assert.deepEqual(await namesOf(userId), [destroyedName, intentName]);
      const destroyed = await log.read(destroyedName);
      assert.deepEqual(
        { state: destroyed.state, keyVersions: destroyed.keyVersions, destroyedAt: destroyed.destroyedAt, receipt: destroyed.receipt },
        { state: 'destroyed', keyVersions: [1], destroyedAt: shredded.body.destroyedAt, receipt: shredded.body.receipt },
      );

      // A restore from a backup taken before the shred brings the key back: the completed record destroys it again.
      await putBack(backup);
      await restart();
      const refused = await api()
        .post('/api/v1/decrypt')
        .send({ userId, data: [ciphertext] });
      assert.equal(refused.status, 404, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'KEY001');
      const repeated = await api().delete(`/api/v1/keys/${userId}`);
      assert.equal(repeated.body.receipt, shredded.body.receipt);
    });

    it('never lets the replay destroy a key created after the version it checked (a DELETE and a new key on another replica meanwhile)', async () => {
      const userId = '9204';
      await keyWithCiphertext(userId);
      const backup = await rowOf(userId);
      assert.equal((await api().delete(`/api/v1/keys/${userId}`)).status, 200);
      // Restored from a backup: version 1 is back, and the log says version 1 was shredded.
      await putBack(backup);

      // Right after the replay has read the user's version, another replica shreds it and creates the person's new key.
      const keys = app.get(UserKeyRepository);
      const read = keys.activeVersionsOnPrimary.bind(keys);
      let newCiphertext: string | undefined;
      keys.activeVersionsOnPrimary = async (userIds) => {
        const live = await read(userIds);
        if (live.get(userId) === 1 && newCiphertext === undefined) {
          assert.equal((await api().delete(`/api/v1/keys/${userId}`)).status, 200);
          newCiphertext = await keyWithCiphertext(userId);
        }
        return live;
      };
      try {
        await app.get(ShredReplayService).replay();
      } finally {
        delete (keys as Partial<UserKeyRepository>).activeVersionsOnPrimary;
      }
      assert.ok(newCiphertext, 'the re-creation ran inside the replay');
      await assertUsable(userId, newCiphertext);
      assert.equal((await api().get(`/api/v1/keys/${userId}`)).body.keyVersion, 2);
    });

    it('ignores a record of a state this version does not know (a later version’s legal hold), and destroys nothing for it', async () => {
      const userId = '9205';
      const ciphertext = await keyWithCiphertext(userId);
      const { key_version } = await generationOf(userId);
      const at = new Date(Date.now() - 60_000).toISOString();
      const name = `${at.replace(/:/g, '-')}_${userId}_v${key_version}`;
      await log.write(`${name}.legal-hold.json`, { typ: 'crypto-shred', state: 'legal-hold', userId, keyVersion: key_version, at });
      await restart();
      await assertUsable(userId, ciphertext);
      assert.deepEqual(await namesOf(userId), [`${name}.legal-hold.json`]);
    });
  });
}
