import { KMSClient } from '@aws-sdk/client-kms';
import { Module } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { KEY_PROVIDER, KeyProvider } from './key-provider';
import { KmsKeyProvider } from './kms-key.provider';
import { LocalKeyProvider } from './local-key.provider';

export const KMS_CLIENT = Symbol('KMS_CLIENT');

/** Chooses the key provider once, from KEY_PROVIDER; nothing else branches on it. */
@Module({
  providers: [
    {
      provide: KMS_CLIENT,
      inject: [AppConfig],
      useFactory: ({ keys }: AppConfig) =>
        keys.provider === 'kms'
          ? new KMSClient({ region: keys.awsRegion, endpoint: keys.kmsEndpoint, maxAttempts: 3 })
          : undefined,
    },
    {
      provide: KEY_PROVIDER,
      inject: [AppConfig, KMS_CLIENT],
      useFactory: async ({ keys, dataDir }: AppConfig, kms?: KMSClient): Promise<KeyProvider> =>
        keys.provider === 'kms' ? new KmsKeyProvider(kms!, keys.kmsKeyId!) : LocalKeyProvider.open(dataDir),
    },
  ],
  exports: [KEY_PROVIDER],
})
export class KeyProviderModule {}
