import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type {
  OperationObject,
  ReferenceObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ConfigurableLimit, LIMIT_EXTENSION, LimitReferences } from './decorators/fields.decorator';
import { describeErrors, ERROR_CODES_EXTENSION, ErrorResponse, errorResponseObject, RouteErrors } from './error-response.dto';
import { REQUEST_ID_PATTERN } from './limits';

/** The configured value of every limit the document states. */
export type DocumentLimits = Record<ConfigurableLimit, number>;

/** Tags in the order a newcomer meets the API; every tag an operation uses is listed here. */
const TAGS: ReadonlyArray<[string, string]> = [
  ['keys', 'One RSA key pair per end user: create it, read its versions and public key, crypto-shred it'],
  ['encryption', 'Encrypt and decrypt batches of strings under a user’s key'],
  ['rotation', 'New key versions, and re-encryption of stored ciphertexts under the current one'],
  ['delegation', 'Grants that release one person’s data to a delegate, and re-encryption under the delegate’s key'],
  ['audit', 'The audit trail, its integrity check, and a person’s access report'],
  ['tokens', 'Revocation of access tokens'],
  // Met later: features built on the ones above, and the operators' routes.
  ['indexes', 'Blind indexes: keyed hashes of values for equality lookups without decrypting (docs/blind-indexes.md)'],
  ['canaries', 'Canary ciphertexts: decoys that any decrypt, rotate, rewrap or translate refuses and records'],
  ['admin', 'Operators: moving every sealed key to a new KMS key; the mass-destruction breaker on crypto-shredding'],
  [
    'approvals',
    'The two-person rule: a destructive action asked by one identity runs only once a second identity approved it (DUAL_CONTROL)',
  ],
  ['health', 'Liveness and readiness probes (no token)'],
  ['metrics', 'Prometheus metrics (no token)'],
];

const DESCRIPTION = [
  'Per-user RSA key pairs; batch encrypt, decrypt and re-encrypt of personal data.',
  'Click Authorize and paste an access token (locally: the output of `npm run token`).',
  '',
  'Every error has the ErrorResponse body; each response lists the codes it can carry. Request bodies are JSON objects in UTF-8;',
  'unknown fields of a body, and unknown query parameters of a route that takes query parameters, are refused with 400 ENC001.',
  'Every response carries `X-Request-Id`: the one the caller sent when it matches the documented pattern, else a generated one.',
  'A known path called with a method it does not take answers 405 ROUTE002 with `Allow`; OPTIONS answers 204 with `Allow`',
  '(and the CORS headers for an origin in CORS_ORIGINS). A 401 carries `WWW-Authenticate: Bearer realm="pii-encryption-api"`,',
  'with `error="invalid_token"` when the token sent was refused.',
].join('\n');

const REQUEST_ID_HEADER = {
  required: true,
  description: 'The caller’s X-Request-Id when well-formed, else a generated one (also `requestId` of an error body)',
  schema: { type: 'string', pattern: REQUEST_ID_PATTERN.source },
};

/** What every route can answer, whatever it does: the body parser's refusals and an unexpected error. */
const ANY_ROUTE_ERRORS: ReadonlyArray<[number, RouteErrors]> = [
  [400, { ENC001: 'the request body is not a JSON object within the structural limits (README: limits)' }],
  [413, { ENC001: 'the request body exceeds BODY_LIMIT' }],
  [415, { ENC001: 'the request body is in a charset other than UTF-8, or in an unknown content encoding' }],
  [500, { SYS001: 'unexpected error; the body holds no internals' }],
];

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/**
 * The OpenAPI document the service serves at /docs-json: what the decorators of the routes and
 * request types state, plus the rules that hold for every route (src/common/validation.ts refuses
 * unknown fields of every body; the body parser and the error filter serve every route), and the
 * configured limits.
 */
