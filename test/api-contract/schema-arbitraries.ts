import fc from 'fast-check';

/** A JSON Schema (OpenAPI 3.0 flavour) as the dereferenced document holds it. */
export type Schema = Record<string, any>;

/** Sizes stay small: the point is the shape of each value, and every request must stay cheap. */
const MAX_ITEMS = 4;
const MAX_TEXT = 24;

/** Characters that printable-text patterns (\p{L}, \p{N}, \p{P}, \p{S}) accept, and some they refuse. */
const PRINTABLE = fc.constantFrom(...'abcXYZ019 .,:;-_!?@#$%&*()[]{}/\\\'"éßЖ漢字€😀'.split(/(?=[\s\S])/u));

/**
 * Values the schema accepts. Strings follow `pattern` (fast-check builds them from the regular
 * expression; patterns it cannot read, such as lookaheads, are met by filtering printable text),
 * formats, lengths and enums; an `example` is offered now and then, so that requests also reach
 * past "not found" (a user who has a key). Free-form values (`items: {}`, open objects) are small
 * JSON documents.
 */
export function valid(schema: Schema): fc.Arbitrary<unknown> {
  const value = validIgnoringNull(schema);
  return schema.nullable ? fc.option(value, { nil: null, freq: 5 }) : value;
}

function validIgnoringNull(schema: Schema): fc.Arbitrary<unknown> {
  if (schema.oneOf) return fc.oneof(...schema.oneOf.map(valid));
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map(valid));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const generated = byType(schema);
  return schema.example !== undefined
    ? fc.oneof({ arbitrary: fc.constant(schema.example), weight: 1 }, { arbitrary: generated, weight: 2 })
    : generated;
}

function byType(schema: Schema): fc.Arbitrary<unknown> {
  switch (schema.type) {
    case 'string':
      return text(schema);
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(schema.items && Object.keys(schema.items).length ? valid(schema.items) : json(), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? MAX_ITEMS, MAX_ITEMS),
      });
    case 'object':
      return object(schema);
    default:
      return json();
  }
}

function text(schema: Schema): fc.Arbitrary<string> {
  if (schema.format === 'date-time')
    return fc
      .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString());
  if (schema.format === 'uuid' && !schema.pattern) return fc.uuid();
  const minLength = schema.minLength ?? 0;
  const maxLength = Math.min(schema.maxLength ?? MAX_TEXT, Math.max(minLength, MAX_TEXT));
  const fits = (value: string) => [...value].length >= minLength && [...value].length <= (schema.maxLength ?? Infinity);
  if (!schema.pattern) return fc.string({ unit: PRINTABLE, minLength, maxLength });
  const pattern = new RegExp(schema.pattern, 'u');
  try {
    return fc.stringMatching(pattern).filter(fits);
  } catch {
    return fc.string({ unit: PRINTABLE, minLength, maxLength }).filter((value) => pattern.test(value) && fits(value));
  }
}

function object(schema: Schema): fc.Arbitrary<Record<string, unknown>> {
  if (!schema.properties) return fc.dictionary(fc.string({ maxLength: 8 }), json(), { maxKeys: MAX_ITEMS });
  const required = new Set<string>(schema.required ?? []);
  const fields = Object.entries(schema.properties as Record<string, Schema>).map(([name, property]) =>
    required.has(name)
      ? valid(property).map((value) => [name, value] as const)
      : fc.option(
          valid(property).map((value) => [name, value] as const),
          { nil: undefined },
        ),
  );
  return fc.tuple(...fields).map((entries) => Object.fromEntries(entries.filter((entry) => entry !== undefined)));
}

/** Small JSON documents: what `data` of /rotate and /translate may hold besides ciphertexts. */
function json(): fc.Arbitrary<unknown> {
  return fc.jsonValue({ maxDepth: 3, depthSize: 'small' });
}

/** A value of another JSON type than the schema's (the schema's own null excepted when nullable). */
export function wrongType(schema: Schema): fc.Arbitrary<unknown> {
  const types: Record<string, fc.Arbitrary<unknown>> = {
    string: fc.string({ maxLength: 8 }),
    integer: fc.integer(),
    number: fc.double({ noNaN: true, noDefaultInfinity: true }),
    boolean: fc.boolean(),
    array: fc.array(fc.integer(), { maxLength: 3 }),
    object: fc.constant({ nested: true }),
    null: fc.constant(null),
  };
  const accepted = new Set<string>(
    schema.anyOf || schema.oneOf ? (schema.anyOf ?? schema.oneOf).map((s: Schema) => s.type) : [schema.type],
  );
  if (accepted.has('number')) accepted.add('integer');
  if (accepted.has('integer')) accepted.add('number');
  if (schema.nullable) accepted.add('null');
  const others = Object.entries(types).filter(([type]) => !accepted.has(type));
  return fc.oneof(...others.map(([, arbitrary]) => arbitrary));
}

/** Strings the schema refuses although they are strings: outside the pattern, the enum or the lengths. */
export function wrongText(schema: Schema): fc.Arbitrary<string> | undefined {
  const options: Array<fc.Arbitrary<string>> = [];
  if (schema.pattern) {
    const pattern = new RegExp(schema.pattern, 'u');
    options.push(fc.string({ unit: PRINTABLE, maxLength: 30 }).filter((value) => !pattern.test(value)));
    options.push(
      fc.constantFrom('0', '-1', '', ' 42', '42 ', '9223372036854775808', 'ek1:1:AA:AA:AA:AA').filter((value) => !pattern.test(value)),
    );
  }
  if (schema.enum) options.push(fc.string({ maxLength: 12 }).filter((value) => !schema.enum.includes(value)));
  if (schema.maxLength !== undefined && schema.maxLength <= 600) options.push(fc.constant('7'.repeat(schema.maxLength + 1)));
  if (schema.minLength > 0) options.push(fc.constant(''));
  if (schema.format === 'date-time' && !schema.pattern) options.push(fc.constantFrom('yesterday', '2026-02-30T00:00:00Z', '2026-12-01'));
  return options.length ? fc.oneof(...options) : undefined;
}
