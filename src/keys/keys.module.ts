import { Module } from '@nestjs/common';
import { KeyProviderModule } from '../key-provider/key-provider.module';
import { KeyCensusController } from './key-census.controller';
import { KeyCensus } from './key-census.service';
import { KeyMaterialService } from './key-material.service';
import { KeysController } from './keys.controller';
import { KeysService } from './keys.service';
import { PrivateKeyCache } from './private-key-cache.service';
import { PublicKeyCache } from './public-key-cache.service';
import { ReceiptKeysController } from './receipt-keys.controller';
import { ReceiptSigner } from './receipt-signer.service';
import { SecretKeyCache } from './secret-key-cache.service';
import { ShredLogModule } from '../shred-log/shred-log.module';
import { DualControlModule } from '../dual-control/dual-control.module';
import { ShredBreakerController } from './shred-breaker.controller';
import { ShredBreaker } from './shred-breaker.service';

/** Users' keys: their life (KeysService) and their material (KeyMaterialService, the only user of the key provider). */
@Module({
  imports: [KeyProviderModule, ShredLogModule, DualControlModule],
  controllers: [KeysController, ReceiptKeysController, ShredBreakerController, KeyCensusController],
  providers: [KeysService, KeyMaterialService, KeyCensus, PublicKeyCache, PrivateKeyCache, SecretKeyCache, ReceiptSigner, ShredBreaker],
  exports: [KeysService, KeyMaterialService, ReceiptSigner, ShredBreaker],
})
export class KeysModule {}
