import { Module } from '@nestjs/common';
import { KeysModule } from '../keys/keys.module';
import { CryptoController } from './crypto.controller';
import { CryptoService } from './crypto.service';
import { ReEncryptionService } from './re-encryption.service';

@Module({
  imports: [KeysModule],
  controllers: [CryptoController],
  providers: [CryptoService, ReEncryptionService],
  exports: [ReEncryptionService],
})
export class CryptoModule {}
