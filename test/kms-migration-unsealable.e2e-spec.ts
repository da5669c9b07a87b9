import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { Moto } from './support/moto';
import { checkedAgent } from './support/openapi-contract';
import { Environment, Stack, STACKS, urlOf } from './support/stacks';

/**
 * A KMS key migration that meets sealed keys it cannot unseal (an old key the operator forgot to
 * list in KMS_PREVIOUS_KEY_IDS) does not finish: it counts them, keeps them under their old key and
 * retries, and finishes by itself once a replica that knows the key takes part.
 */
for (const definition of STACKS) {
  describe(`KMS key migration with keys that do not unseal — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    /** Key settings by name: the first key, a second one, the migration's target. */
    let keys: { first: Environment; second: (previous: Environment) => Environment; target: (previous: string[]) => Environment };

    before(async () => {
      stack = await definition.start({ RATE_LIMIT_PER_MINUTE: '100000', DUAL_CONTROL: 'off' });
      token = await stack.token();
      const moto = (stack as Stack & { moto?: Moto }).moto;
      if (moto) {
        const [second, target] = [await moto.createKmsKey(), await moto.createKmsKey()];
        const first = stack.env.KMS_KEY_ID;
        keys = {
          first: {},
          second: () => ({ KMS_KEY_ID: second, KMS_PREVIOUS_KEY_IDS: first }),
          target: (previous) => ({
            KMS_KEY_ID: target,
            KMS_PREVIOUS_KEY_IDS: previous.map((name) => ({ first, second })[name]!).join(','),
          }),
        };
      } else {
        const file = (name: string) => join(stack.env.DATA_DIR, name);
        const files: Record<string, string> = { first: file('master.key'), second: file('master-second.key') };
        keys = {
          first: {},
          second: () => ({ LOCAL_MASTER_KEY_FILE: files.second, LOCAL_PREVIOUS_MASTER_KEY_FILES: files.first }),
          target: (previous) => ({
            LOCAL_MASTER_KEY_FILE: file('master-target.key'),
            LOCAL_PREVIOUS_MASTER_KEY_FILES: previous.map((name) => files[name]).join(','),
          }),
        };
      }
    });
    after(() => stack?.close());

    /** A service with these key settings: another replica on the aws stack; the embedded one restarted on its data. */
    const replica = async (settings: Environment): Promise<string> => {
      if ((stack as Stack & { moto?: Moto }).moto) return urlOf(await stack.startAnother(settings));
      await stack.app.close();
      stack = await definition.start({ RATE_LIMIT_PER_MINUTE: '100000', DUAL_CONTROL: 'off', DATA_DIR: stack.env.DATA_DIR, ...settings });
      return stack.url;
    };
    const on = (url: string) => checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), stack.contract);
    const unsealableGauge = async (url: string) =>
      Number(
        /^pii_api_kms_migration_unsealable (\d+)/m.exec((await checkedAgent(request.agent(url), stack.contract).get('/metrics')).text)?.[1],
      );

    it('keeps the migration running with the keys it cannot unseal counted, and finishes once a replica knows their key', async () => {
      const write = async (url: string, userId: string) => {
        await on(url).post('/api/v1/keys').send({ userId }).expect(201);
        const { body } = await on(url)
          .post('/api/v1/encrypt')
          .send({ userId, data: [`secret of ${userId}`] })
          .expect(200);
        return body.encryptedData[0] as string;
      };
      const underFirst = await write(stack.url, '8101');
      const underSecond = await write(await replica(keys.second(keys.first)), '8102');

      // The migration's replica lists the first key only: the second key's seals do not unseal there.
      const forgetful = await replica(keys.target(['first']));
      await on(forgetful).post('/api/v1/admin/kms-migration').expect(201);
      let status = (await on(forgetful).get('/api/v1/admin/kms-migration').expect(200)).body;
      for (
        let tries = 0;
        tries < 100 && !(status.remaining.total > 0 && (await unsealableGauge(forgetful)) === status.remaining.total);
        tries++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await on(forgetful).get('/api/v1/admin/kms-migration').expect(200)).body;
      }
      assert.ok(status.remaining.userKeys >= 1, JSON.stringify(status));
      assert.equal(await unsealableGauge(forgetful), status.remaining.total, 'every key left is counted as not unsealing');
      // Left under its old key, not finished: the operator's status still says not complete, and the job still runs.
      assert.equal(status.complete, false);
      assert.equal(status.migration.outcome, null);
      assert.equal(status.migration.finishedAt, null);

      // The forgotten key listed: the same migration goes on and finishes.
      const fixed = await replica(keys.target(['first', 'second']));
      const deadline = Date.now() + 60_000;
      do {
        assert.ok(Date.now() < deadline, `migration not done: ${JSON.stringify(status)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        status = (await on(fixed).get('/api/v1/admin/kms-migration').expect(200)).body;
      } while (!status.complete || status.migration.outcome !== 'done');
      assert.equal(status.remaining.total, 0);
      assert.equal(await unsealableGauge(fixed), 0);
      for (const [userId, ciphertext] of [
        ['8101', underFirst],
        ['8102', underSecond],
      ]) {
        const { body } = await on(fixed)
          .post('/api/v1/decrypt')
          .send({ userId, data: [ciphertext] })
          .expect(200);
        assert.deepEqual(body.decryptedData, [`secret of ${userId}`]);
      }
    });
  });
}
