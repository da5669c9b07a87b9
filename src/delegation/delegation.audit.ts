import { arrayLength, merge, userIdOrNull } from '../common/audit-facts';
import type { DescribeOperation } from '../common/audit-vocabulary';
import { nestedCiphertextVersions } from '../envelope/ciphertext-versions';

/** How the grant routes and /translate are described in the audit trail; the person concerned is the grantor. */

export const describeTranslate: DescribeOperation = ({ body }) => {
  const found = nestedCiphertextVersions(body?.data);
  return {
    userId: userIdOrNull(body?.fromUserId),
    itemCount: found?.length ?? null,
    keyVersions: merge(found ?? []),
    details: { toUserId: userIdOrNull(body?.toUserId) },
  };
};

export const describeGrantCreate: DescribeOperation = ({ body }, response) => ({
  userId: userIdOrNull(body?.fromUserId),
  details: grantDetails({ id: response?.id, toUserId: body?.toUserId, reason: response?.reason }),
});

/** Approval and revocation: the grant as it stands afterwards. */
export const describeGrantDecision: DescribeOperation = ({ params }, response) => ({
  userId: userIdOrNull(response?.fromUserId),
  details: grantDetails({ id: params.id, toUserId: response?.toUserId, state: response?.state }),
});

export const describeGrantList: DescribeOperation = (_request, response) => ({ itemCount: arrayLength(response) });

/** A grant's id, delegate, state and (as stored with the grant) reason; invalid values dropped. */
function grantDetails(grant: { id?: unknown; toUserId?: unknown; state?: unknown; reason?: unknown }): Record<string, unknown> {
  const text = (value: unknown, pattern: RegExp) => (typeof value === 'string' && pattern.test(value) ? value : undefined);
  return Object.fromEntries(
    Object.entries({
      grantId: text(grant.id, /^[\w-]{1,64}$/),
      toUserId: userIdOrNull(grant.toUserId) ?? undefined,
      state: text(grant.state, /^[a-z]{1,16}$/),
      reason: text(grant.reason, /^[^\u0000-\u001f\u007f]{1,500}$/),
    }).filter(([, value]) => value !== undefined),
  );
}
