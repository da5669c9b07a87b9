import { Module } from '@nestjs/common';
import { CryptoModule } from '../crypto/crypto.module';
import { KeysModule } from '../keys/keys.module';
import { DelegationController } from './delegation.controller';
import { DelegationService } from './delegation.service';

@Module({
  imports: [KeysModule, CryptoModule],
  controllers: [DelegationController],
  providers: [DelegationService],
})
export class DelegationModule {}
