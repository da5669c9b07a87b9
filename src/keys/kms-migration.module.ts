import { DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { DualControlModule } from '../dual-control/dual-control.module';
import { DualControlService } from '../dual-control/dual-control.service';
import { AuditStore, DatabaseAuditStore } from '../audit/audit-store.service';
import { AuditWriter } from '../audit/audit-writer.service';
import { KeyProviderModule } from '../key-provider/key-provider.module';
import { KmsMigrationController } from './kms-migration.controller';
import { KmsMigrationService } from './kms-migration.service';
import { KMS_MIGRATION_WORKS, KmsMigrationWorker } from './kms-migration.worker';

/** The online KMS key migration (docs/operations.md): the job every replica runs and its admin route. */
@Module({
  imports: [KeyProviderModule, AuditModule, DualControlModule],
  controllers: [KmsMigrationController],
  providers: [KmsMigrationService, KmsMigrationWorker],
})
export class KmsMigrationModule {}

/**
 * The job alone, for the operator command (src/cli/kms-migration.ts), which must not start the
 * whole service: no routes, and an audit writer of its own (a chain of its own, as every process
 * has). With `works: false` (`--status`) it only reads.
 */
@Module({})
export class KmsMigrationJobModule {
  static forCommand(works: boolean): DynamicModule {
    return {
      module: KmsMigrationJobModule,
      imports: [KeyProviderModule],
      providers: [
        { provide: AuditStore, useClass: DatabaseAuditStore },
        AuditWriter,
        { provide: KMS_MIGRATION_WORKS, useValue: works },
        KmsMigrationService,
        KmsMigrationWorker,
        DualControlService,
      ],
      exports: [KmsMigrationService, KmsMigrationWorker, DualControlService],
    };
  }
}
