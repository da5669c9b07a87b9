import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ml_kem768_x25519 as xwing } from '@noble/post-quantum/hybrid.js';
import { KEY_PROVIDER, KeyProvider } from '../src/key-provider/key-provider';
import { RotationScheduler } from '../src/rotation/rotation.scheduler';
import { clientDecryptEk2, clientEncrypt, clientEncryptEk2 } from './support/client-crypto';
import { Stack, STACKS } from './support/stacks';

/**
 * Quantum-safe keys (issue 27): people whose keys were made under KEY_ALGORITHM=rsa-oaep, and
 * people made after a restart with KEY_ALGORITHM=x-wing, through every route: rotation (manual
 * and scheduled) moves a person to X-Wing, their ek1 ciphertexts keep decrypting, /rewrap moves
 * ek1 to ek2, /translate works between the algorithms, canaries, the census metric, crypto-shred;
 * and ek2 interoperates with @noble/post-quantum both ways.
 */
const UNAUTHENTIC = (name: string) => `${name} failed authentication: tampered, or not encrypted for this user`;
/** The same item claiming another key version (its additional data still names the old one). */
const asVersion = (ciphertext: string, version: number) => ciphertext.replace(/^(ek[12]):\d+:/, `$1:${version}:`);

const ALICE = '2701'; // RSA, then rotated by /rotate to X-Wing
const BOB = '2702'; // RSA, then rotated by the scheduled job to X-Wing
const CAROL = '2703'; // RSA throughout
const DAVE = '2704'; // X-Wing from the start

