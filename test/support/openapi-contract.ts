import addFormats from 'ajv-formats';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAPIBackend, { type Document, type Operation, ValidationContext } from 'openapi-backend';
import type request from 'supertest';
import { createApp } from '../../src/app.factory';

type Schema = Record<string, any>;
type ResponseObject = {
  description?: string;
  content?: Record<string, { schema?: Schema }>;
  headers?: Record<string, { required?: boolean; schema?: Schema }>;
};

/**
 * Paths the document leaves out on purpose: the document itself and Swagger UI, and the local
 * issuer's JWKS (a development aid). Their responses are not checked; the receipt keys, which
 * the document states, are.
 */
const OUTSIDE_THE_DOCUMENT = [/^\/docs(\/|-json$|$)/, /^\/\.well-known\/jwks\.json$/];

/**
 * The service's OpenAPI document as a checker of real responses: every response must have a
 * status its operation lists, a body that matches that status's schema (response objects may not
 * carry undocumented fields), and the headers it marks required. Responses outside any operation
 * (an unknown path, a method the path does not take) must still carry the ErrorResponse body.
 */
export class ApiContract {
  private constructor(
    readonly document: Document,
    private readonly api: OpenAPIBackend,
  ) {}

  static async from(document: Document): Promise<ApiContract> {
    const api = new OpenAPIBackend({
      definition: closeResponseObjects(structuredClone(document)),
      strict: true,
      validate: true,
      quick: false,
      customizeAjv: (ajv) => {
        addFormats(ajv);
        return ajv;
      },
    });
    await api.init();
    return new ApiContract(document, api);
  }

  /** The document a running app serves; an app serving none (SWAGGER_ENABLED=false) is held to the default one. */
  static async of(url: string): Promise<ApiContract> {
    const served = await fetch(`${url}/docs-json`);
    if (served.ok) return ApiContract.from((await served.json()) as Document);
    defaultContract ??= loadDefault();
    return defaultContract;
  }

  operations(): Operation[] {
    return this.api.router.getOperations();
  }

  /** The operation a request would reach, if any. */
  operationFor(method: string, url: string): Operation | undefined {
    const { pathname, search } = new URL(url, 'http://localhost');
    return this.api.router.matchOperation({ method: method.toLowerCase(), path: pathname, query: search.slice(1), headers: {} });
  }

  /** Does the document accept this request (parameters and body)? The reasons when it does not. */
  requestErrors(
    operation: Operation,
    request: { method: string; path: string; query?: Record<string, string>; headers?: Record<string, string>; body?: unknown },
  ) {
    const result = this.api.validator.validateRequest(
      {
        method: request.method.toLowerCase(),
        path: request.path,
        query: request.query ?? {},
        headers: { 'content-type': 'application/json', ...request.headers },
        body: request.body,
      },
      operation,
    );
    return result.valid
      ? []
      : (result.errors ?? []).map(
          (error) => `${error.instancePath || '/'} ${error.message}${error.params ? ` ${JSON.stringify(error.params)}` : ''}`,
        );
  }

  /** Throws an AssertionError saying how the response departs from the document. */
  check(method: string, url: string, response: request.Response): void {
    const { pathname } = new URL(url, 'http://localhost');
    if (OUTSIDE_THE_DOCUMENT.some((pattern) => pattern.test(pathname))) return;
    const upper = method.toUpperCase();
    const operation = this.operationFor(upper === 'HEAD' ? 'GET' : upper, url);
    const where = `${upper} ${pathname} answered ${response.status}`;
    if (!operation || upper === 'HEAD' || upper === 'OPTIONS') {
      // Outside every operation (unknown path, a method the path does not take, a CORS preflight): errors keep the error body.
      if (response.status >= 400 && upper !== 'HEAD') this.checkBody(where, this.errorSchema(), response);
      if (operation && upper === 'HEAD') this.documentedResponse(where, operation, response.status);
      return;
    }
    const documented = this.documentedResponse(where, operation, response.status);
    for (const [name, header] of Object.entries(documented.headers ?? {})) {
      const value = response.headers[name.toLowerCase()];
      if (header.required) assert.ok(value !== undefined, `${where} without the ${name} header the document requires`);
      if (value !== undefined && header.schema?.pattern) {
        assert.match(
          String(value),
          new RegExp(header.schema.pattern, 'u'),
          `${where} with a ${name} header outside the documented pattern`,
        );
      }
    }
    const mediaTypes = Object.keys(documented.content ?? {});
    if (mediaTypes.length === 0) return;
    const contentType = String(response.headers['content-type'] ?? '')
      .split(';')[0]
      .trim();
    assert.ok(
      mediaTypes.includes(contentType),
      `${where} as ${contentType || 'no content type'}; the document says ${mediaTypes.join(' or ')}`,
    );
    if (contentType !== 'application/json') {
      assert.equal(typeof response.text, 'string', `${where} without a text body`);
      return;
    }
    const result = this.api.validator.validateResponse(response.body, operation, response.status);
    assert.ok(
      result.valid,
      `${where}: the body departs from the document (${operation.operationId}):\n${describe(result.errors)}\nbody: ${preview(response.body)}`,
    );
  }

