import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DirectoryShredLog } from './directory-shred-log';
import { ShredDestroyed, ShredIntent, ShredLogRef, shredLogBound, shredRecordName } from './shred-log';

const root = mkdtempSync(join(tmpdir(), 'shred-log-spec-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `log-${++dirs}`);

const intent = (userId: string, at: string): ShredIntent => ({
  typ: 'crypto-shred',
  state: 'intent',
  userId,
  keyVersion: 2,
  keyCreatedAt: '2026-11-01T00:00:00.000001Z',
  at,
});
const destroyed = (userId: string, at: string, receipt: string | null = null): ShredDestroyed => ({
  typ: 'crypto-shred',
  state: 'destroyed',
  userId,
  keyVersions: [1, 2],
  destroyedAt: at,
  receipt,
  receiptId: null,
});

async function listAll(log: DirectoryShredLog, after?: string): Promise<ShredLogRef[]> {
  const refs: ShredLogRef[] = [];
  for await (const page of log.list(after)) refs.push(...page);
  return refs;
}

describe('the shred log in a directory', () => {
  it('lists nothing before the first shred, and makes its directory with the first record', async () => {
    const log = new DirectoryShredLog(freshDir());
    assert.deepEqual(await listAll(log), []);
    await log.append(intent('42', '2026-11-29T10:00:00.000Z'));
    assert.deepEqual(
      (await listAll(log)).map((ref) => [ref.userId, ref.state]),
      [['42', 'intent']],
    );
  });

  it('keeps one file per record, writes each once, accepts the same record again and refuses a different one under its name', async () => {
    const dir = freshDir();
    const log = new DirectoryShredLog(dir);
    const at = '2026-11-29T10:00:00.000Z';
    await log.append(intent('42', at));
    await log.append(destroyed('42', at, 'a.b.c'));
    await log.append(destroyed('42', at, 'a.b.c'));
    await assert.rejects(log.append(destroyed('42', at, 'x.y.z')), /EEXIST/);
    assert.deepEqual(readdirSync(dir).sort(), [shredRecordName(destroyed('42', at)), shredRecordName(intent('42', at))]);
    assert.equal(JSON.parse(readFileSync(join(dir, shredRecordName(destroyed('42', at))), 'utf8')).receipt, 'a.b.c');
    assert.equal(((await log.read(shredRecordName(destroyed('42', at)))) as ShredDestroyed).receipt, 'a.b.c');
  });

  it('lists in the order of the shreds, only those after a bound, and ignores temporary and stray files', async () => {
    const dir = freshDir();
    const log = new DirectoryShredLog(dir);
    await log.append(intent('3', '2026-11-29T12:00:00.000Z'));
    await log.append(intent('1', '2026-11-28T12:00:00.000Z'));
    await log.append(intent('2', '2026-11-29T11:00:00.000Z'));
    writeFileSync(join(dir, '.2026-11-29T13-00-00.000Z_9_v1.intent.json.abc.tmp'), '{');
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
    await assert.rejects(new DirectoryShredLog(path).append(intent('42', '2026-11-29T10:00:00.000Z')));
  });
});
