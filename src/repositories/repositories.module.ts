import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditEventRow } from './entities/audit-event.entity';
import { KeyGrant, KeyGrantApproval } from './entities/key-grant.entity';
import { UserKeyHistory } from './entities/user-key-history.entity';
import { UserKey } from './entities/user-key.entity';
import { ApprovalRequestRepository } from './approval-request.repository';
import { AuditEventRepository } from './audit-event.repository';
import { BlindIndexKeyRepository } from './blind-index-key.repository';
import { CanaryRepository } from './canary.repository';
import { GrantRepository } from './grant.repository';
import { KmsMigrationRepository } from './kms-migration.repository';
import { ReceiptKeyRepository } from './receipt-key.repository';
import { RevokedTokenRepository } from './revoked-token.repository';
import { RotationRepository } from './rotation.repository';
import { ShredBreakerRepository } from './shred-breaker.repository';
import { UserKeyRepository } from './user-key.repository';

const REPOSITORIES = [
  UserKeyRepository,
  RotationRepository,
  GrantRepository,
  RevokedTokenRepository,
  AuditEventRepository,
  ReceiptKeyRepository,
  CanaryRepository,
  BlindIndexKeyRepository,
  KmsMigrationRepository,
  ApprovalRequestRepository,
  ShredBreakerRepository,
];

/**
 * Every repository, for every module: the only providers that hold SQL. Each read says which
 * node it reads (read-from.ts); each failure of an unavailable database becomes 503 SYS002
 * (database-errors.ts).
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([UserKey, UserKeyHistory, KeyGrant, KeyGrantApproval, AuditEventRow])],
  providers: REPOSITORIES,
  exports: REPOSITORIES,
})
export class RepositoriesModule {}
