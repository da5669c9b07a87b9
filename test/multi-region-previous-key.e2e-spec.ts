import { CreateKeyCommand } from '@aws-sdk/client-kms';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { KmsFaultProxy } from './support/kms-fault-proxy';
import { keyIdOf, Moto, MOTO_REGION, MOTO_SECOND_REGION } from './support/moto';
import { checkedAgent } from './support/openapi-contract';
import { awsStack, Stack, urlOf } from './support/stacks';
import { decryptEverything as decryptEverythingOf, writeVersions } from './support/versions';

// One operator starts the migration here: the two-person rule (DUAL_CONTROL) is tested in test/dual-control.e2e-spec.ts.
const UNTHROTTLED = { RATE_LIMIT_PER_MINUTE: '100000', DUAL_CONTROL: 'off' };
const USERS = 3;
const VERSIONS = 2;

/**
 * A move away from a multi-region key in the failover region (docs/operations.md §2.5, §3.4): the
 * keys were sealed in the first region under a multi-region key, the deployment in the second
 * region has a new key of its own as KMS_KEY_ID and lists the old multi-region key in
 * KMS_PREVIOUS_KEY_IDS by its first region's ARN (as the settings of the first region had it).
 * Every call must name the old key by its replica in the second region: KMS refuses a key ARN of
 * another region (played by the fault proxy, which moto omits). KMS only: the local provider has
 * no regions.
 */
describe(`a previous multi-region key opens through its replica in this region — ${awsStack.name}`, () => {
  let stack: Stack;
  let moto: Moto;
  let token: string;
  let proxy: KmsFaultProxy;
  let oldKey: string;
  let replicaOfOld: string;
  let newKey: string;
  const written = new Map<string, Array<{ ciphertext: string; plaintext: string }>>();

  before(async () => {
    stack = await awsStack.start(UNTHROTTLED, { multiRegionKey: true });
    moto = (stack as Stack & { moto: Moto }).moto;
    token = await stack.token();
    for (let user = 1; user <= USERS; user++) {
      const userId = String(9300 + user);
      written.set(userId, await writeVersions(stack, token, userId, VERSIONS));
    }
    oldKey = stack.env.KMS_KEY_ID;
    replicaOfOld = (await moto.replicateKey(oldKey, MOTO_SECOND_REGION)).Arn!;
    const there = moto.kms(MOTO_SECOND_REGION);
    newKey = (await there.send(new CreateKeyCommand({ Description: 'pii-encryption-api tests: the new key' }))).KeyMetadata!.Arn!;
    there.destroy();
    proxy = await new KmsFaultProxy(moto.endpoint).start();
    proxy.refuseOtherRegions = true;
  });
  after(async () => {
    await proxy?.stop();
    await stack?.close();
  });

  const decryptEverything = (url: string) => decryptEverythingOf(stack.contract, url, token, written);
  const on = (url: string) => checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), stack.contract);
  /** A deployment in the second region, its KMS calls through the proxy. */
  const secondRegion = async (env: Record<string, string>) =>
    urlOf(await stack.startAnother({ AWS_REGION: MOTO_SECOND_REGION, KMS_ENDPOINT: proxy.endpoint, ...env }));

  it('decrypts in the second region with the new key current, and the KMS migration re-seals every key under it', async () => {
    assert.match(oldKey, new RegExp(`^arn:aws:kms:${MOTO_REGION}:\\d{12}:key/mrk-`));
    assert.equal(keyIdOf(replicaOfOld), keyIdOf(oldKey));
    assert.match(newKey, new RegExp(`^arn:aws:kms:${MOTO_SECOND_REGION}:`));
    const url = await secondRegion({ KMS_KEY_ID: newKey, KMS_PREVIOUS_KEY_IDS: oldKey, KMS_MIGRATION_RATE_PER_SECOND: '10000' });

    await decryptEverything(url);
    const opened = proxy.log.filter((call) => call.operation === 'Decrypt');
    assert.ok(opened.length >= USERS, `Decrypt calls: ${opened.length}`);
    for (const call of opened) {
      assert.equal(call.region, MOTO_SECOND_REGION);
      assert.equal(call.keyId, replicaOfOld, 'the old key is named by its replica in the second region');
    }

    const before = (await on(url).get('/api/v1/admin/kms-migration').expect(200)).body;
    assert.equal(before.currentKeyId, newKey);
    assert.ok(before.remaining.total >= USERS * VERSIONS, JSON.stringify(before.remaining));
    await on(url).post('/api/v1/admin/kms-migration').expect(201);
    let status = before;
    const deadline = Date.now() + 60_000;
    while (!status.complete || status.migration?.outcome !== 'done') {
      assert.ok(Date.now() < deadline, `migration not done in time: ${JSON.stringify(status)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = (await on(url).get('/api/v1/admin/kms-migration').expect(200)).body;
    }
    assert.equal(status.migration.resealed, before.remaining.total);
    const reEncrypts = proxy.log.filter((call) => call.operation === 'ReEncrypt');
    assert.equal(reEncrypts.length, before.remaining.total, 'one ReEncrypt per sealed key, none refused and retried');
    for (const call of reEncrypts) assert.equal(call.sourceKeyId, replicaOfOld);
    const notNew = await stack.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT kms_key_id FROM user_keys WHERE sealed_private_key IS NOT NULL
         UNION ALL SELECT kms_key_id FROM user_key_history WHERE sealed_private_key IS NOT NULL) k WHERE kms_key_id IS DISTINCT FROM $1`,
      [newKey],
    );
    assert.equal(notNew[0].n, 0);

    // The old key dropped from the settings: everything opens under the new key alone.
    await decryptEverything(await secondRegion({ KMS_KEY_ID: newKey }));
  });
});
