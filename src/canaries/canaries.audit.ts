import { arrayLength, userIdOrNull } from '../common/audit-facts';
import type { DescribeOperation } from '../common/audit-vocabulary';
import { isUuid } from '../common/uuid';

/** How the canary routes are described in the audit trail: ids and counts, never the ciphertexts. */

export const describeCanaryCreate: DescribeOperation = ({ body }, response) => {
  const created = Array.isArray(response?.canaries) ? (response.canaries as Array<{ id?: unknown }>) : [];
  return {
    userId: userIdOrNull(body?.userId),
    itemCount: arrayLength(response?.canaries),
    details: created.length ? { canaryIds: created.map((c) => c.id).filter(isUuid) } : null,
  };
};

export const describeCanaryList: DescribeOperation = (_request, response) => ({ itemCount: arrayLength(response?.canaries) });

export const describeCanaryRetire: DescribeOperation = ({ params }) => ({ details: isUuid(params.id) ? { canaryId: params.id } : null });
