import { arrayLength } from '../common/audit-facts';
import type { DescribeOperation } from '../common/audit-vocabulary';
import { versionsIn } from '../envelope/ciphertext-versions';

/** How /encrypt and /decrypt are described in the audit trail; key versions come from the ciphertexts. */

export const describeEncrypt: DescribeOperation = ({ body }, response) => ({
  itemCount: arrayLength(body?.data),
  keyVersions: versionsIn(response?.encryptedData),
});

export const describeDecrypt: DescribeOperation = ({ body }) => ({
  itemCount: arrayLength(body?.data),
  keyVersions: versionsIn(body?.data),
});
