import { arrayLength, merge, numbers } from '../common/audit-facts';
import type { DescribeOperation } from '../common/audit-vocabulary';
import { nestedCiphertextVersions, versionsIn } from '../envelope/ciphertext-versions';

/** How /rotate and /rewrap are described in the audit trail: the versions read and written. */

export const describeRotate: DescribeOperation = ({ body }, response) => {
  const found = nestedCiphertextVersions(body?.data);
  return {
    itemCount: found?.length ?? null,
    keyVersions: merge(found ?? [], numbers(response?.keyVersion)),
    details: typeof body?.reason === 'string' && /^[a-z]{1,16}$/.test(body.reason) ? { reason: body.reason } : null,
  };
};

export const describeRewrap: DescribeOperation = ({ body }, response) => ({
  itemCount: arrayLength(body?.data),
  keyVersions: merge(versionsIn(body?.data), versionsIn(response?.rewrappedData)),
});
