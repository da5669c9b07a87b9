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
