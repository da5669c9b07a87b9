import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { IndexesModule } from '../indexes/indexes.module';
import { KeysModule } from '../keys/keys.module';
import { CanaryRegistry } from './canary-registry.service';
import { CanaryTripwire } from './canary-tripwire.interceptor';
import { CryptoController } from './crypto.controller';
import { CryptoService } from './crypto.service';
import { ReEncryptionService } from './re-encryption.service';

@Module({
  imports: [KeysModule, IndexesModule, AuditModule],
  controllers: [CryptoController],
  providers: [CryptoService, ReEncryptionService, CanaryRegistry, { provide: APP_INTERCEPTOR, useClass: CanaryTripwire }],
  exports: [ReEncryptionService, CryptoService, CanaryRegistry],
})
export class CryptoModule {}
