import { countedApprovers } from '../common/approvals';
import { KeyGrant } from '../repositories/entities/key-grant.entity';

export const GRANT_STATES = ['pending', 'scheduled', 'active', 'expired', 'revoked'] as const;
export type GrantState = (typeof GRANT_STATES)[number];

/**
 * A grant is active once `required` distinct callers other than its creator approved it, its
 * notBefore has passed and it has neither expired nor been revoked.
 */
export function grantState(grant: KeyGrant, required: number, now: Date): { state: GrantState; countedApprovals: number } {
  const countedApprovals = countedApprovers(
    grant.createdBy,
    grant.approvals.map((a) => a.approver),
  ).length;
  const state: GrantState = grant.revokedAt
    ? 'revoked'
    : grant.expiresAt && grant.expiresAt <= now
      ? 'expired'
      : countedApprovals < required
        ? 'pending'
        : grant.notBefore && grant.notBefore > now
          ? 'scheduled'
          : 'active';
  return { state, countedApprovals };
}

/** Why a translate under this grant is refused, in words for the caller. */
export function whyNotActive(state: GrantState, countedApprovals: number, required: number): string {
  switch (state) {
    case 'pending':
      return `the grant has ${countedApprovals} of ${required} required approvals`;
    case 'scheduled':
      return 'the grant is not valid before its notBefore time';
    case 'expired':
      return 'the grant has expired';
    case 'revoked':
      return 'the grant was revoked';
    default:
      return 'the grant is active';
  }
}