export function createOpenApiDocument(app: INestApplication, limits: DocumentLimits): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('Personal Information Encryption API')
    .setDescription(DESCRIPTION)
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  for (const [name, description] of TAGS) builder.addTag(name, description);
  const document = SwaggerModule.createDocument(app, builder.build(), { extraModels: [ErrorResponse] });
  const schemas = (document.components?.schemas ?? {}) as Record<string, SchemaObject>;
  for (const schema of Object.values(schemas)) applyLimits(schema, limits);
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      for (const [status, errors] of ANY_ROUTE_ERRORS) addErrors(operation, status, errors);
      for (const [status, response] of Object.entries(operation.responses) as Array<[string, ResponseObject]>) {
        const codes = errorCodesOf(response);
        const rendered = codes ? (errorResponseObject(Number(status), codes) as ResponseObject) : response;
        delete (rendered as unknown as Record<string, unknown>)[ERROR_CODES_EXTENSION];
        rendered.headers = { ...rendered.headers, 'X-Request-Id': REQUEST_ID_HEADER };
        operation.responses[status] = rendered;
      }
      const body =
        operation.requestBody && 'content' in operation.requestBody ? operation.requestBody.content['application/json'] : undefined;
      if (body?.schema) {
        closeObjects(body.schema, schemas);
        body.example ??= exampleOf(body.schema, schemas);
      }
    }
  }
  return document;
}

/**
 * The codes of an error response and what each means on its route. The route decorators
 * (ApiErrors) note them on the response while the document is built; each response is then
 * rendered once from them (Nest would join the descriptions of repeated decorators).
 */
function errorCodesOf(response: ResponseObject | undefined): Record<string, string> | undefined {
  return (response as unknown as Record<string, unknown> | undefined)?.[ERROR_CODES_EXTENSION] as Record<string, string> | undefined;
}

/** Adds codes to one status of an operation, keeping the codes it already lists. */
function addErrors(operation: OperationObject, status: number, errors: RouteErrors): void {
  const merged = { ...errorCodesOf(operation.responses[status] as ResponseObject | undefined) };
  for (const [code, meaning] of Object.entries(describeErrors(errors))) {
    merged[code] = merged[code] && merged[code] !== meaning ? `${merged[code]}; ${meaning}` : meaning;
  }
  operation.responses[status] = errorResponseObject(status, merged) as ResponseObject;
}

function resolve(schema: SchemaObject | ReferenceObject, schemas: Record<string, SchemaObject>): SchemaObject {
  return '$ref' in schema ? schemas[schema.$ref.replace('#/components/schemas/', '')] : schema;
}

/** The whitelist of the validation pipe, stated: a request object takes the fields it lists and no other. */
function closeObjects(schema: SchemaObject | ReferenceObject, schemas: Record<string, SchemaObject>): void {
  const resolved = resolve(schema, schemas);
  for (const alternative of resolved.oneOf ?? []) closeObjects(alternative, schemas);
  if (!resolved.properties) return;
  resolved.additionalProperties ??= false;
  for (const property of Object.values(resolved.properties)) {
    const target = resolve(property, schemas);
    if (target.properties) closeObjects(property, schemas);
  }
}

/** A request body made of the examples of its fields (the first alternative of a oneOf). */
function exampleOf(schema: SchemaObject | ReferenceObject, schemas: Record<string, SchemaObject>): unknown {
  const resolved = resolve(schema, schemas);
  if (resolved.oneOf?.length) return exampleOf(resolved.oneOf[0], schemas);
  if (!resolved.properties) return resolved.example;
  const example: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(resolved.properties)) {
    const value = 'example' in property ? property.example : exampleOf(property, schemas);
    if (value !== undefined) example[name] = value;
  }
  return example;
}

/** Replaces the defaults stated by the field decorators with the configured limits. */
function applyLimits(schema: SchemaObject, limits: DocumentLimits): void {
  const visit = (node: SchemaObject | ReferenceObject | undefined): void => {
    if (!node || '$ref' in node) return;
    const references = (node as Record<string, unknown>)[LIMIT_EXTENSION] as LimitReferences | undefined;
    if (references) {
      for (const [keyword, limit] of Object.entries(references)) {
        const [first, second] = keyword.split('.');
        const target = (second ? node[first as 'items'] : node) as Record<string, unknown> | undefined;
        if (target) target[second ?? first] = limits[limit];
      }
      delete (node as Record<string, unknown>)[LIMIT_EXTENSION];
    }
    visit(node.items);
    for (const property of Object.values(node.properties ?? {})) visit(property);
    for (const alternative of [...(node.oneOf ?? []), ...(node.anyOf ?? []), ...(node.allOf ?? [])]) visit(alternative);
  };
  visit(schema);
}
