import type { DescribeOperation } from '../common/audit-vocabulary';
import { approvalRequested } from '../dual-control/dual-control.audit';

/** How the breaker's routes are described in the audit trail: its state afterwards, or the approval request made. */
export const describeShredBreaker: DescribeOperation = (_request, response) => ({
  details: {
    ...(typeof response?.tripped === 'boolean' && { tripped: response.tripped }),
    ...(Number.isSafeInteger(response?.trip) && { trip: response?.trip }),
    ...(Number.isSafeInteger(response?.destroyedInWindow) && { destroyedInWindow: response?.destroyedInWindow }),
    ...approvalRequested(response),
  },
});
