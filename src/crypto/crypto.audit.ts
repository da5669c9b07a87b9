import { arrayLength } from '../common/audit-facts';
import type { DescribeOperation } from '../common/audit-vocabulary';
import { versionsIn } from '../envelope/ciphertext-versions';
import { answerVersions, indexNameOrNull } from '../indexes/indexes.audit';

/** How /encrypt and /decrypt are described in the audit trail; key versions come from the ciphertexts. */

/** With `index`, the blind index's name and key versions too (never the indexes themselves). */
export const describeEncrypt: DescribeOperation = ({ body }, response) => {
  const index = indexNameOrNull(body?.index);
  return {
    itemCount: arrayLength(body?.data),
    keyVersions: versionsIn(response?.encryptedData),
    ...(index && { details: { index, indexVersions: answerVersions(response?.blindIndexes) } }),
  };
};

export const describeDecrypt: DescribeOperation = ({ body }) => ({
  itemCount: arrayLength(body?.data),
  keyVersions: versionsIn(body?.data),
});
