import type { AuditAction } from '../common/audit-vocabulary';

/**
 * Action names and operation facts are defined in src/common (the @Audited decorator needs
 * them and may not import this module); they are re-exported here with the rest of the trail's
 * vocabulary. Each feature describes its own operations beside its controller (`*.audit.ts`).
 */
export { AUDIT_ACTIONS } from '../common/audit-vocabulary';
export type { AuditAction, OperationFacts } from '../common/audit-vocabulary';

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
  'key.restore',
  'rotate',
  'token.revoke',
  'grant.create',
  'grant.approve',
  'grant.revoke',
  'index.define',
  'index.rotate',
  'index.finish-rotation',
  'canary.create',
  'canary.retire',
  'kms-migration.start',
  'approval.approve',
  'shred-breaker.lift',
]);

/** Operations that read or rewrite a person's data: what an access report lists. */
export const DATA_ACCESS_ACTIONS: readonly AuditAction[] = ['encrypt', 'decrypt', 'rotate', 'rewrap', 'translate'];

/** Refusals recorded from the error path, by HTTP status. */
export const REFUSAL_ACTIONS: Readonly<Record<number, AuditAction>> = {
  401: 'auth.failure',
  403: 'access.denied',
  429: 'rate.limited',
};
