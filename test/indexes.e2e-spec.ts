import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { checkedAgent } from './support/openapi-contract';
import { captureProcessOutput } from './support/process-output';
import { Stack, STACKS } from './support/stacks';

/** Per caller and minute: ample for each identity below but one. */
const RATE_LIMIT = 150;
const bytesOf = (index: string) => Buffer.from(index, 'base64url');

for (const definition of STACKS) {
  describe(`blind indexes — ${definition.name}`, () => {
    let stack: Stack;
    let admin: string;
    let indexer: string;
    let writer: string;
    let encryptOnly: string;
    let output: ReturnType<typeof captureProcessOutput>;
    /** Every value sent and every index long enough to be recognised: none may reach a log line or an audit event. */
    const secrets = new Set<string>();
    /** A distinctive value without digits. */
    const marker = (label: string) => {
      const value = `${label} ${randomUUID().replace(/[^a-f]/g, '')}`;
      secrets.add(value);
      return value;
    };

    const define = (body: object, token = admin) => stack.as(token).post('/api/v1/indexes').send(body);
    const compute = async (name: string, data: string[], agent: request.Agent = stack.as(indexer)) => {
      // Short values ('1', 'jane doe') could turn up in a log line by chance (a time, a count); long ones cannot.
      for (const value of data) if (value.length >= 11) secrets.add(value);
      const response = await agent.post(`/api/v1/indexes/${name}`).send({ data });
      for (const index of [...(response.body.indexes ?? []), ...(response.body.previous?.indexes ?? [])])
        if (index.length >= 16) secrets.add(index);
      return response;
    };

    before(async () => {
      output = captureProcessOutput();
      // One operator finishes rotations here: the two-person rule (DUAL_CONTROL) is tested in test/dual-control.e2e-spec.ts.
      stack = await definition.start({ LOG_LEVEL: 'debug', RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT), DUAL_CONTROL: 'off' });
      [admin, indexer, writer, encryptOnly] = await Promise.all([
        stack.identity('index-operator', ['indexes:admin']),
        stack.identity('lookup-service', ['index']),
        stack.identity('records-service', ['keys:write', 'encrypt', 'index']),
        stack.identity('encrypt-only', ['encrypt']),
      ]);
      for (const body of [
        { name: 'sin', normalisation: 'digits', outputBits: 16, expectedCardinality: 1_000_000 },
        { name: 'sin_copy', normalisation: 'digits', outputBits: 16, expectedCardinality: 1_000_000 },
        { name: 'email', normalisation: 'email', outputBits: 12, expectedCardinality: 100_000 },
        { name: 'full_name', normalisation: 'text', outputBits: 8, expectedCardinality: 50_000 },
        { name: 'account_number', normalisation: 'digits', outputBits: 256, expectedCardinality: 10_000, exactMatch: true },
      ]) {
        const response = await define(body);
        assert.equal(response.status, 201, JSON.stringify(response.body));
      }
    });
    after(async () => {
      await stack?.close();
      output?.restore();
    });

    it('gives one index for one value however it is spelled (digits, email, text)', async () => {
      const sin = await compute('sin', ['046 454 286', '046-454-286', '０４６４５４２８６', '046454287']);
      assert.equal(sin.status, 200);
      const [a, b, c, other] = sin.body.indexes;
      assert.equal(a, b);
      assert.equal(a, c);
      assert.notEqual(a, other);

      const email = await compute('email', ['  Jane.Doe@Example.COM ', 'Jane.Doe@example.com', 'jane.doe@example.com']);
      assert.equal(email.body.indexes[0], email.body.indexes[1]);
      const name = await compute('full_name', ['  Ｊａｎｅ\t DOE ', 'jane doe', 'JANE   Doe']);
      assert.equal(new Set(name.body.indexes).size, 1);
    });

    it('names the first value that does not normalise, without quoting it', async () => {
      const value = marker('no digits');
      const response = await compute('sin', ['046 454 286', value]);
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'ENC001');
      assert.match(response.body.message, /^data\[1\] has no digits/);
      assert.doesNotMatch(JSON.stringify(response.body), new RegExp(value));
    });

    it('keeps the configured number of bits', async () => {
      const values = Array.from({ length: 50 }, (_, i) => `${100_000_000 + i}`);
      const sin = (await compute('sin', values)).body;
      assert.equal(sin.outputBits, 16);
      assert.ok(sin.indexes.every((index: string) => bytesOf(index).length === 2));
      const email = (
        await compute(
          'email',
          values.map((v) => `${v}@example.com`),
        )
      ).body;
      assert.ok(
        email.indexes.every((index: string) => bytesOf(index).length === 2 && (bytesOf(index)[1] & 0x0f) === 0),
        '12 bits: the last 4 are zero',
      );
      const exact = (await compute('account_number', values)).body;
      assert.ok(exact.indexes.every((index: string) => bytesOf(index).length === 32));
      assert.equal(new Set(exact.indexes).size, values.length, 'an exact-match index names one value');
    });

    it('gives another index for the same value under another index name', async () => {
      const value = '046 454 286';
      const [one, two] = await Promise.all([compute('sin', [value]), compute('sin_copy', [value])]);
      const values = Array.from({ length: 20 }, (_, i) => `${200_000_000 + i}`);
      const [many, manyCopy] = await Promise.all([compute('sin', values), compute('sin_copy', values)]);
      assert.notDeepEqual([...one.body.indexes, ...many.body.indexes], [...two.body.indexes, ...manyCopy.body.indexes]);
    });

    it('gives the same indexes on another replica, and after a restart with nothing cached', async () => {
      const values = ['046 454 286', '123-456-789'];
      const here = (await compute('sin', values)).body.indexes;
      const replica = checkedAgent(
        request.agent((await stack.startAnother()).getHttpServer()).auth(indexer, { type: 'bearer' }),
        stack.contract,
      );
      const cold = checkedAgent(
        request.agent((await stack.startAnother({ INDEX_KEY_CACHE_SECONDS: '0' })).getHttpServer()).auth(indexer, { type: 'bearer' }),
        stack.contract,
      );
      assert.deepEqual((await compute('sin', values, replica)).body.indexes, here);
      assert.deepEqual((await compute('sin', values, cold)).body.indexes, here);
      assert.deepEqual((await compute('sin', values, cold)).body.indexes, here);
    });

    it('refuses an output size that makes every index unique for the cardinality, unless exactMatch', async () => {
      const refused = await define({ name: 'too_precise', normalisation: 'digits', outputBits: 20, expectedCardinality: 1_000_000 });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.code, 'IDX004');
      assert.match(refused.body.message, /0\.954 expected coincidences per lookup.*use 10 to 18 bits/);
      const accepted = await define({
        name: 'too_precise',
        normalisation: 'digits',
        outputBits: 20,
        expectedCardinality: 1_000_000,
        exactMatch: true,
      });
      assert.equal(accepted.status, 201);
      assert.equal(accepted.body.plan.unique, true);

      const described = await stack.as(admin).get('/api/v1/indexes/sin');
      assert.equal(described.status, 200);
      assert.equal(described.body.plan.expectedCoincidences, 15.3);
      assert.deepEqual(described.body.plan.recommendedBits, { min: 10, max: 18 });
    });

    it('answers the existing index for the same definition, and refuses another definition under its name', async () => {
      const same = await define({ name: 'sin', normalisation: 'digits', outputBits: 16, expectedCardinality: 1_000_000 });
      assert.equal(same.status, 200);
      assert.equal(same.body.created, false);
      const other = await define({ name: 'sin', normalisation: 'digits', outputBits: 14, expectedCardinality: 1_000_000 });
      assert.equal(other.status, 409);
      assert.equal(other.body.code, 'IDX002');
      const unknown = await compute('nothing_here', ['1']);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, 'IDX001');
      const bad = await define({ name: 'Bad-Name', normalisation: 'digits', outputBits: 8, expectedCardinality: 1000 });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'ENC001');
    });

    it('/encrypt with an index answers ciphertexts and indexes in one call, recorded as one event', async () => {
      await stack.as(writer).post('/api/v1/keys').send({ userId: '9101' });
      const sin = '046 454 286';
      const requestId = `idx-${randomUUID()}`;
      const response = await stack
        .as(writer)
        .post('/api/v1/encrypt')
        .set('x-request-id', requestId)
        .send({ userId: '9101', data: [sin], index: 'sin' });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.encryptedData.length, 1);
      assert.deepEqual(response.body.blindIndexes.indexes, (await compute('sin', [sin])).body.indexes);
      const events = await stack.query(`SELECT action, outcome, item_count, details FROM audit_events WHERE request_id = $1`, [requestId]);
      assert.deepEqual(
        events.map((event) => [event.action, event.outcome, event.item_count]),
        [['encrypt', 'success', 1]],
      );
      assert.equal(events[0].details.index, 'sin');

      const denied = await stack
        .as(encryptOnly)
        .post('/api/v1/encrypt')
        .send({ userId: '9101', data: [sin], index: 'sin' });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.code, 'AUTH002');
      assert.equal(
        (
          await stack
            .as(encryptOnly)
            .post('/api/v1/encrypt')
            .send({ userId: '9101', data: [sin] })
        ).status,
        200,
      );
    });

    it('rotates: answers carry the current and the previous version, then only the new one once finished', async () => {
      const values = ['046 454 286', '987 654 321'];
      const before = (await compute('sin', values)).body;
      assert.equal(before.keyVersion, 1);
      assert.equal(before.previous, undefined);

      const started = await stack.as(admin).post('/api/v1/indexes/sin/rotate');
      assert.equal(started.status, 200);
      assert.equal(started.body.currentVersion, 2);
      assert.equal(started.body.rotationInProgress, true);
      const again = await stack.as(admin).post('/api/v1/indexes/sin/rotate');
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'IDX003');

      const during = (await compute('sin', values)).body;
      assert.equal(during.keyVersion, 2);
      assert.deepEqual(during.previous, { keyVersion: 1, indexes: before.indexes });
      assert.notDeepEqual(during.indexes, before.indexes);
      const encrypted = await stack.as(writer).post('/api/v1/encrypt').send({ userId: '9101', data: values, index: 'sin' });
      assert.deepEqual(encrypted.body.blindIndexes, during);

      const finished = await stack.as(admin).post('/api/v1/indexes/sin/finish-rotation');
      assert.equal(finished.status, 200);
      assert.deepEqual(finished.body.versionsDestroyed, [1]);
      assert.deepEqual(
        finished.body.versions.map((v: { keyVersion: number; status: string }) => [v.keyVersion, v.status]),
        [
          [1, 'destroyed'],
          [2, 'current'],
        ],
      );
      const afterwards = (await compute('sin', values)).body;
      assert.deepEqual(afterwards, { index: 'sin', keyVersion: 2, outputBits: 16, indexes: during.indexes });
      const [old] = await stack.query(`SELECT sealed_key, destroyed_at FROM blind_index_keys WHERE index_name = 'sin' AND key_version = 1`);
      assert.equal(old.sealed_key, null);
      assert.ok(old.destroyed_at);
      const nothingToFinish = await stack.as(admin).post('/api/v1/indexes/sin/finish-rotation');
      assert.equal(nothingToFinish.status, 409);
      assert.equal(nothingToFinish.body.code, 'IDX003');
    });

    it('needs indexes:admin to define, list and rotate, and index to compute', async () => {
      const body = { name: 'by_lookup', normalisation: 'digits', outputBits: 8, expectedCardinality: 1000 };
      assert.equal((await define(body, indexer)).body.code, 'AUTH002');
      assert.equal((await stack.as(indexer).get('/api/v1/indexes')).status, 403);
      assert.equal((await stack.as(indexer).post('/api/v1/indexes/sin/rotate')).status, 403);
      assert.equal((await stack.as(indexer).post('/api/v1/indexes/sin/finish-rotation')).status, 403);
      assert.equal((await compute('sin', ['1'], stack.as(admin))).status, 403);
      assert.equal(
        (
          await stack
            .http()
            .post('/api/v1/indexes/sin')
            .send({ data: ['1'] })
        ).status,
        401,
      );
      const listed = await stack.as(admin).get('/api/v1/indexes');
      assert.deepEqual(
        listed.body.indexes.map((index: { name: string }) => index.name),
        ['account_number', 'email', 'full_name', 'sin', 'sin_copy', 'too_precise'],
      );
    });

    it('counts index requests toward the caller’s rate limit', async () => {
      const greedy = stack.as(await stack.identity('greedy-lookups', ['index']));
      const statuses: number[] = [];
      for (let i = 0; i <= RATE_LIMIT; i++) statuses.push((await compute('sin', [String(i)], greedy)).status);
      assert.deepEqual(statuses.slice(0, RATE_LIMIT), Array(RATE_LIMIT).fill(200));
      assert.equal(statuses[RATE_LIMIT], 429);
    });

    it('audits every index request with the name, the count and the caller, and never a value or an index', async () => {
      const lookups = await stack.query(
        `SELECT actor_sub, item_count, key_versions, details FROM audit_events WHERE action = 'index.compute' AND outcome = 'success' ORDER BY occurred_at`,
      );
      assert.ok(lookups.length >= 10);
      assert.ok(lookups.every((event) => event.actor_sub && event.item_count >= 1 && /^[a-z_]+$/.test(event.details.index)));
      assert.ok(lookups.some((event) => event.details.distinctItems === 50));
      const rotations = await stack.query(
        `SELECT action, key_versions, details FROM audit_events WHERE action LIKE 'index.%rotat%' AND outcome = 'success'`,
      );
      assert.deepEqual(rotations.map((event) => event.action).sort(), ['index.finish-rotation', 'index.rotate']);

      const audit = JSON.stringify(await stack.query(`SELECT * FROM audit_events`));
      const logs = output.text();
      assert.ok(logs.length > 0, 'the app logged at debug level');
      assert.ok(secrets.size > 20);
      for (const secret of secrets) {
        assert.ok(!audit.includes(secret), `an audit event holds a value or index: ${secret.slice(0, 4)}…`);
        assert.ok(!logs.includes(secret), `a log line holds a value or index: ${secret.slice(0, 4)}…`);
      }
    });
  });
}
