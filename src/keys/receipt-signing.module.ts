import { Module } from '@nestjs/common';
import { KeyProviderModule } from '../key-provider/key-provider.module';
import { ReceiptSigner } from './receipt-signer.service';

/**
 * The receipt signer alone, with the key provider that seals its key: for the operator command
 * (src/cli/receipt-key.ts), which must not start the whole service. The service gets the same
 * signer through KeysModule.
 */
@Module({
  imports: [KeyProviderModule],
  providers: [ReceiptSigner],
  exports: [ReceiptSigner],
})
export class ReceiptSigningModule {}
