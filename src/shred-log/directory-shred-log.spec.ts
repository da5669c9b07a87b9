import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DirectoryShredLog } from './directory-shred-log';
import { ShredLogEntry, ShredLogRef, shredLogBound, shredLogName } from './shred-log';

const root = mkdtempSync(join(tmpdir(), 'shred-log-spec-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `log-${++dirs}`);

const entry = (userId: string, destroyedAt: string, receipt: string | null = null): ShredLogEntry => ({
  typ: 'crypto-shred',
  userId,
  keyVersions: [1, 2],
  destroyedAt,
  receipt,
  receiptId: null,
});

async function listAll(log: DirectoryShredLog, after?: string): Promise<ShredLogRef[]> {
  const refs: ShredLogRef[] = [];
  for await (const page of log.list(after)) refs.push(...page);
  return refs;
}

describe('the shred log in a directory', () => {
  it('lists nothing before the first shred, and makes its directory with the first one', async () => {
    const log = new DirectoryShredLog(freshDir());
    assert.deepEqual(await listAll(log), []);
    await log.append(entry('42', '2026-11-29T10:00:00.000Z'));
    assert.deepEqual(
      (await listAll(log)).map((ref) => ref.userId),
      ['42'],
    );
  });

  it('keeps one file per shred, and completing a record with its receipt replaces it whole', async () => {
    const dir = freshDir();
    const log = new DirectoryShredLog(dir);
    const first = entry('42', '2026-11-29T10:00:00.000Z');
    await log.append(first);
    await log.append({ ...first, receipt: 'a.b.c' });
    await log.append(entry('43', '2026-11-29T10:00:01.000Z'));
    assert.deepEqual(readdirSync(dir).sort(), [shredLogName(first), shredLogName(entry('43', '2026-11-29T10:00:01.000Z'))]);
    assert.equal((await log.read(shredLogName(first))).receipt, 'a.b.c');
  });

  it('lists in the order of the shreds, only those after a bound, and ignores temporary and stray files', async () => {
    const dir = freshDir();
    const log = new DirectoryShredLog(dir);
    await log.append(entry('3', '2026-11-29T12:00:00.000Z'));
    await log.append(entry('1', '2026-11-28T12:00:00.000Z'));
    await log.append(entry('2', '2026-11-29T11:00:00.000Z'));
    writeFileSync(join(dir, '.2026-11-29T13-00-00.000Z_9_v1.json.abc.tmp'), '{');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    assert.deepEqual(
      (await listAll(log)).map((ref) => ref.userId),
      ['1', '2', '3'],
    );
    assert.deepEqual(
      (await listAll(log, shredLogBound(new Date('2026-11-29T00:00:00Z')))).map((ref) => ref.userId),
      ['2', '3'],
    );
  });

  it('fails to list, rather than list nothing, when its path is not a directory', async () => {
    const path = join(root, 'not-a-directory');
    writeFileSync(path, '');
    await assert.rejects(listAll(new DirectoryShredLog(path)), /ENOTDIR/);
    await assert.rejects(new DirectoryShredLog(path).append(entry('42', '2026-11-29T10:00:00.000Z')));
  });
});
