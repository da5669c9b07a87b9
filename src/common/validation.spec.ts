import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IsOptional, IsString } from 'class-validator';
import { ApiError } from './api-error';
import { JsonDocument } from './decorators/json-document.decorator';
import { createValidationPipe } from './validation';

class DocumentRequest {
  @IsString()
  userId: string;

  @JsonDocument()
  data: unknown;

  @IsOptional()
  @IsString()
  reason?: string;
}

const pipe = createValidationPipe();
const validate = (body: unknown) => pipe.transform(body, { type: 'body', metatype: DocumentRequest });
const refusal = async (body: unknown): Promise<string> => {
  try {
    await validate(body);
  } catch (error) {
    assert.ok(error instanceof ApiError && error.code === 'ENC001');
    return error.message;
  }
  return assert.fail('the body was accepted');
};

describe('body validation of JSON document fields', () => {
  it('hands a JSON document field back untouched, however deep, without walking it', async () => {
    // Far deeper than any recursive walker could go: class-transformer would throw RangeError.
    let deep: unknown = 'leaf';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const validated = (await validate({ userId: '42', data: deep })) as DocumentRequest;
    assert.ok(validated instanceof DocumentRequest);
    assert.equal(validated.data, deep);
  });

  it('keeps __proto__, constructor and prototype keys inside the document as plain data', async () => {
    const data = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"prototype":1}');
    const validated = (await validate({ userId: '42', data })) as DocumentRequest;
    assert.deepEqual(Object.keys(validated.data as object), ['__proto__', 'constructor', 'prototype']);
    assert.equal(Object.getPrototypeOf(validated.data), Object.prototype);
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
  });

  it('still validates the other fields and refuses unknown ones', async () => {
    assert.match(await refusal({ userId: 42, data: [] }), /userId must be a string/);
    assert.match(await refusal({ userId: '42', data: [], extra: 1 }), /^extra should not exist$/);
  });

  it('refuses a missing or null document', async () => {
    assert.equal(await refusal({ userId: '42' }), 'data is required (any JSON value)');
    assert.equal(await refusal({ userId: '42', data: null }), 'data is required (any JSON value)');
  });

  it('refuses a body, or an object in it, with more than 64 keys before class-transformer copies it', async () => {
    const wide = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, 0]));
    assert.match(await refusal({ userId: '42', data: [], ...wide(62) }), /^k0 should not exist/);
    assert.equal(await refusal({ userId: '42', data: [], ...wide(64) }), 'Request body has more than 64 fields');
    assert.equal(await refusal({ userId: '42', data: [], reason: [[wide(65)]] }), 'reason holds an object with more than 64 keys');
    assert.equal(await refusal({ userId: wide(30_000), data: [] }), 'userId holds an object with more than 64 keys');
    // Inside a JSON document any width is the document's own business.
    const validated = (await validate({ userId: '42', data: wide(30_000) })) as DocumentRequest;
    assert.equal(Object.keys(validated.data as object).length, 30_000);
  });

  it('refuses prototype keys at the top of a body instead of silently dropping them', async () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const body = JSON.parse(`{"userId":"42","data":[],"${key}":{"reason":"x"}}`);
      assert.equal(await refusal(body), `${key} should not exist`);
    }
  });
});
