import { numbers } from '../common/audit-facts';
import type { DescribeOperation } from '../common/audit-vocabulary';

/** How the key routes are described in the audit trail. */

export const describeKeyCreate: DescribeOperation = (_request, response) => ({
  keyVersions: numbers(response?.keyVersion),
  details: typeof response?.created === 'boolean' ? { created: response.created } : null,
});

export const describeKeyRead: DescribeOperation = (_request, response) => ({ keyVersions: numbers(response?.keyVersion) });

/** A response that already carries its receipt answers a repeated DELETE: nothing was destroyed this time. */
export const describeKeyDelete: DescribeOperation = (_request, response) => ({
  details:
    typeof response?.versionsDestroyed === 'number'
      ? { versionsDestroyed: response.versionsDestroyed, ...(typeof response.receipt === 'string' && { repeated: true }) }
      : null,
});
