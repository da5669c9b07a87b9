import { Module } from '@nestjs/common';
import { CryptoModule } from '../crypto/crypto.module';
import { KeysModule } from '../keys/keys.module';
import { RotationController } from './rotation.controller';
import { RotationScheduler } from './rotation.scheduler';
import { RotationService } from './rotation.service';

@Module({
  imports: [KeysModule, CryptoModule],
  controllers: [RotationController],
  providers: [RotationService, RotationScheduler],
  exports: [RotationService, RotationScheduler],
})
export class RotationModule {}
