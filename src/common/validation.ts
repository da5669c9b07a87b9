import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError, invalidInput } from './api-error';
import { jsonDocumentFields } from './decorators/json-document.decorator';
import { BatchLimits, MAX_BODY_OBJECT_KEYS, MAX_PURPOSE_LENGTH, PURPOSE_PATTERN } from './limits';

/** A stated purpose (PURPOSE_PATTERN holds every rule; the length check first only bounds the work on long text). */
export function isPurpose(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 2 * MAX_PURPOSE_LENGTH && PURPOSE_PATTERN.test(value);
}

/** Count and byte-size limits of a batch of strings, naming the first offending index. */
export function assertBatchWithinLimits(field: string, items: readonly string[], limits: BatchLimits): void {
  if (items.length > limits.maxBatchItems) {
    throw invalidInput(`${field} has ${items.length} items; at most ${limits.maxBatchItems} are allowed`);
  }
  const index = items.findIndex((item) => Buffer.byteLength(item, 'utf8') > limits.maxItemBytes);
  if (index >= 0) throw invalidInput(`${field}[${index}] exceeds ${limits.maxItemBytes} bytes`);
}

/** Keys class-transformer skips without a word, so that the whitelist would never see them. */
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype'];

/**
 * Global body validation: unknown fields rejected, every problem reported as ENC001. Fields
 * marked @JsonDocument are set aside before class-transformer and class-validator run and put
 * back untouched afterwards, so neither ever walks caller-shaped JSON.
 */
class BodyValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata) {
    if (metadata.type !== 'body') return super.transform(value, metadata);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalidInput('Request body must be a JSON object');
    }
    const prototypeKey = PROTOTYPE_KEYS.find((key) => Object.hasOwn(value, key));
    if (prototypeKey) throw invalidInput(`${prototypeKey} should not exist`);
    const documentFields = jsonDocumentFields(metadata.metatype);
    if (documentFields.length === 0) {
      assertObjectWidths(value as Record<string, unknown>);
      return super.transform(value, metadata);
    }

    const rest: Record<string, unknown> = { ...value };
    const documents = documentFields.map((field) => {
      const document = Object.hasOwn(rest, field) ? rest[field] : undefined;
      if (document === undefined || document === null) throw invalidInput(`${field} is required (any JSON value)`);
      delete rest[field];
      return [field, document] as const;
    });
    assertObjectWidths(rest);
    const validated = (await super.transform(rest, metadata)) as Record<string, unknown>;
    for (const [field, document] of documents) validated[field] = document;
    return validated;
  }
}

/**
 * Refuses a body, or an object anywhere in it, with more than MAX_BODY_OBJECT_KEYS keys before
 * class-transformer sees it: it removes duplicate keys of every object it copies in quadratic
 * time (24,000 keys: about a second of CPU). Runs without recursion; the body's size and depth
 * are already bounded (json-bounds.ts).
 */
function assertObjectWidths(body: Record<string, unknown>): void {
  if (Object.keys(body).length > MAX_BODY_OBJECT_KEYS) {
    throw invalidInput(`Request body has more than ${MAX_BODY_OBJECT_KEYS} fields`);
  }
  for (const [field, value] of Object.entries(body)) {
    const pending: unknown[] = [value];
    while (pending.length > 0) {
      const current = pending.pop();
      if (current === null || typeof current !== 'object') continue;
      const items = Array.isArray(current) ? current : Object.values(current);
      if (!Array.isArray(current) && items.length > MAX_BODY_OBJECT_KEYS) {
        throw invalidInput(`${field} holds an object with more than ${MAX_BODY_OBJECT_KEYS} keys`);
      }
      for (const item of items) if (item !== null && typeof item === 'object') pending.push(item);
    }
  }
}

export function createValidationPipe(): ValidationPipe {
  return new BodyValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new ApiError('ENC001', describeValidationErrors(errors)),
  });
}

function describeValidationErrors(errors: ValidationError[], parent = ''): string {
  const messages: string[] = [];
  for (const error of errors) {
    const path = parent ? `${parent}.${error.property}` : error.property;
    messages.push(...Object.values(error.constraints ?? {}).map((m) => m.replace(/^property (\S+) /, `${path} `)));
    if (error.children?.length) messages.push(describeValidationErrors(error.children, path));
  }
  return messages.filter(Boolean).slice(0, 5).join('; ') || 'request body is invalid';
}
