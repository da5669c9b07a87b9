/**
 * The rules every approval follows, for delegated-release grants (src/delegation) and for the
 * two-person rule on destructive actions (src/dual-control): the one who asks never approves,
 * and an approver counts once however often they approve.
 */

/** The distinct approvers other than `requestedBy`, in the order given: the approvals that count. */
export function countedApprovers(requestedBy: string, approvers: readonly string[]): string[] {
  return [...new Set(approvers)].filter((approver) => approver !== requestedBy);
}

/**
 * Destructive actions under the two-person rule (DUAL_CONTROL=on, README "Two-person rule"):
 * one identity asks, a second identity (another token `sub`, holding `approvals:approve`)
 * approves, and only then does the action run. One more destructive action is one more name here
 * and one `DualControlService.authorize` call in its route.
 */
export const APPROVAL_ACTIONS = ['index.finish-rotation', 'kms-migration.start', 'shred-breaker.lift', 'keys.erase-now'] as const;
export type ApprovalAction = (typeof APPROVAL_ACTIONS)[number];

/** Approvals by identities other than the requester that an action needs: the second person. */
export const APPROVALS_REQUIRED = 1;

/** How long a request may wait for its approval and its use; then it expires (ask again). */
export const APPROVAL_REQUEST_TTL_SECONDS = 24 * 3600;

/** The header naming the approved request a call runs under (HTTP headers are case-insensitive). */
export const APPROVAL_ID_HEADER = 'X-Approval-Id';

/** A request's target as stored and compared: an index name, a KMS key id, a breaker trip number. */
export const APPROVAL_TARGET_MAX_LENGTH = 2048;