for (const definition of STACKS) {
  describe(`keys of both algorithms, RSA-OAEP-256 and X-Wing — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    const post = (path: string, body: object) => stack.as(token).post(`/api/v1/${path}`).send(body);
    const getKey = async (userId: string) => (await stack.as(token).get(`/api/v1/keys/${userId}`)).body;
    const encrypt = async (userId: string, data: string[]) => {
      const response = await post('encrypt', { userId, data });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.encryptedData as string[];
    };
    const decrypt = (userId: string, data: string[]) => post('decrypt', { userId, data });
    const decrypted = async (userId: string, data: string[]) => {
      const response = await decrypt(userId, data);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.decryptedData as string[];
    };
    const versionsOf = async (userId: string) =>
      (await getKey(userId)).versions.map((v: { keyVersion: number; status: string; algorithm: string }) => [
        v.keyVersion,
        v.status,
        v.algorithm,
      ]);

    let aliceV1: string[];
    let bobV1: string[];

    before(async () => {
      stack = await definition.start({ KEY_ALGORITHM: 'rsa-oaep', ROTATION_ENABLED: 'false' });
      token = await stack.token();
      for (const userId of [ALICE, BOB, CAROL]) assert.equal((await post('keys', { userId })).status, 201);
      aliceV1 = await encrypt(ALICE, ['Jane Doe', '046 454 286']);
      bobV1 = await encrypt(BOB, ['Bob account 0012']);
    });
    after(() => stack?.close());

    it('makes RSA-OAEP-256 keys under KEY_ALGORITHM=rsa-oaep: a PEM public key, modulusBits, ek1 ciphertexts', async () => {
      const key = await getKey(ALICE);
      assert.deepEqual([key.algorithm, key.modulusBits, key.keyVersion], ['RSA-OAEP-256', 2048, 1]);
      assert.match(key.publicKey, /^-----BEGIN PUBLIC KEY-----/);
      assert.deepEqual(await versionsOf(ALICE), [[1, 'current', 'RSA-OAEP-256']]);
      for (const item of aliceV1) assert.match(item, /^ek1:1:/);
      const [row] = await stack.query(`SELECT algorithm, sealed_private_key FROM user_keys WHERE user_id = ${ALICE}`);
      assert.equal(row.algorithm, 'RSA-OAEP-256');
      assert.ok(!(row.sealed_private_key[0] === 0x30 && row.sealed_private_key[1] === 0x82), 'the sealed key looks like plain DER');
      // What a client writes from the document with the published PEM decrypts too.
      assert.deepEqual(await decrypted(CAROL, [clientEncrypt((await getKey(CAROL)).publicKey, CAROL, 1, 'by hand')]), ['by hand']);
    });

    it('after a restart with KEY_ALGORITHM=x-wing, people keep their RSA version and new people get X-Wing (ek2)', async () => {
      await stack.restart({ KEY_ALGORITHM: 'x-wing', ROTATION_ENABLED: 'false' });
      assert.equal((await post('keys', { userId: DAVE })).status, 201);
      const dave = await getKey(DAVE);
      assert.deepEqual([dave.algorithm, dave.modulusBits, dave.keyVersion], ['X-Wing', undefined, 1]);
      assert.equal(Buffer.from(dave.publicKey, 'base64').length, 1216);
      assert.match((await encrypt(DAVE, ['x']))[0], /^ek2:1:/);
      assert.equal((await getKey(ALICE)).algorithm, 'RSA-OAEP-256');
      assert.match((await encrypt(ALICE, ['still RSA']))[0], /^ek1:1:/);
      assert.deepEqual(await decrypted(ALICE, aliceV1), ['Jane Doe', '046 454 286']);
    });

    it('moves a person to X-Wing by /rotate: version 2 is X-Wing, the ek1 items of version 1 still decrypt, new items are ek2', async () => {
      const rotated = await post('rotate', { userId: ALICE, data: { name: aliceV1[0], sin: aliceV1[1], note: 'ek1: look-alike' } });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.equal(rotated.body.keyVersion, 2);
      const { name, sin, note } = rotated.body.rotatedData;
      assert.match(name, /^ek2:2:/);
      assert.match(sin, /^ek2:2:/);
      assert.equal(note, 'ek1: look-alike');
      const fresh = await encrypt(ALICE, ['after the move']);
      assert.match(fresh[0], /^ek2:2:/);
      // One batch of both formats, each under its own version.
      assert.deepEqual(await decrypted(ALICE, [aliceV1[0], name, fresh[0], aliceV1[1]]), [
        'Jane Doe',
        'Jane Doe',
        'after the move',
        '046 454 286',
      ]);
      const key = await getKey(ALICE);
      assert.deepEqual([key.algorithm, key.modulusBits], ['X-Wing', undefined]);
      assert.deepEqual(await versionsOf(ALICE), [
        [2, 'current', 'X-Wing'],
        [1, 'retired', 'RSA-OAEP-256'],
      ]);
      const [history] = await stack.query(`SELECT algorithm FROM user_key_history WHERE user_id = ${ALICE} AND key_version = 1`);
      assert.equal(history.algorithm, 'RSA-OAEP-256');
    });

    it('rewraps ek1 items of the RSA version as ek2 items of the X-Wing version', async () => {
      const response = await post('rewrap', { userId: ALICE, data: aliceV1 });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      for (const item of response.body.rewrappedData) assert.match(item, /^ek2:2:/);
      assert.deepEqual(await decrypted(ALICE, response.body.rewrappedData), ['Jane Doe', '046 454 286']);
    });

    it('refuses an ek2 item under an RSA version, and an ek1 item under an X-Wing version, with 400 ENC002 like any unauthentic item', async () => {
      // Well-formed items of the other format, made with a real key of the other algorithm for exactly this person and version.
      const ek1ForDave = clientEncrypt((await getKey(CAROL)).publicKey, DAVE, 1, 'wrong format');
      const [ek2ForCarol] = clientEncryptEk2((await getKey(DAVE)).publicKey, CAROL, 1, ['wrong format']);
      const [realDave] = await encrypt(DAVE, ['real']);
      for (const [userId, items] of [
        [DAVE, [realDave, ek1ForDave]],
        [CAROL, [(await encrypt(CAROL, ['real']))[0], ek2ForCarol]],
        [ALICE, [aliceV1[0], asVersion(aliceV1[1], 2)]],
        [ALICE, [aliceV1[0], asVersion((await encrypt(ALICE, ['v2']))[0], 1)]],
      ] as const) {
        const response = await decrypt(userId, [...items]);
        assert.equal(response.status, 400);
        assert.deepEqual([response.body.code, response.body.message], ['ENC002', UNAUTHENTIC('data[1]')]);
      }
    });

    it('translates between people whose keys differ in algorithm, both ways: RSA to X-Wing gives ek2, X-Wing to RSA gives ek1', async () => {
      const creator = await stack.identity('hybrid-estate-service', ['grants:write']);
      const approvers = await Promise.all(['hybrid-compliance', 'hybrid-legal'].map((name) => stack.identity(name, ['grants:approve'])));
      const grant = async (fromUserId: string, toUserId: string) => {
        const created = await stack.as(creator).post('/api/v1/grants').send({ fromUserId, toUserId, reason: 'Executor of the estate' });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        for (const approver of approvers) await stack.as(approver).post(`/api/v1/grants/${created.body.id}/approve`).send({});
      };
      await grant(CAROL, DAVE);
      await grant(DAVE, CAROL);
      const [carolItem] = await encrypt(CAROL, ['from RSA']);
      const toDave = await post('translate', { fromUserId: CAROL, toUserId: DAVE, data: { item: carolItem } });
      assert.equal(toDave.status, 200, JSON.stringify(toDave.body));
      assert.match(toDave.body.translatedData.item, /^ek2:1:/);
      assert.deepEqual(await decrypted(DAVE, [toDave.body.translatedData.item]), ['from RSA']);
      const [daveItem] = await encrypt(DAVE, ['from X-Wing']);
      const toCarol = await post('translate', { fromUserId: DAVE, toUserId: CAROL, data: [daveItem] });
      assert.equal(toCarol.status, 200, JSON.stringify(toCarol.body));
      assert.match(toCarol.body.translatedData[0], /^ek1:1:/);
      assert.deepEqual(await decrypted(CAROL, toCarol.body.translatedData), ['from X-Wing']);
    });

    it('moves a due RSA person to X-Wing by the scheduled rotation; their ek1 items still decrypt', async () => {
      await stack.query(`UPDATE user_keys SET created_at = now() - interval '400 days' WHERE user_id = ${BOB}`);
      const { rotated } = await stack.app.get(RotationScheduler).run();
      assert.equal(rotated, 1);
      assert.deepEqual(await versionsOf(BOB), [
        [2, 'current', 'X-Wing'],
        [1, 'retired', 'RSA-OAEP-256'],
      ]);
      const [fresh] = await encrypt(BOB, ['after the scheduled move']);
      assert.match(fresh, /^ek2:2:/);
      assert.deepEqual(await decrypted(BOB, [...bobV1, fresh]), ['Bob account 0012', 'after the scheduled move']);
    });

    it('plants canary rows under an RSA version and an X-Wing version: each trips like a tampered item', async () => {
      for (const [userId, format] of [
        [CAROL, 'ek1'],
        [DAVE, 'ek2'],
      ]) {
        const planted = await post('canaries', { userId, label: 'hybrid', fields: [{ shape: 'name' }, { shape: 'sin' }] });
        assert.equal(planted.status, 201, JSON.stringify(planted.body));
        const [canary] = planted.body.canaries;
        for (const item of canary.ciphertexts) assert.match(item, new RegExp(`^${format}:1:`));
        // The fields of the row share what one /encrypt call's items share: the wrapped key or the encapsulation.
        assert.equal(new Set(canary.ciphertexts.map((c: string) => c.split(':')[2])).size, 1);
        const [real] = await encrypt(userId, ['real']);
        const response = await decrypt(userId, [real, canary.ciphertexts[1]]);
        assert.deepEqual([response.status, response.body.code, response.body.message], [400, 'ENC002', UNAUTHENTIC('data[1]')]);
      }
    });

    it('counts current keys by algorithm on /metrics and for an operator at GET /admin/key-census: the people still on RSA and those on X-Wing', async () => {
      const metrics = (await stack.http().get('/metrics')).text;
      const count = (algorithm: string) =>
        Number(new RegExp(`^pii_api_current_keys_by_algorithm\\{algorithm="${algorithm}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
      // Carol is still on RSA; Alice, Bob and Dave are on X-Wing.
      assert.deepEqual([count('RSA-OAEP-256'), count('X-Wing')], [1, 3]);
      const census = await stack.as(token).get('/api/v1/admin/key-census');
      assert.equal(census.status, 200);
      assert.deepEqual(census.body.currentKeys, { 'X-Wing': 3, 'RSA-OAEP-256': 1 });
      assert.ok(Date.now() - Date.parse(census.body.countedAt) < 120_000);
    });

    it('decrypts an ek2 item @noble/post-quantum made from the published key, and noble decapsulates what the service made, with the unsealed seed', async () => {
      const dave = await getKey(DAVE);
      const [byNoble] = clientEncryptEk2(dave.publicKey, DAVE, 1, ['sealed by noble']);
      assert.deepEqual(await decrypted(DAVE, [byNoble]), ['sealed by noble']);
      // The reverse: the seed as the key provider unseals it (never exposed by the API), used by noble alone.
      const [row] = await stack.query(
        `SELECT sealed_private_key AS sealed, key_provider, kms_key_id FROM user_keys WHERE user_id = ${DAVE}`,
      );
      const provider = stack.app.get<KeyProvider>(KEY_PROVIDER);
      const seed = await provider.unseal(
        { provider: row.key_provider, keyId: row.kms_key_id ?? 'local', ciphertext: row.sealed },
        { userId: DAVE, keyVersion: 1 },
      );
      assert.equal(seed.length, 32);
      assert.deepEqual(Buffer.from(xwing.keygen(seed).publicKey).toString('base64'), dave.publicKey);
      const [byService] = await encrypt(DAVE, ['sealed by the service']);
      assert.equal(clientDecryptEk2(seed, DAVE, byService), 'sealed by the service');
    });

    it('crypto-shreds a person with versions of both algorithms: the receipt commits to both, a repeat answers the same, nothing decrypts', async () => {
      const sealed = await stack.query<{ key_version: number; sealed: Buffer }>(
        `SELECT key_version, sealed_private_key AS sealed FROM user_keys WHERE user_id = ${ALICE}
         UNION ALL SELECT key_version, sealed_private_key FROM user_key_history WHERE user_id = ${ALICE} ORDER BY key_version`,
      );
      const response = await stack.as(token).delete(`/api/v1/keys/${ALICE}`);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.versionsDestroyed, 2);
      const payload = JSON.parse(Buffer.from(response.body.receipt.split('.')[1], 'base64url').toString('utf8'));
      assert.deepEqual(
        payload.versions,
        sealed.map((row) => ({
          keyVersion: row.key_version,
          sealedPrivateKeySha256: createHash('sha256').update(row.sealed).digest('hex'),
        })),
      );
      const again = await stack.as(token).delete(`/api/v1/keys/${ALICE}`);
      assert.equal(again.body.receipt, response.body.receipt);
      assert.equal((await decrypt(ALICE, aliceV1)).body.code, 'KEY001');
    });
  });
}