  /** check() for an answer of fetch (read from a clone, so the caller can still read the body). */
  async checkFetched(method: string, url: string, response: Response): Promise<void> {
    const text = await response.clone().text();
    const headers = Object.fromEntries(response.headers.entries());
    const body = /^application\/json/.test(headers['content-type'] ?? '') && text ? JSON.parse(text) : {};
    // What check() reads of a supertest response: status, lower-case headers, text, parsed JSON body.
    this.check(method, url, { status: response.status, headers, text, body } as unknown as request.Response);
  }

  private documentedResponse(where: string, operation: Operation, status: number): ResponseObject {
    const responses = operation.responses as Record<string, ResponseObject>;
    const documented = responses[String(status)] ?? responses.default;
    assert.ok(documented, `${where}, a status ${operation.operationId} does not document (it lists ${Object.keys(responses).join(', ')})`);
    return documented;
  }

  private errorSchema(): Schema {
    return (this.api.definition.components?.schemas as Record<string, Schema>).ErrorResponse;
  }

  private checkBody(where: string, schema: Schema, response: request.Response): void {
    const contentType = String(response.headers['content-type'] ?? '');
    assert.match(contentType, /^application\/json/, `${where} without a JSON error body`);
    const validate = this.api.validator.getAjv(ValidationContext.Response).compile(schema);
    assert.ok(
      validate(response.body),
      `${where}: not the ErrorResponse body:\n${describe(validate.errors)}\nbody: ${preview(response.body)}`,
    );
  }
}

let defaultContract: Promise<ApiContract> | undefined;

/** The document of an app on the embedded defaults, served once for the suites whose apps serve none. */
async function loadDefault(): Promise<ApiContract> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pii-api-contract-'));
  const app = await createApp({
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    DATA_DIR: dataDir,
    SWAGGER_ENABLED: 'true',
    ROTATION_ENABLED: 'false',
  });
  try {
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    const served = await fetch(`http://127.0.0.1:${port}/docs-json`);
    return await ApiContract.from((await served.json()) as Document);
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Response objects are held to the fields the document lists: an undocumented field in an answer
 * is a difference between the two (clients may still ignore new fields; the tests may not).
 */
function closeResponseObjects(document: Document): Document {
  const visit = (schema: Schema | undefined): void => {
    if (!schema || typeof schema !== 'object' || '$ref' in schema) return;
    if (schema.properties && schema.additionalProperties === undefined) schema.additionalProperties = false;
    for (const property of Object.values((schema.properties ?? {}) as Record<string, Schema>)) visit(property);
    visit(schema.items);
    for (const alternative of [...(schema.allOf ?? []), ...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) visit(alternative);
  };
  for (const schema of Object.values((document.components?.schemas ?? {}) as Record<string, Schema>)) visit(schema);
  return document;
}

function describe(errors: Array<{ instancePath?: string; message?: string; params?: unknown }> | null | undefined): string {
  return (errors ?? [])
    .slice(0, 8)
    .map((error) => `  ${error.instancePath || '/'} ${error.message ?? ''} ${error.params ? JSON.stringify(error.params) : ''}`)
    .join('\n');
}

function preview(body: unknown): string {
  const text = JSON.stringify(body) ?? String(body);
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

const HTTP_METHODS = new Set(['get', 'post', 'put', 'patch', 'delete', 'del', 'head', 'options', 'trace']);

/**
 * The agent, with every request it makes checked against the contract when it is awaited: the
 * check runs as the request's first assertion, so a test whose response departs from the
 * document fails with the difference.
 */
export function checkedAgent<T extends request.Agent>(agent: T, contract: ApiContract): T {
  const proxy: T = new Proxy(agent, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (typeof property === 'string' && HTTP_METHODS.has(property)) {
        const method = property === 'del' ? 'delete' : property;
        return (url: string, ...rest: unknown[]) =>
          (value as (...args: unknown[]) => request.Test)
            .call(target, url, ...rest)
            .expect((response: request.Response) => contract.check(method, url, response));
      }
      // Setters of the agent (auth, set, …) return the agent: keep returning the checked one.
      return (...args: unknown[]) => {
        const result = (value as (...args: unknown[]) => unknown).apply(target, args);
        return result === target ? proxy : result;
      };
    },
  });
  return proxy;
}

/**
 * fetch, with every answer checked against the contract before it is returned: a departure from
 * the document rejects the call with the difference, as checkedAgent's requests fail.
 */
export function checkedFetch(
  contract: ApiContract,
  send: (request: Request) => Promise<Response> = (request) => fetch(request),
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const request = new Request(input, init);
    const response = await send(request);
    await contract.checkFetched(request.method, request.url, response);
    return response;
  };
}
