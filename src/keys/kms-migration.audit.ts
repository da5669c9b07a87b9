import type { DescribeOperation } from '../common/audit-vocabulary';
import { approvalRequested } from '../dual-control/dual-control.audit';

/**
 * How the KMS key migration routes are described in the audit trail: the migration, its target
 * key (an ARN: a name, not material) and the counts. The job records `kms-migration.finish` itself.
 */
export const describeKmsMigration: DescribeOperation = (_request, response) => {
  // Answered 202 (two-person rule): the approval request made, nothing started.
  const requested = approvalRequested(response);
  if (Object.keys(requested).length) return { details: requested };
  const migration = (response?.migration ?? null) as Record<string, unknown> | null;
  const remaining = (response?.remaining ?? null) as Record<string, unknown> | null;
  if (!migration && !remaining) return { details: null };
  return {
    details: {
      ...(typeof migration?.id === 'number' && { migrationId: migration.id }),
      ...(typeof migration?.targetKeyId === 'string' && { targetKeyId: migration.targetKeyId }),
      ...(typeof migration?.resealed === 'number' && { resealed: migration.resealed }),
      ...(typeof remaining?.total === 'number' && { remaining: remaining.total }),
      ...(typeof response?.started === 'boolean' && { started: response.started }),
    },
  };
};
