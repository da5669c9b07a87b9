import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LIMIT_DEFAULTS, MAX_JSON_DEPTH } from '../src/common/limits';
import { ciphertextBodyLimitBytes } from '../src/envelope/ciphertexts';
import { checkedFetch } from './support/openapi-contract';
import { captureProcessOutput } from './support/process-output';
import { Stack, STACKS } from './support/stacks';

/** Where a hostile value goes in the body of each route that accepts JSON. */
const ROUTES: { path: string; wrap: (value: string) => string }[] = [
  { path: 'keys', wrap: (value) => `{"userId":${value}}` },
  { path: 'encrypt', wrap: (value) => `{"userId":"301","data":${value}}` },
  { path: 'decrypt', wrap: (value) => `{"userId":"301","data":${value},"purpose":"audit"}` },
  { path: 'rotate', wrap: (value) => `{"userId":"301","data":${value}}` },
  { path: 'rewrap', wrap: (value) => `{"userId":"301","data":${value}}` },
  { path: 'translate', wrap: (value) => `{"fromUserId":"301","toUserId":"302","data":${value}}` },
  { path: 'grants', wrap: (value) => `{"fromUserId":"301","toUserId":"302","reason":${value}}` },
  { path: 'grants/00000000-0000-4000-8000-000000000000/approve', wrap: (value) => `{"note":${value}}` },
  { path: 'tokens/revoke', wrap: (value) => `{"token":${value}}` },
];

const BODY_LIMIT = LIMIT_DEFAULTS.bodyLimitBytes;
const nested = (levels: number, leaf: string) => `${'['.repeat(levels)}${leaf}${']'.repeat(levels)}`;
const wideObject = (keys: number, leaf: string) =>
  `{${Array.from({ length: keys }, (_, i) => `"k${i}":${i === 0 ? leaf : '0'}`).join(',')}}`;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  /** How long a health probe sent once the hostile body was on its way took to answer. */
  probe: { status: number; ms: number };
}

