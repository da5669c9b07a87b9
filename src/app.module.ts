import { BudgetModule } from './budget/budget.module';
import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { CanariesModule } from './canaries/canaries.module';
import { ConfigModule } from './config/config.module';
import { CryptoModule } from './crypto/crypto.module';
import { DatabaseModule } from './database/database.module';
import { DelegationModule } from './delegation/delegation.module';
import { DualControlModule } from './dual-control/dual-control.module';
import { HealthModule } from './health/health.module';
import { IndexesModule } from './indexes/indexes.module';
import { KeysModule } from './keys/keys.module';
import { CheckpointAnchorModule } from './keys/checkpoint-anchor.service';
import { KmsMigrationModule } from './keys/kms-migration.module';
import { ShredReplayModule } from './keys/shred-replay.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { RedisModule } from './redis/redis.module';
import { RepositoriesModule } from './repositories/repositories.module';
import { RotationModule } from './rotation/rotation.module';

@Module({})
export class AppModule {
  /** `environment` replaces process.env (tests run several apps with their own settings). */
  static forRoot(environment?: Record<string, string | undefined>): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(environment),
        LoggingModule,
        ScheduleModule.forRoot(),
        MetricsModule,
        RedisModule,
        DatabaseModule,
        RepositoriesModule,
        AuthModule,
        AuditModule,
        DualControlModule,
        KeysModule,
        CheckpointAnchorModule,
        KmsMigrationModule,
        ShredReplayModule,
        IndexesModule,
        CryptoModule,
        RotationModule,
        DelegationModule,
        CanariesModule,
        BudgetModule,
        HealthModule,
      ],
    };
  }
}
