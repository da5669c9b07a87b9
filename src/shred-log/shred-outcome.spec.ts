import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DirectoryShredLog } from './directory-shred-log';
import {
  parseShredLogEntry,
  receiptIdOf,
  serializeShredRecord,
  ShredAborted,
  ShredDestroyed,
  shredIdOf,
  ShredIntent,
  ShredReplayed,
  shredRecordName,
} from './shred-log';
import { loggedShred, recordsOfShred, shredDestroying } from './shred-outcome';

const root = mkdtempSync(join(tmpdir(), 'shred-outcome-spec-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshLog = () => new DirectoryShredLog(join(root, `log-${++dirs}`));

const AT = '2026-11-29T14:05:06.789Z';
const intent = (userId: string, at = AT, keyVersion = 2): ShredIntent => ({
  typ: 'crypto-shred',
  state: 'intent',
  userId,
  keyVersion,
  keyCreatedAt: '2026-11-01T00:00:00.000001Z',
  at,
});
const destroyed = (userId: string, receipt: string | null, at = AT): ShredDestroyed => ({
  typ: 'crypto-shred',
  state: 'destroyed',
  userId,
  keyVersions: [1, 2],
  destroyedAt: at,
  receipt,
  receiptId: receipt ? receiptIdOf(receipt) : null,
});
const aborted = (userId: string): ShredAborted => ({
  typ: 'crypto-shred',
  state: 'aborted',
  userId,
  keyVersion: 2,
  abortedAt: AT,
  reason: 'the transaction did not commit',
});
const replayed = (userId: string, replayedAt: string, shredId: string): ShredReplayed => ({
  typ: 'crypto-shred',
  state: 'replayed',
  userId,
  shredId,
  keyVersions: [2],
  replayedAt,
  destroyedAt: AT,
  receiptId: null,
});

describe('the replayed record', () => {
  it('is named by the replay’s own time and reads back as written, naming the shred it replayed', () => {
    const record = replayed('42', '2026-12-24T08:00:00.000Z', shredIdOf(intent('42')));
    const name = shredRecordName(record);
    assert.equal(name, '2026-12-24T08-00-00.000Z_42_v2.replayed.json');
    assert.deepEqual(parseShredLogEntry(name, serializeShredRecord(record)), record);
  });

  it('is refused when it names another user’s shred, or versions its name does not state', () => {
    const record = replayed('42', '2026-12-24T08:00:00.000Z', shredIdOf(intent('43')));
    assert.throws(() => parseShredLogEntry(shredRecordName(record), serializeShredRecord(record)), /not a crypto-shred record/);
    const name = shredRecordName(replayed('42', '2026-12-24T08:00:00.000Z', shredIdOf(intent('42'))));
    const wrongVersions = { ...replayed('42', '2026-12-24T08:00:00.000Z', shredIdOf(intent('42'))), keyVersions: [1] };
    assert.throws(() => parseShredLogEntry(name, serializeShredRecord(wrongVersions)), /not a crypto-shred record/);
  });
});

describe('what the log says became of a shred', () => {
  it('lists the records of one shred only, not those of a user whose id starts the same', async () => {
    const log = freshLog();
    await log.append(intent('42'));
    await log.append(destroyed('42', 'a.b.c'));
    await log.append(intent('420'));
    await log.append(intent('4'));
    const refs = await recordsOfShred(log, shredIdOf(intent('42')));
    assert.deepEqual(refs.map((ref) => ref.state).sort(), ['destroyed', 'intent']);
  });

  it('answers the receipt naming the audit event over the one signed in the transaction, once committed', async () => {
    const log = freshLog();
    const shredId = shredIdOf(intent('42'));
    await log.append(intent('42'));
    assert.deepEqual(await loggedShred(log, shredId), { outcome: 'open', receipt: null });
    await log.append(destroyed('42', 'in.transaction.receipt'));
    assert.deepEqual(await loggedShred(log, shredId), { outcome: 'destroyed', receipt: 'in.transaction.receipt' });
    await log.append({ typ: 'crypto-shred', state: 'receipt', userId: '42', receipt: 'naming.audit.event', receiptId: 'x' }, shredId);
    assert.deepEqual(await loggedShred(log, shredId), { outcome: 'destroyed', receipt: 'naming.audit.event' });
  });

  it('says aborted only when nothing says the shred committed, and none for a shred it has no record of', async () => {
    const log = freshLog();
    const shredId = shredIdOf(intent('42'));
    assert.deepEqual(await loggedShred(log, shredId), { outcome: 'none', receipt: null });
    await log.append(intent('42'));
    await log.append(aborted('42'), shredId);
    assert.deepEqual(await loggedShred(log, shredId), { outcome: 'aborted', receipt: null });
    await log.append(destroyed('42', 'r.e.c'));
    assert.equal((await loggedShred(log, shredId)).outcome, 'destroyed', 'a destroyed record wins over an aborted one');
  });

  it('reads a legacy entry as what it stands for', async () => {
    const log = freshLog();
    const shredId = shredIdOf(intent('42'));
    await log.append(intent('7')); // makes the directory
    writeFileSync(
      join(log.directory, `${shredId}.json`),
      JSON.stringify({ typ: 'crypto-shred', userId: '42', keyVersions: [1, 2], destroyedAt: AT, receipt: 'legacy.r.x' }),
    );
    assert.deepEqual(await loggedShred(log, shredId), { outcome: 'destroyed', receipt: 'legacy.r.x' });
  });
});

describe('the shred that destroyed a tombstone’s version', () => {
  const around = new Date(AT);
  const marginMs = 24 * 60 * 60 * 1000;

  it('is the newest destroyed record of that user and version within the margin, directly or through a replay', async () => {
    const log = freshLog();
    const older = '2026-11-20T10:00:00.000Z';
    await log.append(destroyed('42', 'old', older));
    assert.equal(await shredDestroying(log, { userId: '42', keyVersion: 2, around, marginMs }), undefined, 'older than the margin');
    await log.append(destroyed('42', 'new'));
    await log.append(destroyed('43', 'another user', '2026-11-29T15:00:00.000Z'));
    assert.equal(await shredDestroying(log, { userId: '42', keyVersion: 2, around, marginMs }), shredIdOf(intent('42')));
    assert.equal(await shredDestroying(log, { userId: '42', keyVersion: 3, around, marginMs }), undefined, 'another version');

    // Destroyed again by a replay long after the shred: the replay's record names the shred.
    const replayedAt = '2026-12-24T08:00:00.000Z';
    const oldShred = shredIdOf(intent('42', older));
    await log.append(replayed('42', replayedAt, oldShred));
    assert.equal(await shredDestroying(log, { userId: '42', keyVersion: 2, around: new Date(replayedAt), marginMs }), oldShred);
  });
});
