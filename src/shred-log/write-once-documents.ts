import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SHRED_LOG_TIMEOUT_MS } from '../common/limits';

/**
 * Injection token of the write-once store of the audit trail's signed checkpoints (docs/audit.md,
 * "Anchored checkpoints"): the folder `checkpoints/` of the shred log's place (its bucket and
 * prefix under S3 Object Lock, or its directory), beside the shred records and never among them.
 */
export const CHECKPOINT_DOCUMENTS = Symbol('CHECKPOINT_DOCUMENTS');
/** The folder of the checkpoints in the shred log's place. */
export const CHECKPOINT_FOLDER = 'checkpoints/';

/**
 * Documents kept beside the shred records, in the same write-once place: each name is written
 * once and never replaced, as a shred record is.
 */
export interface WriteOnceDocuments {
  /** Where the documents are, for logs and errors (a bucket and prefix, or a directory). */
  readonly location: string;
  /**
   * Stores `body` under `name` durably: true when stored, or when the same body was already
   * there (a retry); false when another body holds the name, which is never replaced. Throws
   * when it cannot tell.
   */
  create(name: string, body: string): Promise<boolean>;
  /** The body stored under `name`; undefined when there is none. */
  read(name: string): Promise<string | undefined>;
}

/**
 * Writes `body` to `directory/name` once: a temporary file in the same directory, fsync, a hard
 * link to the name (which fails with EEXIST rather than replace a file already there), fsync of
 * the directory. So a crash leaves either no file or the whole file, and none is overwritten.
 * The same body already there is accepted (a retry); another body rethrows the EEXIST error.
 */
export async function writeFileOnce(directory: string, name: string, body: string): Promise<void> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const temporary = join(directory, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temporary, 'wx', 0o600);
    try {
      await file.writeFile(body, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await link(temporary, join(directory, name)).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST' || (await readFile(join(directory, name), 'utf8')) !== body) throw error;
    });
  } finally {
    await rm(temporary, { force: true });
  }
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Puts `body` under `key` once, conditionally (`If-None-Match: *`): a key already there is never
 * given a new version. The same body already there is accepted (a retry whose first answer was
 * lost); another body rethrows the 412 error.
 */
export async function putObjectOnce(s3: S3Client, bucket: string, key: string, body: string, contentType: string): Promise<void> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        IfNoneMatch: '*',
        // Object Lock buckets refuse a PUT without an integrity checksum.
        ChecksumAlgorithm: 'SHA256',
      }),
      { abortSignal: AbortSignal.timeout(SHRED_LOG_TIMEOUT_MS) },
    );
  } catch (error) {
    if (!isPreconditionFailed(error) || (await getObjectBody(s3, bucket, key)) !== body) throw error;
  }
}

/** The body of an object, as text. */
export async function getObjectBody(s3: S3Client, bucket: string, key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
    abortSignal: AbortSignal.timeout(SHRED_LOG_TIMEOUT_MS),
  });
  return object.Body!.transformToString('utf8');
}

/** 412: the conditional PUT found the key taken. */
export const isPreconditionFailed = (error: unknown): boolean =>
  error instanceof S3ServiceException && error.$metadata.httpStatusCode === 412;

/** Documents in a folder of the shred log's directory (embedded mode). */
export class DirectoryDocuments implements WriteOnceDocuments {
  constructor(readonly directory: string) {}

  get location(): string {
    return `directory ${this.directory}`;
  }

  async create(name: string, body: string): Promise<boolean> {
    try {
      await writeFileOnce(this.directory, name, body);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  }

  async read(name: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.directory, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
}

/** Documents under a prefix of the shred log's bucket (S3 Object Lock keeps them for the retention period). */
export class S3Documents implements WriteOnceDocuments {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    readonly prefix: string,
  ) {}

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async create(name: string, body: string): Promise<boolean> {
    try {
      await putObjectOnce(this.s3, this.bucket, this.prefix + name, body, 'application/jose');
      return true;
    } catch (error) {
      if (isPreconditionFailed(error)) return false;
      throw error;
    }
  }

  async read(name: string): Promise<string | undefined> {
    try {
      return await getObjectBody(this.s3, this.bucket, this.prefix + name);
    } catch (error) {
      if (error instanceof NoSuchKey || (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404)) return undefined;
      throw error;
    }
  }
}
