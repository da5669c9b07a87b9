import { applyDecorators } from '@nestjs/common';
import { ApiParam, ApiProperty, ApiPropertyOptions } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateBy,
  ValidateIf,
  ValidationOptions,
} from 'class-validator';
import { JsonDocument } from './json-document.decorator';
import { LIMIT_DEFAULTS } from '../limits';
import { DATE_TIME_DESCRIPTION, DATE_TIME_PATTERN, isDateTime } from '../date-time';
import { UUID_PATTERN } from '../uuid';
import { isUserId, USER_ID_DESCRIPTION, USER_ID_EXAMPLE, USER_ID_MAX_LENGTH, USER_ID_PATTERN } from '../user-id';

/*
 * Each decorator here states one rule of a request field once: it applies the class-validator
 * check that the validation pipe enforces and the JSON Schema that the OpenAPI document shows,
 * both from the same pattern or number, so the two cannot drift apart.
 */

/** A limit the operator may configure: the document shows the configured value (src/common/openapi-document.ts). */
export type ConfigurableLimit = keyof typeof LIMIT_DEFAULTS | 'maxCiphertextLength';
/**
 * Vendor key naming the configurable limits of a property schema, e.g. { maxItems: 'maxBatchItems',
 * 'items.maxLength': 'maxItemBytes' }; the document builder puts the configured values there. It
 * sits on the property itself: Nest rebuilds `items` and drops vendor keys inside it.
 */
export const LIMIT_EXTENSION = 'x-configurable-limits';
export type LimitReferences = Partial<Record<'maxItems' | 'maxLength' | 'items.maxLength', ConfigurableLimit>>;

export interface FieldOptions {
  description?: string;
  example?: unknown;
  /** Default true. An optional field may be absent; it is validated whenever it is present. */
  required?: boolean;
  /** Optional fields only: null is accepted and means the same as absent. */
  nullable?: boolean;
}

/** Presence: a required field must be there; an optional one may be absent (and null, when nullable). */
function presence({ required = true, nullable = false }: FieldOptions): PropertyDecorator[] {
  if (required) return [];
  return [ValidateIf((_object, value) => value !== undefined && !(nullable && value === null))];
}

function schema(options: FieldOptions, rest: ApiPropertyOptions): PropertyDecorator {
  const { description, example, required = true, nullable = false } = options;
  return ApiProperty({
    ...rest,
    ...(description && { description }),
    ...(example !== undefined && { example }),
    required,
    ...(nullable && { nullable: true }),
  } as ApiPropertyOptions);
}

function rule(name: string, validate: (value: unknown) => boolean, message: string, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name, validator: { validate, defaultMessage: (args) => `${args?.property} ${message}` } }, options);
}

/** A user id (body field or query parameter). */
export function UserIdField(options: FieldOptions = {}): PropertyDecorator {
  return applyDecorators(
    ...presence(options),
    rule('isUserId', isUserId, `must be ${USER_ID_DESCRIPTION}, e.g. "42"`),
    schema(
      {
        example: USER_ID_EXAMPLE,
        ...options,
        description: [options.description, `User id: ${USER_ID_DESCRIPTION}.`].filter(Boolean).join('. '),
      },
      { type: 'string', pattern: USER_ID_PATTERN.source, minLength: 1, maxLength: USER_ID_MAX_LENGTH },
    ),
  );
}

/**
 * A string matching `pattern` as a whole, of `minLength` to `maxLength` characters (Unicode code
 * points, as JSON Schema counts them) when given. `message` completes "<field> must …".
 */
export function PatternField(
  pattern: RegExp,
  options: FieldOptions & { message: string; minLength?: number; maxLength?: number },
): PropertyDecorator {
  const { message, minLength, maxLength, ...field } = options;
  const must = { message: (args: { property: string }) => `${args.property} ${message}` };
  return applyDecorators(
    ...presence(field),
    ...(maxLength === undefined ? [] : [MaxLength(maxLength, must)]),
    ...(minLength === undefined ? [] : [MinLength(minLength, must)]),
    Matches(pattern, must),
    schema(field, { type: 'string', pattern: pattern.source, minLength, maxLength } as ApiPropertyOptions),
  );
}

/** The path parameter `name` is a user id (the route validates it with UserIdPipe, which applies the same rule). */
export function ApiUserIdParam(name = 'userId'): MethodDecorator {
  return ApiParam({
    name,
    description: `User id: ${USER_ID_DESCRIPTION}`,
    example: USER_ID_EXAMPLE,
    // In the schema as well: Nest leaves a parameter's own example out when it is given a schema.
    schema: { type: 'string', pattern: USER_ID_PATTERN.source, minLength: 1, maxLength: USER_ID_MAX_LENGTH, example: USER_ID_EXAMPLE },
  });
}

/** The path parameter `name` is a UUID; the route answers 404 for any other text, which names nothing. */
export function ApiUuidParam(name: string, description: string, example: string): MethodDecorator {
  return ApiParam({ name, description, example, schema: { type: 'string', format: 'uuid', pattern: UUID_PATTERN.source, example } });
}

