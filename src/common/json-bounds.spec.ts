import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from './api-error';
import { assertJsonWithinBounds, JsonBounds, jsonBodyVerifier } from './json-bounds';

const BOUNDS: JsonBounds = { maxDepth: 32, maxNodes: 1000, maxKeyBytes: 64 };

const check = (body: string | Buffer, bounds: JsonBounds = BOUNDS) =>
  assertJsonWithinBounds(typeof body === 'string' ? Buffer.from(body, 'utf8') : body, bounds);

/** Asserts a 400 ENC001 whose message matches `pattern` and does not quote the secret marker. */
const refuses = (body: string | Buffer, pattern: RegExp, bounds?: JsonBounds) =>
  assert.throws(
    () => check(body, bounds),
    (error: unknown) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.code, 'ENC001');
      assert.equal(error.status, 400);
      assert.match(error.message, pattern);
      assert.doesNotMatch(error.message, /secret-marker/);
      return true;
    },
  );

const nested = (levels: number, leaf = '"secret-marker"') => `{"data":${'['.repeat(levels)}${leaf}${']'.repeat(levels)}}`;

describe('structural bounds of a JSON body', () => {
  it('accepts ordinary bodies, an empty body and leading whitespace', () => {
    check('{"userId":"42","data":["Jane Doe","046 454 286"],"purpose":"estate: executor"}');
    check('{"userId":"42","data":{"a":[1,-2.5,3e10,true,false,null,{"b":"c\\"d\\\\e\\n\\u00e9\\ud83d\\ude00"}]}}');
    check('');
    check(' \n\t{"a":1}');
    check(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]));
  });

  it('accepts MAX_JSON_DEPTH levels inside the body and refuses one more, naming the limit', () => {
    check(nested(32));
    refuses(nested(33), /MAX_JSON_DEPTH \(32\)/);
    refuses(`{"a":${'{"b":'.repeat(33)}1${'}'.repeat(33)}}`, /MAX_JSON_DEPTH/);
  });

  it('refuses a 1 MiB body of half a million levels', () => {
    const levels = 512 * 1024 - 8;
    const body = Buffer.from(`{"d":${'['.repeat(levels)}${']'.repeat(levels)}}`);
    refuses(body, /MAX_JSON_DEPTH/);
  });

  it('counts values and keys against MAX_JSON_NODES', () => {
    // {} + key + [] + 996 numbers = 999 nodes; one more number is 1000, one more again is over.
    const items = (count: number) => `{"d":[${Array.from({ length: count }, () => '0').join(',')}]}`;
    check(items(997));
    refuses(items(998), /MAX_JSON_NODES \(1000\)/);
    const wide = (count: number) => `{${Array.from({ length: count }, (_, i) => `"k${i}":0`).join(',')}}`;
    check(wide(499));
    refuses(wide(500), /MAX_JSON_NODES/);
  });

  it('refuses a key longer than MAX_JSON_KEY_BYTES', () => {
    check(`{"${'k'.repeat(64)}":1}`);
    refuses(`{"data":{"${'k'.repeat(65)}":1}}`, /MAX_JSON_KEY_BYTES \(64 bytes\)/);
    // Long strings that are values, not keys, are not limited here.
    check(`{"k":"${'v'.repeat(10_000)}"}`);
  });

  it('refuses a key repeated within one object, also when spelt with escapes', () => {
    refuses('{"userId":"1","userId":"2"}', /repeats a key/);
    refuses('{"data":{"a":1,"\\u0061":2}}', /repeats a key/);
    check('{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}');
  });

  it('reads a string to its real end past escaped quotes and backslashes, however many', () => {
    // Were a string cut short at an escaped quote, the repeated key after it would be missed or a phantom one seen.
    refuses('{"a":"x\\"y\\\\","a":1}', /repeats a key/);
    check('{"a":"\\",\\"b\\":1","b":1}');
    check(`{"data":["${'\\"'.repeat(50_000)}"],"userId":"1"}`);
    refuses(`{"data":["${'\\n'.repeat(50_000)}\\ud800"]}`, /unpaired surrogate/);
  });

  it('refuses unpaired surrogate escapes and accepts pairs and escaped backslashes', () => {
    refuses('{"data":["secret-marker\\ud800"]}', /unpaired surrogate/);
    refuses('{"data":["\\udc00secret-marker"]}', /unpaired surrogate/);
    refuses('{"data":["\\ud800\\u0041"]}', /unpaired surrogate/);
    refuses('{"\\ud800":1}', /unpaired surrogate/);
    check('{"data":["\\ud83d\\ude00","\\\\ud800"]}');
  });

  it('refuses bytes that are not UTF-8', () => {
    refuses(Buffer.concat([Buffer.from('{"data":["secret-marker'), Buffer.from([0xff, 0xfe]), Buffer.from('"]}')]), /not valid UTF-8/);
    refuses(Buffer.concat([Buffer.from('{"data":["'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"]}')]), /not valid UTF-8/);
  });

  it('refuses integers beyond ±(2^53 − 1) and numbers out of range, keeps every other number', () => {
    check('{"a":[9007199254740991,-9007199254740991,1e308,-1.5e-300,12345678901234567890.5,0.1]}');
    refuses('{"a":9007199254740992}', /would not come back unchanged/);
    refuses('{"a":-12345678901234567890}', /would not come back unchanged/);
    refuses('{"a":1e999}', /would not come back unchanged/);
    refuses('{"a":-1E+400}', /would not come back unchanged/);
    refuses(`{"a":${'9'.repeat(400)}.5}`, /would not come back unchanged/);
  });

  it('refuses a body whose top-level value is not an object', () => {
    for (const body of ['[1]', '"secret-marker"', '42', 'null', 'true', ' []']) refuses(body, /must be a JSON object/);
  });

  it('leaves syntax errors to JSON.parse', () => {
    check('{"a":}');
    check('{"a":"\\x"}');
    check('{"\\x":1,"\\x":2}');
    check('{"a":1');
    check('{"a":"unterminated');
  });

  it('refuses a body in another charset than UTF-8 with 415', () => {
    const verify = jsonBodyVerifier(BOUNDS);
    verify(undefined, undefined, Buffer.from('{"a":1}'), 'utf-8');
    assert.throws(
      () => verify(undefined, undefined, Buffer.from('{"a":1}', 'utf16le'), 'utf-16le'),
      (error: unknown) => error instanceof ApiError && error.status === 415 && error.code === 'ENC001',
    );
  });
});
