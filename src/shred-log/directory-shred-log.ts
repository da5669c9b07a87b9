import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  parseShredLogEntry,
  parseShredLogName,
  serializeShredRecord,
  ShredLog,
  ShredLogRef,
  ShredRecord,
  shredRecordName,
} from './shred-log';

/** Names listed per page, as S3 does. */
const PAGE = 1000;

/**
 * The shred log as a directory (SHRED_LOG_DIR; embedded mode: DATA_DIR/shred-log): one file per
 * record, written once — a temporary file in the same directory, fsync, a hard link to the name
 * (which fails rather than replace a file already there), fsync of the directory — so a crash
 * leaves either no record or the whole record, a listed record has reached the disk, and no
 * record is ever overwritten (the same record written again, a retry, is accepted).
 */
export class DirectoryShredLog implements ShredLog {
  constructor(readonly directory: string) {}

  get location(): string {
    return `directory ${this.directory}`;
  }

  async append(record: ShredRecord, shredId?: string): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const name = shredRecordName(record, shredId);
    const body = serializeShredRecord(record);
    const temporary = join(this.directory, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const file = await open(temporary, 'wx', 0o600);
      try {
        await file.writeFile(body, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await link(temporary, join(this.directory, name)).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST' || (await readFile(join(this.directory, name), 'utf8')) !== body) throw error;
      });
    } finally {
      await rm(temporary, { force: true });
    }
    const directory = await open(this.directory, 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  async *list(after?: string): AsyncIterable<ShredLogRef[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      // No shred yet: the directory is made by the first one.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const refs = names
      .filter((name) => after === undefined || name > after)
      .sort()
      .map(parseShredLogName)
      .filter((ref): ref is ShredLogRef => ref !== null);
    for (let start = 0; start < refs.length; start += PAGE) yield refs.slice(start, start + PAGE);
  }

  async read(name: string): Promise<ShredRecord> {
    return parseShredLogEntry(name, await readFile(join(this.directory, name), 'utf8'));
  }
}
