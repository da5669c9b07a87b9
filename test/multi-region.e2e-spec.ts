import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { KmsFaultProxy } from './support/kms-fault-proxy';
import { keyIdOf, Moto, MOTO_REGION, MOTO_SECOND_REGION } from './support/moto';
import { checkedAgent } from './support/openapi-contract';
import { awsStack, Stack, urlOf } from './support/stacks';
import { decryptEverything as decryptEverythingOf, writeVersions } from './support/versions';

const UNTHROTTLED = { RATE_LIMIT_PER_MINUTE: '100000' };
const USERS = 5;
const VERSIONS = 2;

/**
 * A regional failover of the key service (docs/operations.md §3.4): private keys sealed in one
 * region under a multi-region primary key are unsealed in another region through its replica
 * key, by a deployment that names that region (AWS_REGION) and the replica's ARN (KMS_KEY_ID),
 * on the same database (in production: a read replica promoted, or a restored snapshot).
 * KMS only: the local provider has no regions (its master key file is the whole key, and a copy
 * of DATA_DIR opens anywhere; docs/operations.md §3.4).
 */
describe(`multi-region KMS key — ${awsStack.name}`, () => {
  let stack: Stack;
  let moto: Moto;
  let token: string;
  let replica: { arn: string; type?: string; id?: string };
  let proxy: KmsFaultProxy;
  const written = new Map<string, Array<{ ciphertext: string; plaintext: string }>>();

  before(async () => {
    stack = await awsStack.start(UNTHROTTLED, { multiRegionKey: true });
    moto = (stack as Stack & { moto: Moto }).moto;
    token = await stack.token();
    for (let user = 1; user <= USERS; user++) {
      const userId = String(9100 + user);
      written.set(userId, await writeVersions(stack, token, userId, VERSIONS));
    }
    const metadata = await moto.replicateKey(stack.env.KMS_KEY_ID, MOTO_SECOND_REGION);
    replica = { arn: metadata.Arn!, type: metadata.MultiRegionConfiguration?.MultiRegionKeyType, id: metadata.KeyId };
    proxy = await new KmsFaultProxy(moto.endpoint).start();
  });
  after(async () => {
    await proxy?.stop();
    await stack?.close();
  });

  const decryptEverything = (url: string) => decryptEverythingOf(stack.contract, url, token, written);
  /** Requests to the failover deployment at `url` as the caller holding `token`, checked as the stack's own are. */
  const on = (url: string) => checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), stack.contract);

  it('seals under the multi-region primary key in the first region', async () => {
    assert.match(stack.env.KMS_KEY_ID, new RegExp(`^arn:aws:kms:${MOTO_REGION}:\\d{12}:key/mrk-`));
    const rows = await stack.query<{ kms_key_id: string }>(
      `SELECT kms_key_id FROM user_keys WHERE user_id BETWEEN 9101 AND 9105 UNION ALL SELECT kms_key_id FROM user_key_history WHERE user_id BETWEEN 9101 AND 9105`,
    );
    assert.equal(rows.length, USERS * VERSIONS);
    for (const row of rows) assert.equal(row.kms_key_id, stack.env.KMS_KEY_ID);
    await decryptEverything(stack.url);
  });

  it('unseals every version in the second region through the replica key alone, and seals new keys there', async () => {
    assert.equal(replica.type, 'REPLICA');
    assert.equal(replica.id, keyIdOf(stack.env.KMS_KEY_ID), 'a replica has the same key id as its primary');
    assert.match(replica.arn, new RegExp(`^arn:aws:kms:${MOTO_SECOND_REGION}:`));
    const failover = urlOf(
      await stack.startAnother({ AWS_REGION: MOTO_SECOND_REGION, KMS_KEY_ID: replica.arn, KMS_ENDPOINT: proxy.endpoint }),
    );

    await decryptEverything(failover);
    const decrypts = proxy.log.filter((call) => call.operation === 'Decrypt');
    assert.ok(decrypts.length >= USERS, `KMS Decrypt calls from the second region: ${decrypts.length}`);
    assert.deepEqual(
      proxy.log.filter((call) => call.region !== MOTO_SECOND_REGION),
      [],
      'every KMS call of the failover deployment went to its own region',
    );
    for (const call of decrypts) assert.equal(call.keyId, replica.arn, 'unsealed by naming the replica key');
    const { body: migration } = await on(failover).get('/api/v1/admin/kms-migration').expect(200);
    assert.equal(migration.currentKeyId, replica.arn);
    assert.equal(migration.remaining.total, 0, 'keys sealed under the primary count as under the current key: no migration is due');
    assert.equal(migration.complete, true);

    // A user created during the failover is sealed under the replica, and opens in the first region again.
    await on(failover).post('/api/v1/keys').send({ userId: '9199' }).expect(201);
    const [row] = await stack.query<{ kms_key_id: string }>(`SELECT kms_key_id FROM user_keys WHERE user_id = 9199`);
    assert.equal(row.kms_key_id, replica.arn);
    const { body } = await on(failover)
      .post('/api/v1/encrypt')
      .send({ userId: '9199', data: ['written during the failover'] })
      .expect(200);
    const back = await stack.as(token).post('/api/v1/decrypt').send({ userId: '9199', data: body.encryptedData }).expect(200);
    assert.deepEqual(back.body.decryptedData, ['written during the failover']);
  });
});
