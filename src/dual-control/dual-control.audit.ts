import type { DescribeOperation } from '../common/audit-vocabulary';
import { APPROVAL_ACTIONS } from '../common/approvals';
import { isUuid } from '../common/uuid';

/**
 * How the approval routes are described in the audit trail. The actor of `approval.approve` is the
 * approver; the event names the request, its action and target, and who asked (the other person).
 */
export const describeApprovalDecision: DescribeOperation = ({ params }, response) => ({
  details: Object.fromEntries(
    Object.entries({
      approvalRequestId: isUuid(params.id) ? params.id : undefined,
      action: (APPROVAL_ACTIONS as readonly unknown[]).includes(response?.action) ? response?.action : undefined,
      target: typeof response?.target === 'string' ? response.target.slice(0, 2048) : undefined,
      requestedBy: typeof response?.requestedBy === 'string' ? response.requestedBy.slice(0, 256) : undefined,
      state: typeof response?.state === 'string' && /^[a-z]{1,16}$/.test(response.state) ? response.state : undefined,
    }).filter(([, value]) => value !== undefined),
  ),
});

export const describeApprovalRead: DescribeOperation = ({ params }) => ({
  details: isUuid(params.id) ? { approvalRequestId: params.id } : null,
});

/**
 * For a route under the two-person rule: when it answered 202 with a request instead of running,
 * the request's id and state, so that its event does not read as the action done.
 */
export function approvalRequested(response: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!response || !isUuid(response.id) || !(APPROVAL_ACTIONS as readonly unknown[]).includes(response.action)) return {};
  return { approvalRequestId: response.id, approvalState: response.state === 'pending' ? 'pending' : 'other' };
}
