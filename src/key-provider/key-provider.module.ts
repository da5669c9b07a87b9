import { KMSClient } from '@aws-sdk/client-kms';
import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { KEY_PROVIDER, KeyProvider } from './key-provider';
import { createKmsPolicy, KmsKeyProvider } from './kms-key.provider';
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
          ? // Retries belong to the policy in KmsKeyProvider, so the SDK makes one attempt per call.
            new KMSClient({ region: keys.awsRegion, endpoint: keys.kmsEndpoint, maxAttempts: 1 })
          : undefined,
    },
    {
      provide: KEY_PROVIDER,
      inject: [AppConfig, KMS_CLIENT, MetricsService],
      useFactory: async (config: AppConfig, kms: KMSClient | undefined, metrics: MetricsService): Promise<KeyProvider> =>
        config.keys.provider === 'kms'
          ? new KmsKeyProvider(
              kms!,
              config.keys.kmsKeyId!,
              createKmsPolicy(config, metrics),
              metrics,
              config.keys.kmsPreviousKeyIds,
              config.keys.awsRegion,
            )
          : LocalKeyProvider.open(config.keys.localMasterKeyFile, config.keys.localPreviousMasterKeyFiles),
    },
  ],
  exports: [KEY_PROVIDER],
})
export class KeyProviderModule implements OnApplicationShutdown {
  constructor(@Inject(KMS_CLIENT) private readonly kms: KMSClient | undefined) {}

  onApplicationShutdown(): void {
    this.kms?.destroy();
  }
}
