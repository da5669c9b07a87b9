import { CreateKeyTables1764000000000 } from './1764000000000-create-key-tables';
import { AddRotationLease1764000100000 } from './1764000100000-add-rotation-lease';
import { CreateRevokedTokens1764000200000 } from './1764000200000-create-revoked-tokens';
import { CreateAuditEvents1764000300000 } from './1764000300000-create-audit-events';
import { CreateKeyGrants1764000400000 } from './1764000400000-create-key-grants';
import { CreateReceiptSigningKeys1764000500000 } from './1764000500000-create-receipt-signing-keys';
import { CreateCanaries1764000510000 } from './1764000510000-create-canaries';
import { CreateBlindIndexes1764000600000 } from './1764000600000-create-blind-indexes';
import { AddAuditTraceId1764000700000 } from './1764000700000-add-audit-trace-id';
import { CreateKmsMigrations1764000800000 } from './1764000800000-create-kms-migrations';
import { AddRotationIndexes1764000930000 } from './1764000930000-add-rotation-indexes';
import { CreateAuditCheckpoints1764000940000 } from './1764000940000-create-audit-checkpoints';
import { CreateAuditPurgeFunction1764000960000 } from './1764000960000-create-audit-purge-function';
import { CreateRotationResults1764000980000 } from './1764000980000-create-rotation-results';
import { AddCanaryRows1764000995000 } from './1764000995000-add-canary-rows';
import { AddKeyAlgorithm1764001400000 } from './1764001400000-add-key-algorithm';
import { CreateDualControl1764001300000 } from './1764001300000-create-dual-control';
import { AddScheduledDestruction1764001500000 } from './1764001500000-add-scheduled-destruction';

/** Every migration, in order. Forward-only: a released migration is never edited. */
export const MIGRATIONS = [
  CreateKeyTables1764000000000,
  AddRotationLease1764000100000,
  CreateRevokedTokens1764000200000,
  CreateAuditEvents1764000300000,
  CreateKeyGrants1764000400000,
  CreateReceiptSigningKeys1764000500000,
  CreateCanaries1764000510000,
  CreateBlindIndexes1764000600000,
  AddAuditTraceId1764000700000,
  CreateKmsMigrations1764000800000,
  AddRotationIndexes1764000930000,
  CreateAuditCheckpoints1764000940000,
  CreateAuditPurgeFunction1764000960000,
  CreateRotationResults1764000980000,
  AddCanaryRows1764000995000,
  CreateDualControl1764001300000,
  AddKeyAlgorithm1764001400000,
  AddScheduledDestruction1764001500000,
];
