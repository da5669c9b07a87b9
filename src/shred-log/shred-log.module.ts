import { S3Client } from '@aws-sdk/client-s3';
import { Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';
import { DirectoryShredLog } from './directory-shred-log';
import { S3ShredLog } from './s3-shred-log';
import { SHRED_LOG, ShredLog } from './shred-log';
import { CHECKPOINT_DOCUMENTS, CHECKPOINT_FOLDER, DirectoryDocuments, S3Documents, WriteOnceDocuments } from './write-once-documents';

const SHRED_LOG_S3 = Symbol('SHRED_LOG_S3');

/**
 * Chooses where crypto-shreds are recorded outside the key database, once, from the
 * configuration: S3 with SHRED_LOG_BUCKET (production), else a directory (embedded mode). The
 * audit trail's signed checkpoints are kept in the same place, under `checkpoints/`.
 */
@Module({
  providers: [
    {
      provide: SHRED_LOG_S3,
      inject: [AppConfig],
      useFactory: ({ shredLog, keys }: AppConfig) =>
        shredLog.bucket
          ? // An endpoint override (emulators such as moto) takes path-style addressing.
            new S3Client({ region: keys.awsRegion, endpoint: shredLog.endpoint, forcePathStyle: Boolean(shredLog.endpoint) })
          : undefined,
    },
    {
      provide: SHRED_LOG,
      inject: [AppConfig, SHRED_LOG_S3],
      useFactory: ({ shredLog, isProduction }: AppConfig, s3: S3Client | undefined): ShredLog => {
        if (s3) return new S3ShredLog(s3, shredLog.bucket!, shredLog.prefix);
        if (isProduction) {
          new Logger('ShredLog').warn(
            `SHRED_LOG_BUCKET is not set: crypto-shreds are recorded in ${shredLog.directory} only, which a lost volume or pod takes with it`,
          );
        }
        return new DirectoryShredLog(shredLog.directory);
      },
    },
    {
      // The audit trail's signed checkpoints: in the same write-once place, a folder of their own.
      provide: CHECKPOINT_DOCUMENTS,
      inject: [AppConfig, SHRED_LOG_S3],
      useFactory: ({ shredLog }: AppConfig, s3: S3Client | undefined): WriteOnceDocuments =>
        s3
          ? new S3Documents(s3, shredLog.bucket!, shredLog.prefix + CHECKPOINT_FOLDER)
          : new DirectoryDocuments(join(shredLog.directory, CHECKPOINT_FOLDER)),
    },
  ],
  exports: [SHRED_LOG, CHECKPOINT_DOCUMENTS],
})
export class ShredLogModule implements OnApplicationShutdown {
  constructor(@Inject(SHRED_LOG_S3) private readonly s3: S3Client | undefined) {}

  onApplicationShutdown(): void {
    this.s3?.destroy();
  }
}
