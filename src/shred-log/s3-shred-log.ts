import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SHRED_LOG_TIMEOUT_MS } from '../common/limits';
import {
  parseShredLogEntry,
  parseShredLogName,
  serializeShredLogEntry,
  ShredLog,
  ShredLogEntry,
  ShredLogRef,
  shredLogName,
} from './shred-log';

/**
 * The shred log in S3 (SHRED_LOG_BUCKET, SHRED_LOG_PREFIX): one object per shred. The service
 * needs s3:PutObject, s3:GetObject and s3:ListBucket only; with Object Lock in compliance mode
 * (docs/operations.md) no one can delete or overwrite-away an entry for the retention period.
 * Completing an entry with its receipt writes a new version of the same key.
 */
export class S3ShredLog implements ShredLog {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    readonly prefix: string,
  ) {}

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async append(entry: ShredLogEntry): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.prefix + shredLogName(entry),
        Body: serializeShredLogEntry(entry),
        ContentType: 'application/json',
        // Object Lock buckets refuse a PUT without an integrity checksum.
        ChecksumAlgorithm: 'SHA256',
      }),
      { abortSignal: AbortSignal.timeout(SHRED_LOG_TIMEOUT_MS) },
    );
  }

  async *list(after?: string): AsyncIterable<ShredLogRef[]> {
    let continuationToken: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix,
          ContinuationToken: continuationToken,
          StartAfter: continuationToken || after === undefined ? undefined : this.prefix + after,
        }),
        { abortSignal: AbortSignal.timeout(SHRED_LOG_TIMEOUT_MS) },
      );
      const refs = (page.Contents ?? [])
        .map((object) => parseShredLogName((object.Key ?? '').slice(this.prefix.length)))
        .filter((ref): ref is ShredLogRef => ref !== null);
      if (refs.length) yield refs;
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
  }

  async read(name: string): Promise<ShredLogEntry> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + name }), {
      abortSignal: AbortSignal.timeout(SHRED_LOG_TIMEOUT_MS),
    });
    return parseShredLogEntry(name, await object.Body!.transformToString('utf8'));
  }
}
