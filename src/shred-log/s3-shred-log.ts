import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SHRED_LOG_TIMEOUT_MS } from '../common/limits';
import {
  parseShredLogEntry,
  parseShredLogName,
  serializeShredRecord,
  ShredLog,
  ShredLogRef,
  ShredRecord,
  shredRecordName,
} from './shred-log';
import { getObjectBody, putObjectOnce } from './write-once-documents';

/**
 * The shred log in S3 (SHRED_LOG_BUCKET, SHRED_LOG_PREFIX): one object per record. The service
 * needs s3:PutObject, s3:GetObject and s3:ListBucket only; with Object Lock in compliance mode
 * (docs/operations.md) no one can delete or overwrite-away a record for the retention period.
 * Each record is written once, conditionally (`If-None-Match: *`): a key already there is never
 * given a new version; the same record written again (a retry whose first answer was lost) is
 * accepted.
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

  async append(record: ShredRecord, shredId?: string): Promise<void> {
    await putObjectOnce(
      this.s3,
      this.bucket,
      this.prefix + shredRecordName(record, shredId),
      serializeShredRecord(record),
      'application/json',
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

  async read(name: string): Promise<ShredRecord> {
    return parseShredLogEntry(name, await getObjectBody(this.s3, this.bucket, this.prefix + name));
  }
}