for (const definition of STACKS) {
  describe(`hostile input — ${definition.name}`, () => {
    let stack: Stack;
    let token: string;
    let output: ReturnType<typeof captureProcessOutput>;
    let ciphertext: string;
    /** Every hostile body carries one of these; none may reach a log line. */
    const markers: string[] = [];
    const marker = () => {
      const value = `hostile-marker-${markers.length}-${Math.random().toString(36).slice(2, 10)}`;
      markers.push(value);
      return value;
    };

    /** Sends a raw body and, once it is written, a health probe; both answers. */
    const send = (path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> => {
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      return new Promise((resolve, reject) => {
        const hostile = httpRequest(`${stack.url}/api/v1/${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': bytes.length, ...headers },
        });
        let probe: Promise<{ status: number; ms: number }> | undefined;
        const startProbe = () => {
          const started = performance.now();
          probe ??= checkedFetch(stack.contract)(`${stack.url}/health/live`).then(async (response) => {
            await response.arrayBuffer();
            return { status: response.status, ms: performance.now() - started };
          });
          return probe;
        };
        let answered = false;
        // A server that answers before reading the whole body may reset the rest of the upload.
        hostile.on('error', (error) => answered || reject(error));
        hostile.on('finish', startProbe);
        hostile.on('response', (response) => {
          answered = true;
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            startProbe()
              .then((probed) => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text), probe: probed }))
              .catch(reject);
          });
        });
        hostile.end(bytes);
      });
    };

    /** The refusal every hostile case must get: a documented 4xx error body, the service responsive meanwhile. */
    const assertRefused = (answer: Answer, message: RegExp, status = 400) => {
      assert.equal(answer.status, status, JSON.stringify(answer.body).slice(0, 300));
      assert.deepEqual(Object.keys(answer.body).sort(), ['code', 'message', 'requestId', 'statusCode']);
      assert.equal(answer.body.statusCode, status);
      assert.equal(answer.body.code, 'ENC001');
      assert.match(String(answer.body.message), message);
      assert.equal(typeof answer.body.requestId, 'string');
      assert.ok(!markers.some((m) => String(answer.body.message).includes(m)), 'the error message quotes the input');
      assertProbeAnswered(answer);
    };
    const assertProbeAnswered = (answer: Answer) => {
      assert.equal(answer.probe.status, 200, 'the health probe sent meanwhile was not answered');
      assert.ok(answer.probe.ms < 1000, `the health probe took ${answer.probe.ms.toFixed(0)} ms`);
    };

    before(async () => {
      output = captureProcessOutput();
      stack = await definition.start({ LOG_LEVEL: 'trace' });
      token = await stack.token();
      for (const userId of ['301', '302']) await stack.as(token).post('/api/v1/keys').send({ userId });
      const encrypted = await stack
        .as(token)
        .post('/api/v1/encrypt')
        .send({ userId: '301', data: ['046 454 286'] });
      ciphertext = encrypted.body.encryptedData[0];
    });
    after(async () => {
      await stack?.close();
      output?.restore();
    });

    describe('deep nesting, on every route that accepts JSON', () => {
      for (const levels of [MAX_JSON_DEPTH + 1, 1_000, 100_000, 'the most a body can hold'] as const) {
        it(`refuses ${levels} levels with 400 ENC001 naming MAX_JSON_DEPTH`, async () => {
          for (const route of ROUTES) {
            const leaf = `"${marker()}"`;
            const envelope = route.wrap(nested(0, leaf)).length;
            const count = typeof levels === 'number' ? levels : Math.floor((BODY_LIMIT - envelope) / 2);
            const body = route.wrap(nested(count, leaf));
            assert.ok(Buffer.byteLength(body) <= BODY_LIMIT);
            assertRefused(await send(route.path, body), /MAX_JSON_DEPTH \(32\)/);
          }
        });
      }

      it('still accepts the deepest document allowed', async () => {
        const answer = await send('rotate', `{"userId":"301","data":${nested(MAX_JSON_DEPTH, JSON.stringify(ciphertext))}}`);
        assert.equal(answer.status, 200);
        assertProbeAnswered(answer);
      });

      it('refuses a body one byte over BODY_LIMIT with 413 ENC001', async () => {
        const body = `{"userId":"301","data":["${marker()}","${'x'.repeat(BODY_LIMIT)}"]}`;
        assertRefused(await send('encrypt', body), /BODY_LIMIT/, 413);
      });

      it('takes back on /decrypt, /rewrap and /rotate the largest ek2 answer /encrypt gives within BODY_LIMIT, and refuses a body one byte over their larger limit with 413 ENC001', async () => {
        const limit = ciphertextBodyLimitBytes(BODY_LIMIT, LIMIT_DEFAULTS.maxBatchItems);
        const items = Array.from({ length: LIMIT_DEFAULTS.maxBatchItems }, () => 'x'.repeat(Math.floor(BODY_LIMIT / 1000) - 10));
        const encryptBody = JSON.stringify({ userId: '302', data: items });
        assert.ok(Buffer.byteLength(encryptBody) <= BODY_LIMIT);
        const encrypted = await send('encrypt', encryptBody);
        assert.equal(encrypted.status, 200);
        const data = (encrypted.body as { encryptedData: string[] }).encryptedData;
        assert.ok(data.every((item) => item.startsWith('ek2:1:')));
        const decryptBody = JSON.stringify({ userId: '302', data, purpose: 'taking back a full batch' });
        assert.ok(
          Buffer.byteLength(decryptBody) > BODY_LIMIT && Buffer.byteLength(decryptBody) <= limit,
          `${Buffer.byteLength(decryptBody)}`,
        );
        assert.equal((await send('decrypt', decryptBody)).status, 200);
        assert.equal((await send('rewrap', JSON.stringify({ userId: '302', data }))).status, 200);
        assert.equal((await send('rotate', JSON.stringify({ userId: '302', data }))).status, 200);
        for (const route of ['decrypt', 'rewrap', 'rotate']) {
          const over = `{"userId":"302","data":["${marker()}","${'x'.repeat(limit - 30)}"]}`;
          assert.ok(Buffer.byteLength(over) > limit);
          assertRefused(await send(route, over), /BODY_LIMIT/, 413);
        }
      });
    });

    describe('wide objects, key floods and many tiny items', () => {
      it('refuses 50,000 keys in data, and 30,000 on /translate, naming MAX_JSON_NODES', async () => {
        assertRefused(await send('rotate', `{"userId":"301","data":${wideObject(50_000, `"${marker()}"`)}}`), /MAX_JSON_NODES \(50000\)/);
        assertRefused(
          await send('translate', `{"fromUserId":"301","toUserId":"302","data":${wideObject(30_000, `"${marker()}"`)}}`),
          /MAX_JSON_NODES/,
        );
      });

      it('refuses a key longer than MAX_JSON_KEY_BYTES', async () => {
        assertRefused(
          await send('rotate', `{"userId":"301","data":{"${marker()}${'k'.repeat(2000)}":1}}`),
          /MAX_JSON_KEY_BYTES \(1024 bytes\)/,
        );
      });

      it('refuses a flood of unknown fields, and a wide object in a typed field, before they are copied', async () => {
        assertRefused(
          await send('keys', wideObject(100, `"${marker()}"`).replace('{', '{"userId":"301",')),
          /Request body has more than 64 fields/,
        );
        assertRefused(
          await send('encrypt', `{"userId":${wideObject(20_000, `"${marker()}"`)},"data":["a"]}`),
          /userId holds an object with more than 64 keys/,
        );
      });

      it('refuses 60,000 tiny items at the edge and 40,000 empty strings by MAX_BATCH_ITEMS', async () => {
        assertRefused(await send('encrypt', `{"userId":"301","data":[${'0,'.repeat(60_000)}"${marker()}"]}`), /MAX_JSON_NODES/);
        const empties = `{"userId":"301","data":[${'"",'.repeat(40_000)}"${marker()}"]}`;
        assertRefused(await send('encrypt', empties), /data has 40001 items; at most 1000 are allowed/);
      });

      it('walks 40,000 strings that merely look like ciphertexts and gives them back unchanged', async () => {
        const lookAlikes = Array.from({ length: 40_000 }, (_, i) => `ek${1 + (i % 2)}:${i}:x`);
        const answer = await send('rotate', JSON.stringify({ userId: '302', data: lookAlikes }));
        assert.equal(answer.status, 200);
        assert.deepEqual((answer.body as { rotatedData: unknown }).rotatedData, lookAlikes);
        assertProbeAnswered(answer);
      });
    });

    describe('prototype keys', () => {
      const pollution = () => ({}) as Record<string, unknown>;

      it('refuses __proto__, constructor and prototype as fields of a body', async () => {
        for (const key of ['__proto__', 'constructor', 'prototype']) {
          assertRefused(
            await send('encrypt', `{"userId":"301","data":["a"],"${key}":{"isAdmin":"${marker()}"}}`),
            new RegExp(`^${key} should not exist$`),
          );
        }
      });

      it('keeps them as plain data inside data: no prototype changes, and they come back as sent', async () => {
        const data = `{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"polluted":true}},"prototype":"p","nested":[{"__proto__":null}],"sin":${JSON.stringify(ciphertext)}}`;
        const answer = await send('rotate', `{"userId":"301","data":${data}}`);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const rotated = (answer.body as { rotatedData: Record<string, unknown> }).rotatedData;
        assert.deepEqual(Object.keys(rotated), ['__proto__', 'constructor', 'prototype', 'nested', 'sin']);
        assert.equal(Object.getPrototypeOf(rotated), Object.prototype);
        const sent = JSON.parse(data);
        for (const key of ['__proto__', 'constructor', 'prototype', 'nested']) assert.deepEqual(rotated[key], sent[key], key);
        assert.match(String(rotated.sin), /^ek2:\d+:/);
        assert.notEqual(rotated.sin, ciphertext);
        // The app runs in this process: any prototype it changed would show here.
        assert.equal(pollution().isAdmin, undefined);
        assert.equal(pollution().polluted, undefined);
        assert.equal(Object.getPrototypeOf(pollution()), Object.prototype);
      });

      it('keeps them as plain data inside data on /translate too', async () => {
        const creator = await stack.identity('hostile-creator', ['grants:write']);
        const approvers = [
          await stack.identity('hostile-approver-a', ['grants:approve']),
          await stack.identity('hostile-approver-b', ['grants:approve']),
        ];
        const created = await stack.as(creator).post('/api/v1/grants').send({ fromUserId: '301', toUserId: '302', reason: 'estate' });
        for (const approver of approvers) await stack.as(approver).post(`/api/v1/grants/${created.body.id}/approve`).send();
        const [fresh] = (
          await stack
            .as(token)
            .post('/api/v1/encrypt')
            .send({ userId: '301', data: ['will'] })
        ).body.encryptedData;
        const answer = await send(
          'translate',
          `{"fromUserId":"301","toUserId":"302","data":{"__proto__":{"toString":1},"will":${JSON.stringify(fresh)}}}`,
        );
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const translated = (answer.body as { translatedData: Record<string, unknown> }).translatedData;
        assert.deepEqual(Object.keys(translated), ['__proto__', 'will']);
        assert.deepEqual(translated.__proto__, { toString: 1 });
        assert.equal(typeof pollution().toString, 'function');
      });
    });

    describe('strings that are not valid Unicode', () => {
      it('refuses unpaired surrogate escapes in strings, in ciphertexts and in keys', async () => {
        assertRefused(await send('encrypt', `{"userId":"301","data":["${marker()}\\ud800"]}`), /unpaired surrogate/);
        assertRefused(
          await send('decrypt', `{"userId":"301","data":["${ciphertext}\\udc00"],"purpose":"${marker()}"}`),
          /unpaired surrogate/,
        );
        assertRefused(await send('rotate', `{"userId":"301","data":{"${marker()}":"\\ud83d"}}`), /unpaired surrogate/);
        assertRefused(await send('rotate', `{"userId":"301","data":{"\\udfff":"${marker()}"}}`), /unpaired surrogate/);
      });

      it('refuses bytes that are not UTF-8 in strings and in ciphertexts', async () => {
        const raw = (before: string, bytes: number[], afterwards: string) =>
          Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(afterwards)]);
        assertRefused(await send('encrypt', raw(`{"userId":"301","data":["${marker()}`, [0xff, 0xfe], '"]}')), /not valid UTF-8/);
        assertRefused(await send('encrypt', raw(`{"userId":"301","data":["${marker()}`, [0xc0, 0xaf], '"]}')), /not valid UTF-8/);
        assertRefused(
          await send(
            'decrypt',
            raw(
              `{"userId":"301","data":["${ciphertext.slice(0, 40)}`,
              [0xed, 0xa0, 0x80],
              `${ciphertext.slice(40)}"],"purpose":"${marker()}"}`,
            ),
          ),
          /not valid UTF-8/,
        );
      });

      it('refuses a charset other than UTF-8 with 415 ENC001', async () => {
        const body = Buffer.from(`{"userId":"301","data":["${marker()}"]}`, 'utf16le');
        assertRefused(await send('encrypt', body, { 'content-type': 'application/json; charset=utf-16le' }), /UTF-8/, 415);
      });

      it('still round-trips surrogate pairs, escaped or not', async () => {
        const answer = await send('encrypt', '{"userId":"301","data":["\\ud83d\\ude00","😀"]}');
        assert.equal(answer.status, 200);
        const decrypted = await stack
          .as(token)
          .post('/api/v1/decrypt')
          .send({ userId: '301', data: (answer.body as { encryptedData: string[] }).encryptedData });
        assert.deepEqual(decrypted.body.decryptedData, ['😀', '😀']);
      });
    });

    describe('numbers JSON.parse would change', () => {
      it('refuses integers beyond 2^53 and 1e999, wherever they are', async () => {
        for (const [path, body] of [
          ['rotate', `{"userId":"301","data":{"id":9007199254740993,"note":"${marker()}"}}`],
          ['rotate', `{"userId":"301","data":["${marker()}",1e999]}`],
          ['translate', `{"fromUserId":"301","toUserId":"302","data":[-1E+400,"${marker()}"]}`],
          ['encrypt', `{"userId":12345678901234567890,"data":["${marker()}"]}`],
        ]) {
          assertRefused(await send(path, body), /would not come back unchanged/);
        }
      });

      it('gives every other number back as sent', async () => {
        const answer = await send('rotate', '{"userId":"302","data":[9007199254740991,-9007199254740991,1.5e300,0.1,1e-320]}');
        assert.equal(answer.status, 200);
        assert.deepEqual(
          (answer.body as { rotatedData: unknown }).rotatedData,
          [9007199254740991, -9007199254740991, 1.5e300, 0.1, 1e-320],
        );
      });
    });

    describe('duplicate keys', () => {
      it('refuses a key repeated in one object, at the top or inside data, however it is spelt', async () => {
        assertRefused(await send('encrypt', `{"userId":"301","userId":"302","data":["${marker()}"]}`), /repeats a key/);
        assertRefused(await send('rotate', `{"userId":"301","data":{"a":"${marker()}","\\u0061":2}}`), /repeats a key/);
        assertRefused(await send('decrypt', `{"userId":"301","data":[],"purpose":"a","purpose":"${marker()}"}`), /repeats a key/);
      });
    });

    describe('valid JSON that is not an object', () => {
      it('refuses an array, a string, a number, null and true on every route', async () => {
        for (const route of ROUTES) {
          for (const body of [`["${marker()}"]`, `"${marker()}"`, '42', 'null', 'true']) {
            assertRefused(await send(route.path, body), /^Request body must be a JSON object$/);
          }
        }
      });
    });

    it('wrote no hostile input to any log line', async () => {
      await sleep(200); // pino writes asynchronously
      const logged = output.text();
      assert.ok(markers.length > 50);
      // The request lines were captured (so their absence of markers means something).
      assert.ok(logged.includes('"route":"/api/v1/rotate"'), `no request line captured: ${logged.slice(0, 300)}`);
      const leaked = markers.filter((m) => logged.includes(m));
      assert.deepEqual(leaked, []);
    });
  });
}