/** An RFC 3339 date-time with a time zone offset. */
export function DateTimeField(options: FieldOptions = {}): PropertyDecorator {
  return applyDecorators(
    ...presence(options),
    rule('isDateTime', isDateTime, `must be ${DATE_TIME_DESCRIPTION}`),
    schema(
      {
        ...options,
        description: [options.description, `${DATE_TIME_DESCRIPTION[0].toUpperCase()}${DATE_TIME_DESCRIPTION.slice(1)}.`]
          .filter(Boolean)
          .join('. '),
      },
      { type: 'string', format: 'date-time', pattern: DATE_TIME_PATTERN.source },
    ),
  );
}

/** One of the given strings. */
export function EnumField(values: readonly string[], options: FieldOptions & { default?: string } = {}): PropertyDecorator {
  const { default: defaultValue, ...field } = options;
  return applyDecorators(
    ...presence(field),
    IsIn([...values], { message: (args) => `${args.property} must be one of ${values.join(', ')}` }),
    // OpenAPI 3.0.3: a nullable enum lists null among its values.
    schema(field, {
      type: 'string',
      enum: field.nullable ? [...values, null] : [...values],
      ...(defaultValue !== undefined && { default: defaultValue }),
    }),
  );
}

/** A boolean query parameter: exactly `true` or `false` (any other text is refused). */
export function BooleanField(options: FieldOptions & { default?: boolean } = {}): PropertyDecorator {
  const { default: defaultValue, ...field } = options;
  return applyDecorators(
    ...presence(field),
    Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value)),
    IsBoolean({ message: (args) => `${args.property} must be true or false` }),
    schema(field, { type: 'boolean', ...(defaultValue !== undefined && { default: defaultValue }) }),
  );
}

/** An integer query parameter between `minimum` and `maximum` (sent as decimal text). */
export function IntegerField(options: FieldOptions & { minimum: number; maximum: number; default?: number }): PropertyDecorator {
  const { minimum, maximum, default: defaultValue, ...field } = options;
  return applyDecorators(
    ...presence(field),
    Type(() => Number),
    IsInt({ message: (args) => `${args.property} must be an integer from ${minimum} to ${maximum}` }),
    Min(minimum, { message: (args) => `${args.property} must be an integer from ${minimum} to ${maximum}` }),
    Max(maximum, { message: (args) => `${args.property} must be an integer from ${minimum} to ${maximum}` }),
    schema(field, { type: 'integer', minimum, maximum, ...(defaultValue !== undefined && { default: defaultValue }) }),
  );
}

/**
 * An array of strings, at most MAX_BATCH_ITEMS of them (the configured value is enforced by the
 * service and shown by the document). Each item is checked by the service, which names the first
 * offending index; `items` states that check (its pattern and length) in the document.
 */
export function StringBatchField(
  options: FieldOptions & { items: { pattern?: RegExp; maxLength: number; description?: string }; itemLimit: ConfigurableLimit },
): PropertyDecorator {
  const { items, itemLimit, ...field } = options;
  const limits: LimitReferences = { maxItems: 'maxBatchItems', 'items.maxLength': itemLimit };
  return applyDecorators(
    ...presence(field),
    ValidateBy({
      name: 'isStringArray',
      validator: {
        validate: (value: unknown) => Array.isArray(value) && value.every((item) => typeof item === 'string'),
        defaultMessage: (args) => {
          if (!Array.isArray(args?.value)) return `${args?.property} must be an array of strings`;
          const index = (args.value as unknown[]).findIndex((item) => typeof item !== 'string');
          return `${args.property}[${index}] must be a string`;
        },
      },
    }),
    schema(field, {
      type: 'array',
      items: {
        type: 'string',
        ...(items.pattern && { pattern: items.pattern.source }),
        maxLength: items.maxLength,
        ...(items.description && { description: items.description }),
      },
      maxItems: LIMIT_DEFAULTS.maxBatchItems,
      [LIMIT_EXTENSION]: limits,
    } as ApiPropertyOptions),
  );
}

/**
 * Any JSON value but null, such as `data` of /rotate and /translate (see @JsonDocument: the
 * validation hands it to the service untouched, which walks it within the documented bounds).
 */
export function JsonValueField(options: FieldOptions = {}): PropertyDecorator {
  const description = [options.description, JSON_DOCUMENT_RULES].filter(Boolean).join(' ');
  return applyDecorators(JsonDocument(), schema({ ...options, description }, ANY_JSON_VALUE as ApiPropertyOptions));
}

/** What a JSON document field accepts (README, limits). */
const JSON_DOCUMENT_RULES =
  'Any JSON value but null: an object, array, string, number or boolean. Strings that are not ciphertexts, and every other value, come back unchanged. ' +
  'At most MAX_BATCH_ITEMS ciphertexts, nesting at most MAX_JSON_DEPTH (32) levels; the whole body holds at most MAX_JSON_NODES values and keys, ' +
  'no key longer than MAX_JSON_KEY_BYTES, no key twice in one object, and no integer beyond ±(2^53 − 1) (send such numbers as strings).';

/**
 * Any JSON value but null, as OpenAPI 3.0 can say it (it has no `null` type to exclude): one of
 * object, array, string, number or boolean.
 */
export const ANY_JSON_VALUE = {
  anyOf: [
    { type: 'object', additionalProperties: true },
    { type: 'array', items: {} },
    { type: 'string' },
    { type: 'number' },
    { type: 'boolean' },
  ],
};

/** The same schema for a response field (no validation: the service writes it). */
export function ApiAnyJsonValue(options: { description?: string; example?: unknown }): PropertyDecorator {
  return ApiProperty({ ...ANY_JSON_VALUE, ...options } as ApiPropertyOptions);
}
