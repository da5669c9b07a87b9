import { readdir, readFile } from 'node:fs/promises';
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
import { writeFileOnce } from './write-once-documents';

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
    await writeFileOnce(this.directory, shredRecordName(record, shredId), serializeShredRecord(record));
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
