import { arrayLength, merge, numbers } from '../common/audit-facts';
import type { AuditJson, DescribeOperation } from '../common/audit-vocabulary';
import { INDEX_NAME_PATTERN } from '../common/limits';
import { approvalRequested } from '../dual-control/dual-control.audit';

/**
 * How the blind-index routes are described in the audit trail: the index name, the key versions
 * and the number of items. Never a value and never an index: an index is a stand-in for its value.
 */

/** The index name, if it is one. */
export function indexNameOrNull(value: unknown): string | null {
  return typeof value === 'string' && INDEX_NAME_PATTERN.test(value) ? value : null;
}

/** Key versions of a blind-index answer: the current one and, during a rotation, the previous one. */
export function answerVersions(answer: unknown): number[] {
  const record = (answer ?? {}) as Record<string, unknown>;
  return merge(numbers(record.keyVersion), numbers((record.previous as Record<string, unknown> | undefined)?.keyVersion));
}

/** How many different strings a batch holds: many lookups of different values by one caller stand out. */
export function distinctItems(data: unknown): number | null {
  return Array.isArray(data) ? new Set(data.filter((item) => typeof item === 'string')).size : null;
}

const nameIn = (params: Record<string, unknown>, body: AuditJson) => indexNameOrNull(params.name) ?? indexNameOrNull(body?.name);

export const describeIndexDefine: DescribeOperation = ({ params, body }, response) => ({
  keyVersions: numbers(response?.currentVersion),
  details: {
    index: nameIn(params, body),
    ...(typeof response?.created === 'boolean' && { created: response.created }),
    ...(Number.isSafeInteger(body?.outputBits) && { outputBits: body?.outputBits }),
    ...(Number.isSafeInteger(body?.expectedCardinality) && { expectedCardinality: body?.expectedCardinality }),
    ...(typeof body?.exactMatch === 'boolean' && { exactMatch: body.exactMatch }),
  },
});

export const describeIndexRead: DescribeOperation = ({ params }) => ({ details: { index: indexNameOrNull(params.name) } });

export const describeIndexCompute: DescribeOperation = ({ params, body }, response) => ({
  itemCount: arrayLength(body?.data),
  keyVersions: answerVersions(response),
  details: { index: indexNameOrNull(params.name), distinctItems: distinctItems(body?.data) },
});

export const describeIndexRotate: DescribeOperation = ({ params }, response) => ({
  keyVersions: numbers(response?.currentVersion),
  details: { index: indexNameOrNull(params.name) },
});

/** A finish answered 202 (two-person rule) names the approval request it made: nothing was destroyed. */
export const describeIndexFinishRotation: DescribeOperation = ({ params }, response) => ({
  keyVersions: Array.isArray(response?.versionsDestroyed)
    ? response.versionsDestroyed.filter((v): v is number => Number.isSafeInteger(v))
    : [],
  details: { index: indexNameOrNull(params.name), ...approvalRequested(response) },
});
