import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CryptoModule } from '../crypto/crypto.module';
import { HealthModule } from '../health/health.module';
import { KeysModule } from '../keys/keys.module';
import { RotationController } from './rotation.controller';
import { RotationScheduler } from './rotation.scheduler';
import { RotationService } from './rotation.service';

@Module({
  imports: [KeysModule, CryptoModule, AuditModule, HealthModule],
  controllers: [RotationController],
  providers: [RotationService, RotationScheduler],
  exports: [RotationService, RotationScheduler],
})
export class RotationModule {}
