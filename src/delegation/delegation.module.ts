import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CryptoModule } from '../crypto/crypto.module';
import { KeysModule } from '../keys/keys.module';
import { DelegationController } from './delegation.controller';
import { DelegationService } from './delegation.service';
import { KeyGrant, KeyGrantApproval } from './entities/key-grant.entity';

@Module({
  imports: [TypeOrmModule.forFeature([KeyGrant, KeyGrantApproval]), KeysModule, CryptoModule],
  controllers: [DelegationController],
  providers: [DelegationService],
})
export class DelegationModule {}
