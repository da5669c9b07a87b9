import { decode } from 'jsonwebtoken';
import { TOKEN_ID_PATTERN } from '../auth/revocation/dto/revoke-token.dto';
import { isUserId } from '../common/user-id';
import { keyVersionOf } from '../envelope/ciphertext-format';
import { findCiphertexts } from '../envelope/json-ciphertexts';

/** Every action the audit trail records. */
export const AUDIT_ACTIONS = [
  'key.create',
  'key.read',
  'key.delete',
  'encrypt',
  'decrypt',
  'rotate',
  'rewrap',
  'token.revoke',
  'rotation.scheduled',
  'translate',
  'grant.create',
  'grant.approve',
  'grant.revoke',
  'grant.list',
  'auth.failure',
  'access.denied',
  'rate.limited',
  'audit.query',
  'audit.verify',
  'audit.report',
  'audit.purge',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * `started`: written before a state-changing operation runs (see docs/audit.md, fail-closed);
 * `denied`: refused before it ran (401, 403, 429).
 */
export const AUDIT_OUTCOMES = ['started', 'success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** Operations that change state: their `started` event must be durable before they run. */
export const STATE_CHANGING_ACTIONS: ReadonlySet<AuditAction> = new Set([
  'key.create',
  'key.delete',
  'rotate',
  'token.revoke',
  'grant.create',
  'grant.approve',
  'grant.revoke',
]);

/** Operations that read or rewrite a person's data: what an access report lists. */
export const DATA_ACCESS_ACTIONS: readonly AuditAction[] = ['encrypt', 'decrypt', 'rotate', 'rewrap', 'translate'];

/** Refusals recorded from the error path, by HTTP status. */
export const REFUSAL_ACTIONS: Readonly<Record<number, AuditAction>> = {
  401: 'auth.failure',
  403: 'access.denied',
  429: 'rate.limited',
};

/** What an operation's event says beyond who, when and on whom. Never data, keys or tokens. */
export interface OperationFacts {
  /** The person concerned, when the route names them otherwise than `userId`. */
  userId?: string | null;
  keyVersions?: number[];
  itemCount?: number | null;
  details?: Record<string, unknown> | null;
}

type Json = Record<string, unknown> | undefined;
type Describe = (request: { params: Record<string, unknown>; body: Json }, response: Json) => OperationFacts;

/**
 * How each HTTP operation is described, from its request (only fields that pass validation are
 * kept) and, on success, its response. Key versions come from the ciphertexts' version field.
 */
export const DESCRIBE: Partial<Record<AuditAction, Describe>> = {
  'key.create': (_request, response) => ({
    keyVersions: numbers(response?.keyVersion),
    details: typeof response?.created === 'boolean' ? { created: response.created } : null,
  }),
  'key.read': (_request, response) => ({ keyVersions: numbers(response?.keyVersion) }),
  'key.delete': (_request, response) => ({
    details: typeof response?.versionsDestroyed === 'number' ? { versionsDestroyed: response.versionsDestroyed } : null,
  }),
  encrypt: ({ body }, response) => ({ itemCount: arrayLength(body?.data), keyVersions: versionsIn(response?.encryptedData) }),
  decrypt: ({ body }) => ({ itemCount: arrayLength(body?.data), keyVersions: versionsIn(body?.data) }),
  rewrap: ({ body }, response) => ({
    itemCount: arrayLength(body?.data),
    keyVersions: merge(versionsIn(body?.data), versionsIn(response?.rewrappedData)),
  }),
  rotate: ({ body }, response) => {
    const found = nestedCiphertextVersions(body?.data);
    return {
      itemCount: found?.length ?? null,
      keyVersions: merge(found ?? [], numbers(response?.keyVersion)),
      details: typeof body?.reason === 'string' && /^[a-z]{1,16}$/.test(body.reason) ? { reason: body.reason } : null,
    };
  },
  'token.revoke': ({ body }, response) => {
    // The revoked token's id (jti) names it without being a credential; the token itself is never
    // recorded. A token sent whole has been verified by the time there is a response.
    const fromToken = response && typeof body?.token === 'string' ? decode(body.token, { json: true })?.jti : undefined;
    const tokenId = [body?.jti, fromToken].find((value) => typeof value === 'string' && TOKEN_ID_PATTERN.test(value));
    return { details: tokenId ? { tokenId } : null };
  },
  translate: ({ body }) => {
    const found = nestedCiphertextVersions(body?.data);
    return {
      userId: userIdOrNull(body?.fromUserId),
      itemCount: found?.length ?? null,
      keyVersions: merge(found ?? []),
      details: { toUserId: userIdOrNull(body?.toUserId) },
    };
  },
  'grant.create': ({ body }, response) => ({
    userId: userIdOrNull(body?.fromUserId),
    details: grantDetails({ id: response?.id, toUserId: body?.toUserId, reason: response?.reason }),
  }),
  'grant.approve': ({ params }, response) => ({
    userId: userIdOrNull(response?.fromUserId),
    details: grantDetails({ id: params.id, toUserId: response?.toUserId, state: response?.state }),
  }),
  'grant.revoke': ({ params }, response) => ({
    userId: userIdOrNull(response?.fromUserId),
    details: grantDetails({ id: params.id, toUserId: response?.toUserId, state: response?.state }),
  }),
  'grant.list': (_request, response) => ({ itemCount: Array.isArray(response) ? response.length : null }),
  'audit.query': (_request, response) => ({ itemCount: arrayLength(response?.events) }),
  'audit.verify': (_request, response) =>
    response ? { details: { ok: response.ok, chains: response.chains, events: response.events } } : {},
};

/** A grant's id, delegate, state and (as stored with the grant) reason; invalid values dropped. */
function grantDetails(grant: { id?: unknown; toUserId?: unknown; state?: unknown; reason?: unknown }): Record<string, unknown> {
  const text = (value: unknown, pattern: RegExp) => (typeof value === 'string' && pattern.test(value) ? value : undefined);
  return Object.fromEntries(
    Object.entries({
      grantId: text(grant.id, /^[\w-]{1,64}$/),
      toUserId: userIdOrNull(grant.toUserId) ?? undefined,
      state: text(grant.state, /^[a-z]{1,16}$/),
      reason: text(grant.reason, /^[^\u0000-\u001f\u007f]{1,500}$/),
    }).filter(([, value]) => value !== undefined),
  );
}

function userIdOrNull(value: unknown): string | null {
  return isUserId(value) ? value : null;
}

function numbers(value: unknown): number[] {
  return Number.isSafeInteger(value) ? [value as number] : [];
}

function arrayLength(value: unknown): number | null {
  return Array.isArray(value) ? value.length : null;
}

function versionsIn(items: unknown): number[] {
  if (!Array.isArray(items)) return [];
  const versions = items.map((item) => (typeof item === 'string' ? keyVersionOf(item) : undefined));
  return merge(versions.filter((v): v is number => v !== undefined));
}

/** Versions of the ciphertexts inside any JSON document; undefined when it is not walkable. */
function nestedCiphertextVersions(document: unknown): number[] | undefined {
  try {
    return findCiphertexts(document, 'data', Number.MAX_SAFE_INTEGER).map((found) => found.parts.keyVersion);
  } catch {
    return undefined;
  }
}

/** Distinct, ascending. */
function merge(...lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}
