import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  parseShredLogEntry,
  parseShredLogName,
  serializeShredLogEntry,
  ShredLog,
  ShredLogEntry,
  ShredLogRef,
  shredLogName,
} from './shred-log';

/** Names listed per page, as S3 does. */
const PAGE = 1000;

/**
 * The shred log as a directory (SHRED_LOG_DIR; embedded mode: DATA_DIR/shred-log): one file per
 * shred, written atomically — a temporary file in the same directory, fsync, rename over the
 * name, fsync of the directory — so a crash leaves either the old entry or the new one, never
 * half of one, and a listed entry has reached the disk.
 */
export class DirectoryShredLog implements ShredLog {
  constructor(readonly directory: string) {}

  get location(): string {
    return `directory ${this.directory}`;
  }

  async append(entry: ShredLogEntry): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const name = shredLogName(entry);
    const temporary = join(this.directory, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const file = await open(temporary, 'wx', 0o600);
      try {
        await file.writeFile(serializeShredLogEntry(entry), 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, join(this.directory, name));
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
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

  async read(name: string): Promise<ShredLogEntry> {
    return parseShredLogEntry(name, await readFile(join(this.directory, name), 'utf8'));
  }
}
