import { CacheModule } from '@nestjs/cache-manager';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { KeyProviderModule } from '../crypto/key-provider/key-provider.module';
import { UserKey } from './entities/user-key.entity';
import { UserKeyHistory } from './entities/user-key-history.entity';
import { KeysController } from './keys.controller';
import { KeysService } from './keys.service';
import { PublicKeyCache } from './public-key-cache';

@Module({
  imports: [TypeOrmModule.forFeature([UserKey, UserKeyHistory]), KeyProviderModule, CacheModule.register()],
  controllers: [KeysController],
  providers: [KeysService, PublicKeyCache],
  exports: [KeysService, KeyProviderModule, PublicKeyCache],
})
export class KeysModule {}
