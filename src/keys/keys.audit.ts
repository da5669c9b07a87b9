import { numbers } from '../common/audit-facts';
import type { DescribeOperation } from '../common/audit-vocabulary';
import { approvalRequested } from '../dual-control/dual-control.audit';

/** How the key routes are described in the audit trail. */

export const describeKeyCreate: DescribeOperation = (_request, response) => ({
  keyVersions: numbers(response?.keyVersion),
  details: typeof response?.created === 'boolean' ? { created: response.created } : null,
});

export const describeKeyRead: DescribeOperation = (_request, response) => ({ keyVersions: numbers(response?.keyVersion) });

/** RFC 3339 instants only (a pending deletion's times). */
const instant = (value: unknown): string | undefined =>
  typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value) ? value : undefined;

/**
 * A response that already carries its receipt answers a repeated DELETE: nothing was destroyed
 * this time. A pending deletion (the deletion window) records when the keys are destroyed.
 */
export const describeKeyDelete: DescribeOperation = (_request, response) => {
  if (response?.state === 'pending-deletion' && instant(response.destroysAt)) {
    return {
      keyVersions: numbers(response.keyVersion),
      details: {
        pendingDeletion: true,
        deletionRequestedAt: instant(response.deletionRequestedAt),
        destroysAt: instant(response.destroysAt),
      },
    };
  }
  return {
    details:
      typeof response?.versionsDestroyed === 'number'
        ? { versionsDestroyed: response.versionsDestroyed, ...(typeof response.receipt === 'string' && { repeated: true }) }
        : null,
  };
};

/** POST /keys/{userId}/erase-now: what was destroyed, or the approval request made (the two-person rule). */
export const describeKeyEraseNow: DescribeOperation = (request, response) => {
  const requested = approvalRequested(response);
  if (Object.keys(requested).length) return { details: { immediately: true, ...requested } };
  const destroyed = describeKeyDelete(request, response);
  return { ...destroyed, details: { immediately: true, ...(destroyed.details ?? {}) } };
};

/** POST /keys/{userId}/cancel-deletion: whether a pending deletion was lifted. */
export const describeKeyRestore: DescribeOperation = (_request, response) => ({
  keyVersions: numbers(response?.keyVersion),
  details: typeof response?.cancelled === 'boolean' ? { cancelled: response.cancelled } : null,
});

/** GET /admin/key-census: the counts answered (never a person). */
export const describeKeyCensus: DescribeOperation = (_request, response) => ({
  details: response?.currentKeys && typeof response.currentKeys === 'object' ? { currentKeys: response.currentKeys } : null,
});
