import { Module } from '@nestjs/common';
import { CryptoModule } from '../crypto/crypto.module';
import { KeysModule } from '../keys/keys.module';
import { CanariesController } from './canaries.controller';
import { CanariesService } from './canaries.service';

/** POST/GET/DELETE /canaries: planting and retiring canary rows; recognising them is CryptoModule's CanaryRegistry. */
@Module({
  imports: [CryptoModule, KeysModule],
  controllers: [CanariesController],
  providers: [CanariesService],
})
export class CanariesModule {}
