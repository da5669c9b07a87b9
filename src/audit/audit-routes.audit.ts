import { arrayLength } from '../common/audit-facts';
import type { DescribeOperation } from '../common/audit-vocabulary';

/** How the audit trail's own routes are described in it. */

export const describeAuditQuery: DescribeOperation = (_request, response) => ({ itemCount: arrayLength(response?.events) });

export const describeAuditVerify: DescribeOperation = (_request, response) =>
  response
    ? {
        details: {
          ok: response.ok,
          mode: response.mode,
          chains: response.chains,
          events: response.events,
          checkpointed: response.checkpointed,
        },
      }
    : {};
