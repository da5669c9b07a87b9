import createClient, { type Client } from 'openapi-fetch';
import { PiiApiError } from './errors';
import type { paths } from './generated/schema';
import { ciphertextKeyVersion, encryptLocally, type KeyAlgorithm } from './local-encryption';
import { PublicKeyCache, type PublicKeyCacheOptions, type PublicKeyInfo } from './public-key-cache';
import { parseRetryAfter, type RetryOptions } from './retry-policy';
import { createTransport, REQUEST_ID_HEADER, type Fetch, type TokenSource } from './transport';

type JsonBody<Path extends keyof paths, Method extends 'post' | 'get' | 'delete'> = paths[Path][Method] extends {
  requestBody?: { content: { 'application/json': infer Body } };
}
  ? Body
  : never;
type Query<Path extends keyof paths> = paths[Path]['get'] extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
/** The request headers the document gives a POST route. */
type HeaderParams<Path extends keyof paths> = paths[Path]['post'] extends { parameters: { header?: infer H } } ? NonNullable<H> : never;

export interface PiiApiClientOptions {
  /** Where the service is, without `/api/v1` (e.g. `https://pii-api.internal`). */
  baseUrl: string;
  /** A bearer token, or a function giving the current one (called before every attempt, so it may refresh). */
  token: TokenSource;
  /** Retries on 429, 503 and failed connections (see retry-policy.ts for which calls may repeat). */
  retry?: RetryOptions;
  /** The public-key cache used by `encryptLocal`. */
  publicKeyCache?: PublicKeyCacheOptions;
  /** Makes the `X-Request-Id` of a call that names none (default: a random UUID). */
  requestId?: () => string;
  /** The fetch underneath (default: the global fetch of Node 20+). */
  fetch?: Fetch;
}

/** Per call: its request id (else generated) and an AbortSignal that also ends waits between retries. */
export interface CallOptions {
  requestId?: string;
  signal?: AbortSignal;
}

/**
 * Per call, for the destructive admin actions under the two-person rule (finishing a blind-index
 * rotation, starting a KMS key migration, lifting the mass-destruction breaker): without
 * `approvalId` the service runs nothing and answers 202 with a request that a second identity
 * approves (`approveApprovalRequest`); the requester then calls again with its id, and the action runs once.
 */
export interface ApprovedCallOptions extends CallOptions {
  approvalId?: string;
}

/** Per call, for the calls that count the person against the caller's decrypt budget: decrypt, rotate, rewrap and translate. */
export interface BudgetedCallOptions extends CallOptions {
  /**
   * Break-glass: why this caller reads past its decrypt budget, sent as `X-Break-Glass-Reason`
   * and recorded in the audit trail. The service honours it only for callers holding
   * `decrypt:break-glass`, and checks it (1 to 200 printable ASCII characters, not only spaces:
   * else 400 ENC001); without it a caller over budget gets 429 RATE002.
   */
  breakGlassReason?: HeaderParams<'/api/v1/decrypt'>['X-Break-Glass-Reason'];
}

/**
 * The Personal Information Encryption API for a Node.js backend service. Every method answers
 * the success body of its route or throws PiiApiError (status, code, message, requestId); a
 * failed connection throws the fetch error. `api` is the typed openapi-fetch client underneath,
 * for anything the methods do not cover.
 */
export class PiiApiClient {
  readonly api: Client<paths>;
  readonly publicKeys: PublicKeyCache;
  private readonly once: Fetch;

  constructor(options: PiiApiClientOptions) {
    if (!options?.baseUrl) throw new TypeError('baseUrl is required');
    if (options.token === undefined) throw new TypeError('token is required');
    this.api = createClient<paths>({ baseUrl: options.baseUrl, fetch: createTransport(options) });
    this.once = createTransport(options, { retry: false });
    this.publicKeys = new PublicKeyCache((userId) => this.fetchPublicKey(userId), options.publicKeyCache);
  }

  // keys

  /** Creates the user's key pair; idempotent (`created: false` when it already exists). */
  async createKey(userId: string, options?: CallOptions) {
    const created = await this.unwrap(this.api.POST('/api/v1/keys', { body: { userId }, ...this.init(options) }));
    this.publicKeys.observeVersion(userId, created.keyVersion);
    return created;
  }

  /** Key metadata, every version, and the current public key (PEM). */
  async getKey(userId: string, options?: CallOptions) {
    const details = await this.unwrap(this.api.GET('/api/v1/keys/{userId}', { params: { path: { userId } }, ...this.init(options) }));
    this.publicKeys.observeVersion(userId, details.keyVersion);
    return details;
  }

