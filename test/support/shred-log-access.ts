import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { motoS3, SHRED_LOG_BUCKET, SHRED_LOG_PREFIX } from './stacks';

/** The shred log of a stack, read and written the way an operator (or a dying pod) would. */
export interface LogAccess {
  /** Record names, sorted. */
  names(): Promise<string[]>;
  read(name: string): Promise<Record<string, any>>;
  write(name: string, record: object): Promise<void>;
  remove(name: string): Promise<void>;
  close?(): void;
}

/** The embedded stack's log: a directory. */
export function directoryLog(dir: string): LogAccess {
  return {
    names: async () => {
      try {
        return readdirSync(dir).sort();
      } catch {
        return [];
      }
    },
    read: async (name) => JSON.parse(readFileSync(join(dir, name), 'utf8')),
    write: async (name, record) => writeFileSync(join(dir, name), `${JSON.stringify(record)}\n`),
    remove: async (name) => rmSync(join(dir, name)),
  };
}

/** The AWS stack's log: objects in moto's S3 bucket. */
export function bucketLog(endpoint: string): LogAccess {
  const s3 = motoS3(endpoint);
  return {
    names: async () =>
      ((await s3.send(new ListObjectsV2Command({ Bucket: SHRED_LOG_BUCKET, Prefix: SHRED_LOG_PREFIX }))).Contents ?? [])
        .map((o) => o.Key!.slice(SHRED_LOG_PREFIX.length))
        .sort(),
    read: async (name) =>
      JSON.parse(
        await (await s3.send(new GetObjectCommand({ Bucket: SHRED_LOG_BUCKET, Key: SHRED_LOG_PREFIX + name }))).Body!.transformToString(),
      ),
    write: async (name, record) =>
      void (await s3.send(
        new PutObjectCommand({ Bucket: SHRED_LOG_BUCKET, Key: SHRED_LOG_PREFIX + name, Body: `${JSON.stringify(record)}\n` }),
      )),
    remove: async (name) => void (await s3.send(new DeleteObjectCommand({ Bucket: SHRED_LOG_BUCKET, Key: SHRED_LOG_PREFIX + name }))),
    close: () => s3.destroy(),
  };
}
