import { arrayLength, merge, numbers } from '../common/audit-facts';
import type { DescribeOperation } from '../common/audit-vocabulary';
import { nestedCiphertextVersions, versionsIn } from '../envelope/ciphertext-versions';

/** How /rotate and /rewrap are described in the audit trail: the versions read and written. */

export const describeRotate: DescribeOperation = ({ body }, response) => {
  const found = nestedCiphertextVersions(body?.data);
  return {
    itemCount: found?.length ?? null,
    keyVersions: merge(found ?? [], numbers(response?.keyVersion)),
    details: rotateDetails(body?.reason, response?.replayed === true),
  };
};

export const describeRewrap: DescribeOperation = ({ body }, response) => ({
  itemCount: arrayLength(body?.data),
  keyVersions: merge(versionsIn(body?.data), versionsIn(response?.rewrappedData)),
});

/** The reason stated (when it is a reason's shape), and `replayed` when the answer repeated a committed rotation. */
function rotateDetails(reason: unknown, replayed: boolean): Record<string, unknown> | null {
  const details = {
    ...(typeof reason === 'string' && /^[a-z]{1,16}$/.test(reason) && { reason }),
    ...(replayed && { replayed: true }),
  };
  return Object.keys(details).length ? details : null;
}
