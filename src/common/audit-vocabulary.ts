/**
 * The words of the audit trail that every layer may use: the action names and what an
 * operation's event says. They live here, at the bottom, because the metadata-only @Audited
 * decorator (src/common/decorators) names an action and carries its feature's description, and
 * src/common imports nothing above it. The audit module (src/audit/audit-actions.ts) re-exports
 * them and adds the rest of its vocabulary: outcomes, state-changing and data-access sets.
 */

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
  'index.define',
  'index.read',
  'index.compute',
  'index.rotate',
  'index.finish-rotation',
  'canary.create',
  'canary.list',
  'canary.retire',
  'canary.tripped',
  'budget.exceeded',
  'kms-migration.start',
  'kms-migration.read',
  'key-census.read',
  'kms-migration.finish',
  'key.shred-replayed',
  'key.restore',
  'approval.read',
  'approval.approve',
  'approval.execute',
  'shred-breaker.read',
  'shred-breaker.lift',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What an operation's event says beyond who, when and on whom. Never data, keys or tokens. */
export interface OperationFacts {
  /** The person concerned, when the route names them otherwise than `userId`. */
  userId?: string | null;
  keyVersions?: number[];
  itemCount?: number | null;
  details?: Record<string, unknown> | null;
}

export type AuditJson = Record<string, unknown> | undefined;

/**
 * How a feature describes one of its HTTP operations, from the request (path parameters, and
 * the body as received: check every field before recording it) and, on success, the response.
 * Called for the `started`, `failure` and `success` events alike, so it must not throw.
 */
export type DescribeOperation = (request: { params: Record<string, unknown>; body: AuditJson }, response: AuditJson) => OperationFacts;

/** Where the stored event of an operation is: its id and hash. */
export interface AuditEventReference {
  id: string;
  hash: string;
}

/**
 * A handler may return an object carrying this key when its answer must name the event that
 * records it (a crypto-shred receipt does): the audit interceptor stores the success event as
 * always, then answers with what the function returns for that event (null when the event was
 * lost under AUDIT_FAIL_OPEN=true). Still one event per operation.
 */
export const COMPLETE_WITH_AUDIT_EVENT = Symbol('completeWithAuditEvent');

export interface CompletedWithAuditEvent {
  [COMPLETE_WITH_AUDIT_EVENT]: (event: AuditEventReference | null) => Promise<unknown>;
}

export function completesWithAuditEvent(value: unknown): value is CompletedWithAuditEvent {
  return typeof (value as Partial<CompletedWithAuditEvent> | null)?.[COMPLETE_WITH_AUDIT_EVENT] === 'function';
}

/**
 * A handler whose change is committed before its success event can be stored (a /rotate) may
 * return an object carrying this key: when that event is not stored — the trail refuses it, or
 * it is lost under AUDIT_FAIL_OPEN=true — the audit interceptor logs the event in full and
 * answers with what the function returns (the committed result, saying that its event was not
 * stored) instead of 503 SYS002, which would tell the caller that nothing changed.
 */
export const ANSWER_WITHOUT_AUDIT_EVENT = Symbol('answerWithoutAuditEvent');

export interface AnsweredWithoutAuditEvent {
  [ANSWER_WITHOUT_AUDIT_EVENT]: () => unknown;
}

export function answersWithoutAuditEvent(value: unknown): value is AnsweredWithoutAuditEvent {
  return typeof (value as Partial<AnsweredWithoutAuditEvent> | null)?.[ANSWER_WITHOUT_AUDIT_EVENT] === 'function';
}
