import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { KeyProviderModule } from '../key-provider/key-provider.module';
import { KmsMigrationController } from './kms-migration.controller';
import { KmsMigrationService } from './kms-migration.service';

/** The online KMS key migration (docs/operations.md): the job every replica runs and its admin route. */
@Module({
  imports: [KeyProviderModule, AuditModule],
  controllers: [KmsMigrationController],
  providers: [KmsMigrationService],
})
export class KmsMigrationModule {}
