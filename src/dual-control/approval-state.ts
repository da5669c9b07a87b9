import { APPROVALS_REQUIRED, countedApprovers } from '../common/approvals';

export const APPROVAL_STATES = ['pending', 'approved', 'used', 'expired'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

/** What the state of a request depends on. */
export interface ApprovalFacts {
  requestedBy: string;
  expiresAt: Date;
  usedAt: Date | null;
  approvers: readonly string[];
}

/**
 * A request is `used` once a call ran its action under it (it runs once), `expired` past its
 * expiry unused, `approved` once APPROVALS_REQUIRED identities other than its requester approved
 * it (each counted once: the grant approvals' rule, src/common/approvals.ts), else `pending`.
 */
export function approvalState(request: ApprovalFacts, now: Date): { state: ApprovalState; counted: string[] } {
  const counted = countedApprovers(request.requestedBy, request.approvers);
  const state: ApprovalState = request.usedAt
    ? 'used'
    : request.expiresAt <= now
      ? 'expired'
      : counted.length >= APPROVALS_REQUIRED
        ? 'approved'
        : 'pending';
  return { state, counted };
}