  /**
   * Deletes the user's keys: with the service's deletion window (SHRED_PENDING_DAYS) they are
   * pending deletion at once (every use refused, 202 with `destroysAt`) and crypto-shredded when it
   * ends; without one, or once destroyed, the answer is the signed receipt. Repeated only when it
   * surely did not run; calling it again by hand answers the same.
   */
  async deleteKey(userId: string, options?: CallOptions) {
    try {
      return await this.unwrap(this.api.DELETE('/api/v1/keys/{userId}', { params: { path: { userId } }, ...this.init(options) }));
    } finally {
      this.publicKeys.invalidate(userId);
    }
  }

  /** Cancels a pending deletion within its window: the keys, and every ciphertext under them, are usable again. */
  async cancelDeletion(userId: string, options?: CallOptions) {
    try {
      return await this.unwrap(
        this.api.POST('/api/v1/keys/{userId}/cancel-deletion', { params: { path: { userId } }, ...this.init(options) }),
      );
    } finally {
      this.publicKeys.invalidate(userId);
    }
  }

  /** Crypto-shreds at once, without waiting for the deletion window (two-person rule: see ApprovedCallOptions). */
  async eraseNow(userId: string, options?: ApprovedCallOptions) {
    try {
      return await this.unwrap(
        this.api.POST('/api/v1/keys/{userId}/erase-now', {
          params: { path: { userId }, header: approval(options) },
          ...this.init(options),
        }),
      );
    } finally {
      this.publicKeys.invalidate(userId);
    }
  }

  /** The public keys (JWKS, Ed25519) that verify the signed receipts of `deleteKey`. */
  receiptKeys(options?: CallOptions) {
    return this.unwrap(this.api.GET('/.well-known/receipt-keys.json', this.init(options)));
  }

  // encryption

  /** Encrypts on the service under the user's current key. */
  async encrypt(userId: string, data: string[], options?: CallOptions): Promise<string[]> {
    const { encryptedData } = await this.unwrap(this.api.POST('/api/v1/encrypt', { body: { userId, data }, ...this.init(options) }));
    this.observeCiphertexts(userId, encryptedData);
    return encryptedData;
  }

  /**
   * Encrypts here, with the user's cached public key: the plaintext never leaves this process.
   * The service decrypts the result like its own.
   */
  async encryptLocal(userId: string, data: readonly string[]): Promise<string[]> {
    const { algorithm = 'RSA-OAEP-256', publicKey, keyVersion } = await this.publicKeys.get(userId);
    return encryptLocally({ algorithm, publicKey, keyVersion }, userId, data);
  }

  /** Decrypts a batch of the user's ciphertexts (all or nothing); `purpose` goes to the audit trail. */
  async decrypt(userId: string, data: string[], options?: BudgetedCallOptions & { purpose?: string }): Promise<string[]> {
    this.observeCiphertexts(userId, data);
    const body: JsonBody<'/api/v1/decrypt', 'post'> = { userId, data, ...(options?.purpose !== undefined && { purpose: options.purpose }) };
    const { decryptedData } = await this.unwrap(
      this.api.POST('/api/v1/decrypt', { body, params: { header: breakGlass(options) }, ...this.init(options) }),
    );
    return decryptedData;
  }

  // rotation

  /** Creates a new key version and re-encrypts every ciphertext of the user found in `data` (any JSON). */
  async rotate(userId: string, data: unknown, options?: BudgetedCallOptions & { reason?: JsonBody<'/api/v1/rotate', 'post'>['reason'] }) {
    const body = { userId, data, ...(options?.reason !== undefined && { reason: options.reason }) } as JsonBody<'/api/v1/rotate', 'post'>;
    const rotated = await this.unwrap(
      this.api.POST('/api/v1/rotate', { body, params: { header: breakGlass(options) }, ...this.init(options) }),
    );
    this.publicKeys.observeVersion(userId, rotated.keyVersion);
    return rotated;
  }

  /** The same plaintexts under the user's current key version, without a new version. */
  async rewrap(userId: string, data: string[], options?: BudgetedCallOptions): Promise<string[]> {
    const { rewrappedData } = await this.unwrap(
      this.api.POST('/api/v1/rewrap', {
        body: { userId, data },
        params: { header: breakGlass(options) },
        ...this.init(options),
      }),
    );
    this.observeCiphertexts(userId, rewrappedData);
    return rewrappedData;
  }

  // delegation

  /** Creates a pending grant releasing one person's data to a delegate. */
  createGrant(grant: JsonBody<'/api/v1/grants', 'post'>, options?: CallOptions) {
    return this.unwrap(this.api.POST('/api/v1/grants', { body: grant, ...this.init(options) }));
  }

