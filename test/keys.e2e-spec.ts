import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KEY_VERSIONS_PAGE_SIZE } from '../src/common/limits';
import { Stack, STACKS } from './support/stacks';

for (const definition of STACKS) {
  describe(`keys — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    before(async () => {
      stack = await definition.start();
      token = await stack.token();
    });
    after(() => stack?.close());

    it('creates a key pair once: 201 created, then 200 created:false', async () => {
      const first = await stack.as(token).post('/api/v1/keys').send({ userId: '1001' });
      assert.equal(first.status, 201);
      assert.deepEqual(first.body, { success: true, created: true, keyVersion: 1 });
      const again = await stack.as(token).post('/api/v1/keys').send({ userId: '1001' });
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, { success: true, created: false, keyVersion: 1 });
    });

    it('yields exactly one key when many create calls for one user race', async () => {
      const responses = await Promise.all(Array.from({ length: 8 }, () => stack.as(token).post('/api/v1/keys').send({ userId: '1002' })));
      assert.deepEqual(responses.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 200, 200, 201]);
      assert.equal(responses.filter((r) => r.body.created).length, 1);
      const rows = await stack.query(`SELECT key_version FROM user_keys WHERE user_id = 1002`);
      assert.deepEqual(
        rows.map((r) => r.key_version),
        [1],
      );
    });

    it('shows metadata and the X-Wing public key (base64 of 1216 bytes), never private material', async () => {
      await stack.as(token).post('/api/v1/keys').send({ userId: '1003' });
      const response = await stack.as(token).get('/api/v1/keys/1003');
      assert.equal(response.status, 200);
      assert.equal(response.body.userId, '1003');
      assert.equal(response.body.keyVersion, 1);
      // KEY_ALGORITHM's default; test/hybrid-keys.e2e-spec.ts shows RSA-OAEP-256 versions (PEM, modulusBits) beside it.
      assert.equal(response.body.algorithm, 'X-Wing');
      assert.equal(response.body.modulusBits, undefined);
      assert.equal(Buffer.from(response.body.publicKey, 'base64').length, 1216);
      assert.equal(Buffer.from(response.body.publicKey, 'base64').toString('base64'), response.body.publicKey);
      assert.deepEqual(
        response.body.versions.map((v: { keyVersion: number; status: string; algorithm: string }) => [v.keyVersion, v.status, v.algorithm]),
        [[1, 'current', 'X-Wing']],
      );
      assert.doesNotMatch(response.text, /PRIVATE|sealed/i);
    });

    it('stores the private key only sealed', async () => {
      const [row] = await stack.query(`SELECT key, algorithm, sealed_private_key, key_provider FROM user_keys WHERE user_id = 1003`);
      assert.equal(row.algorithm, 'X-Wing');
      assert.equal(Buffer.from(row.key, 'base64').length, 1216);
      const sealed: Buffer = row.sealed_private_key;
      // The private key is a 32-byte seed: sealed, it is longer (IV, tag, or KMS's envelope), never the bare 32 bytes.
      assert.ok(sealed.length > 32 + 16, `sealed key of ${sealed.length} bytes`);
      assert.equal(row.key_provider, stack.env.KEY_PROVIDER ?? 'local');
    });

    it('answers 404 KEY001 for a user without a key', async () => {
      const response = await stack.as(token).get('/api/v1/keys/999999');
      assert.equal(response.status, 404);
      assert.equal(response.body.code, 'KEY001');
      assert.equal(response.body.statusCode, 404);
      assert.ok(response.body.requestId);
    });

    it('rejects ids that are not positive 64-bit decimal strings with ENC001, writing nothing', async () => {
      for (const userId of ['0', '-1', '042', '9223372036854775808', 'abc', 42, null, '1'.repeat(20)]) {
        const response = await stack.as(token).post('/api/v1/keys').send({ userId });
        assert.equal(response.status, 400, `userId ${JSON.stringify(userId)}`);
        assert.equal(response.body.code, 'ENC001');
        assert.match(response.body.message, /userId/);
      }
      const path = await stack.as(token).get('/api/v1/keys/01');
      assert.equal(path.body.code, 'ENC001');
      const [{ count }] = await stack.query(`SELECT count(*)::int AS count FROM user_keys WHERE user_id IN (0, 42)`);
      assert.equal(count, 0);
    });

    it('accepts the largest 64-bit user id', async () => {
      const response = await stack.as(token).post('/api/v1/keys').send({ userId: '9223372036854775807' });
      assert.equal(response.status, 201);
    });

    it('rejects unknown fields with ENC001 naming them', async () => {
      const response = await stack.as(token).post('/api/v1/keys').send({ userId: '1004', admin: true });
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC001');
      assert.match(response.body.message, /admin should not exist/);
    });
  });
}

for (const definition of STACKS) {
  describe(`the versions list of GET /keys/{userId}, paginated — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    const TOTAL = 250;
    const get = (query = '') => stack.as(token).get(`/api/v1/keys/1101${query}`);

    before(async () => {
      stack = await definition.start();
      token = await stack.token();
      // A person with 250 versions: one rotated through the API, the older ones written straight into the history.
      await stack.as(token).post('/api/v1/keys').send({ userId: '1101' });
      await stack.as(token).post('/api/v1/rotate').send({ userId: '1101', data: [] });
      await stack.query(
        `INSERT INTO user_key_history (user_id, key_version, algorithm, key_value, sealed_private_key, key_provider, kms_key_id, created_at, rotation_date, rotation_reason)
         SELECT h.user_id, h.key_version + v, h.algorithm, h.key_value, h.sealed_private_key, h.key_provider, h.kms_key_id, h.created_at, h.rotation_date, 'scheduled'
           FROM user_key_history h, generate_series(1, $1::int) v WHERE h.user_id = 1101 AND h.key_version = 1`,
        [TOTAL - 2],
      );
      await stack.query(`UPDATE user_keys SET key_version = $1 WHERE user_id = 1101`, [TOTAL]);
    });
    after(() => stack?.close());

    it('lists the newest 100 versions by default, current first, with a cursor to the older ones', async () => {
      const response = await get();
      assert.equal(response.status, 200);
      assert.equal(response.body.keyVersion, TOTAL);
      assert.equal(response.body.versions.length, 100);
      assert.deepEqual(response.body.versions[0].status, 'current');
      assert.deepEqual(
        response.body.versions.map((v: { keyVersion: number }) => v.keyVersion),
        Array.from({ length: 100 }, (_, i) => TOTAL - i),
      );
      assert.equal(response.body.nextVersionsCursor, String(TOTAL - 99));
    });

    it('walks every version once, newest first, page by page with versionsLimit and versionsCursor', async () => {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const response = await get(`?versionsLimit=64${cursor ? `&versionsCursor=${cursor}` : ''}`);
        assert.equal(response.status, 200);
        assert.ok(response.body.versions.length <= 64);
        seen.push(...response.body.versions.map((v: { keyVersion: number }) => v.keyVersion));
        cursor = response.body.nextVersionsCursor;
        pages++;
      } while (cursor !== null && pages < 10);
      assert.equal(pages, Math.ceil(TOTAL / 64));
      assert.deepEqual(
        seen,
        Array.from({ length: TOTAL }, (_, i) => TOTAL - i),
      );
      const small = await stack.as(token).post('/api/v1/keys').send({ userId: '1102' });
      assert.equal(small.status, 201);
      const one = await stack.as(token).get('/api/v1/keys/1102');
      assert.deepEqual([one.body.versions.length, one.body.nextVersionsCursor], [1, null]);
    });

    it('refuses a versionsLimit above 1000, a versionsCursor it did not hand out, and unknown parameters with ENC001', async () => {
      for (const query of [
        `?versionsLimit=${KEY_VERSIONS_PAGE_SIZE.max + 1}`,
        '?versionsLimit=0',
        '?versionsCursor=abc',
        '?versionsCursor=0',
        '?versions=all',
      ]) {
        const response = await get(query);
        assert.equal(response.status, 400, query);
        assert.equal(response.body.code, 'ENC001', query);
      }
      assert.equal((await get(`?versionsLimit=${KEY_VERSIONS_PAGE_SIZE.max}`)).body.versions.length, TOTAL);
    });
  });
}