  /** Approves a grant as the calling identity. */
  approveGrant(id: string, options?: CallOptions) {
    return this.unwrap(this.api.POST('/api/v1/grants/{id}/approve', { params: { path: { id } }, ...this.init(options) }));
  }

  /** Revokes a grant. */
  revokeGrant(id: string, options?: CallOptions) {
    return this.unwrap(this.api.DELETE('/api/v1/grants/{id}', { params: { path: { id } }, ...this.init(options) }));
  }

  /** Grants and their states, newest first. */
  listGrants(query: Query<'/api/v1/grants'> = {}, options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/grants', { params: { query }, ...this.init(options) }));
  }

  /** Re-encrypts a person's ciphertexts (any JSON) to a delegate's key under an active grant. */
  async translate(fromUserId: string, toUserId: string, data: unknown, options?: BudgetedCallOptions): Promise<unknown> {
    const body = { fromUserId, toUserId, data } as JsonBody<'/api/v1/translate', 'post'>;
    const { translatedData } = await this.unwrap(
      this.api.POST('/api/v1/translate', { body, params: { header: breakGlass(options) }, ...this.init(options) }),
    );
    return translatedData;
  }

  // blind indexes

  /** Defines a blind index (idempotent: defining it again the same way answers the existing one). */
  defineIndex(definition: JsonBody<'/api/v1/indexes', 'post'>, options?: CallOptions) {
    return this.unwrap(this.api.POST('/api/v1/indexes', { body: definition, ...this.init(options) }));
  }

  /** Every blind index with its plan and key versions. */
  listIndexes(options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/indexes', this.init(options)));
  }

  /** One blind index: definition, expected coincidences per lookup, key versions. */
  getIndex(name: string, options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/indexes/{name}', { params: { path: { name } }, ...this.init(options) }));
  }

  /** One blind index per value, same order (and under the previous key too while a rotation is in progress). */
  computeIndexes(name: string, data: string[], options?: CallOptions) {
    return this.unwrap(this.api.POST('/api/v1/indexes/{name}', { params: { path: { name } }, body: { data }, ...this.init(options) }));
  }

  /** Starts a key rotation of the index: answers carry the previous version too until it is finished. */
  rotateIndex(name: string, options?: CallOptions) {
    return this.unwrap(this.api.POST('/api/v1/indexes/{name}/rotate', { params: { path: { name } }, ...this.init(options) }));
  }

  /** Finishes the rotation: the previous key is destroyed (two-person rule: see ApprovedCallOptions). */
  finishIndexRotation(name: string, options?: ApprovedCallOptions) {
    return this.unwrap(
      this.api.POST('/api/v1/indexes/{name}/finish-rotation', {
        params: { path: { name }, header: approval(options) },
        ...this.init(options),
      }),
    );
  }

  // canaries

  /** Creates canary rows of a user (decoy fields of the shapes named, under one data key): plant each as a row among real rows; any call that touches one of its fields is refused and recorded. */
  createCanaries(request: JsonBody<'/api/v1/canaries', 'post'>, options?: CallOptions) {
    return this.unwrap(this.api.POST('/api/v1/canaries', { body: request, ...this.init(options) }));
  }

  /** The live canaries, newest first (without their ciphertexts). */
  listCanaries(options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/canaries', this.init(options)));
  }

  /** Retires a canary: touching it is no longer an alarm. */
  retireCanary(id: string, options?: CallOptions) {
    return this.unwrap(this.api.DELETE('/api/v1/canaries/{id}', { params: { path: { id } }, ...this.init(options) }));
  }

  // administration

  /** Re-seals every sealed key under the current KMS key; idempotent while a migration to that key runs (two-person rule: see ApprovedCallOptions). */
  startKmsMigration(options?: ApprovedCallOptions) {
    return this.unwrap(this.api.POST('/api/v1/admin/kms-migration', { params: { header: approval(options) }, ...this.init(options) }));
  }

  /** People's current keys by algorithm: how many are still RSA-OAEP-256 (the move to X-Wing, followed). */
  keyCensus(options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/admin/key-census', this.init(options)));
  }

  /** The mass-destruction breaker: whether DELETE /keys is refused, and the count of the sliding hour. */
  shredBreaker(options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/admin/shred-breaker', this.init(options)));
  }

  /** Lifts a tripped breaker (two-person rule: see ApprovedCallOptions). */
  liftShredBreaker(options?: ApprovedCallOptions) {
    return this.unwrap(this.api.POST('/api/v1/admin/shred-breaker/lift', { params: { header: approval(options) }, ...this.init(options) }));
  }

  // the two-person rule

  /** The newest requests for destructive actions, with their state. */
  listApprovalRequests(options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/approvals', this.init(options)));
  }

  /** One request for a destructive action, with its approvals. */
  getApprovalRequest(id: string, options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/approvals/{id}', { params: { path: { id } }, ...this.init(options) }));
  }

  /** Approves a request as the calling identity (never its requester); the requester then runs it with `approvalId`. */
  approveApprovalRequest(id: string, options?: CallOptions) {
    return this.unwrap(this.api.POST('/api/v1/approvals/{id}/approve', { params: { path: { id } }, ...this.init(options) }));
  }

  /** The latest KMS key migration, and the sealed keys still under an old key. */
  kmsMigration(options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/admin/kms-migration', this.init(options)));
  }

  // audit

  /** Audit events, newest first; pass `nextCursor` back as `cursor` for the next page. */
  auditEvents(query: Query<'/api/v1/audit'> = {}, options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/audit', { params: { query }, ...this.init(options) }));
  }

  /**
   * Checks every hash chain of the audit trail: from each chain's last verified checkpoint, or
   * with `{ full: true }` from its start (run that on a schedule: it also finds edits before a checkpoint).
   */
  verifyAudit(query: Query<'/api/v1/audit/verify'> = {}, options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/audit/verify', { params: { query }, ...this.init(options) }));
  }

  /** Who encrypted or decrypted this person's data, how much, when and why. */
  accessReport(userId: string, query: Query<'/api/v1/keys/{userId}/access-report'> = {}, options?: CallOptions) {
    return this.unwrap(this.api.GET('/api/v1/keys/{userId}/access-report', { params: { path: { userId }, query }, ...this.init(options) }));
  }

  // tokens

  /** Revokes an access token by its `jti`, or the token itself: every replica refuses it until it expires. */
  revokeToken(which: JsonBody<'/api/v1/tokens/revoke', 'post'>, options?: CallOptions) {
    return this.unwrap(this.api.POST('/api/v1/tokens/revoke', { body: which, ...this.init(options) }));
  }

  // health and metrics (no token needed; sent anyway)

  /** Liveness. */
  live(options?: CallOptions) {
    return this.unwrap(this.api.GET('/health/live', this.init(options)));
  }

  /** Readiness: `ready: false` with the per-check detail while a dependency is down (503); never retried. */
  async ready(options?: CallOptions): Promise<{ ready: boolean; status: number; report: unknown }> {
    const { data, error, response } = await this.api.GET('/health/ready', { ...this.init(options), fetch: this.once });
    if (response.ok || response.status === 503) return { ready: response.ok, status: response.status, report: data ?? error };
    throw PiiApiError.fromResponse(response, error);
  }

  /** Prometheus metrics, as text. */
  metrics(options?: CallOptions): Promise<string> {
    return this.unwrap(this.api.GET('/metrics', { ...this.init(options), parseAs: 'text' })) as Promise<string>;
  }

  // internals

  private async fetchPublicKey(userId: string): Promise<PublicKeyInfo> {
    const { keyVersion, publicKey, algorithm } = await this.unwrap(this.api.GET('/api/v1/keys/{userId}', { params: { path: { userId } } }));
    return { userId, keyVersion, publicKey, algorithm: algorithm as KeyAlgorithm };
  }

  /** A ciphertext newer than the cached key means the cached key is stale. */
  private observeCiphertexts(userId: string, ciphertexts: readonly unknown[]): void {
    let newest = 0;
    for (const item of ciphertexts) if (typeof item === 'string') newest = Math.max(newest, ciphertextKeyVersion(item) ?? 0);
    if (newest > 0) this.publicKeys.observeVersion(userId, newest);
  }

  private init(options?: CallOptions): { headers?: Record<string, string>; signal?: AbortSignal } {
    return {
      ...(options?.requestId !== undefined && { headers: { [REQUEST_ID_HEADER]: options.requestId } }),
      ...(options?.signal && { signal: options.signal }),
    };
  }

  private async unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
    const { data, error, response } = await call;
    if (!response.ok) {
      const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
      throw PiiApiError.fromResponse(response, error, retryAfter === undefined ? undefined : Math.ceil(retryAfter / 1000));
    }
    return data as T;
  }
}

/**
 * The X-Break-Glass-Reason header of a budgeted call, as the document names it (each route's
 * generated header type checks it where it is sent); none without a reason.
 */
function approval(options?: ApprovedCallOptions): { 'X-Approval-Id'?: string } {
  return options?.approvalId === undefined ? {} : { 'X-Approval-Id': options.approvalId };
}

function breakGlass(options?: BudgetedCallOptions): HeaderParams<'/api/v1/decrypt'> {
  return options?.breakGlassReason === undefined ? {} : { 'X-Break-Glass-Reason': options.breakGlassReason };
}
