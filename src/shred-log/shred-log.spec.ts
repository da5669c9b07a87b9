import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isKnownShredState,
  parseShredLogEntry,
  parseShredLogName,
  receiptIdOf,
  serializeShredRecord,
  ShredCancelled,
  ShredDestroyed,
  ShredIntent,
  shredLogBound,
  shredRecordName,
  ShredScheduled,
} from './shred-log';

/** A state no version writes yet: what a replay meets in a log written by a later version. */
const LATER_STATE = 'legal-hold';

const intent = (over: Partial<ShredIntent> = {}): ShredIntent => ({
  typ: 'crypto-shred',
  state: 'intent',
  userId: '42',
  keyVersion: 3,
  keyCreatedAt: '2026-11-01T08:00:00.123456Z',
  at: '2026-11-29T14:05:06.789Z',
  ...over,
});

const destroyed = (over: Partial<ShredDestroyed> = {}): ShredDestroyed => ({
  typ: 'crypto-shred',
  state: 'destroyed',
  userId: '42',
  keyVersions: [1, 2, 3],
  destroyedAt: '2026-11-29T14:05:06.789Z',
  receipt: null,
  receiptId: null,
  ...over,
});

const SHRED = '2026-11-29T14-05-06.789Z_42_v3';

describe('shred log names', () => {
  it('give every record of one shred the same id, the shred time, user and newest version, with its state after it', () => {
    assert.equal(shredRecordName(intent()), `${SHRED}.intent.json`);
    assert.equal(shredRecordName(destroyed()), `${SHRED}.destroyed.json`);
    const aborted = { typ: 'crypto-shred', state: 'aborted', userId: '42', keyVersion: 3, abortedAt: 'x', reason: 'y' } as const;
    assert.equal(shredRecordName(aborted, SHRED), `${SHRED}.aborted.json`);
    assert.throws(() => shredRecordName(aborted), /needs the id of its shred/);
    assert.deepEqual(parseShredLogName(`${SHRED}.intent.json`), {
      name: `${SHRED}.intent.json`,
      shredId: SHRED,
      userId: '42',
      keyVersion: 3,
      at: '2026-11-29T14:05:06.789Z',
      state: 'intent',
    });
  });

  it('sort by the time of the shred, so a bound from a time lists exactly the later shreds, each shred’s records together', () => {
    const earlier = shredRecordName(destroyed({ destroyedAt: '2026-11-29T09:59:59.999Z' }));
    const later = shredRecordName(intent({ userId: '7', at: '2026-11-29T10:00:00.000Z' }));
    const bound = shredLogBound(new Date('2026-11-29T10:00:00.000Z'));
    assert.ok(earlier < bound, `${earlier} < ${bound}`);
    assert.ok(later > bound, `${later} > ${bound}`);
    // v3 and v30 of one time and user: the records of v3 are not split by those of v30.
    const names = [`${SHRED}.intent.json`, `${SHRED}0.intent.json`, `${SHRED}.destroyed.json`, `${SHRED}0.aborted.json`].sort();
    assert.deepEqual(
      names.map((name) => parseShredLogName(name)!.shredId),
      [SHRED, SHRED, `${SHRED}0`, `${SHRED}0`],
    );
  });

  it('read an entry of the earlier format (no state) as legacy, and a state of a later version as unknown', () => {
    assert.equal(parseShredLogName(`${SHRED}.json`)!.state, 'legacy');
    const ref = parseShredLogName(`${SHRED}.${LATER_STATE}.json`)!;
    assert.equal(ref.state, LATER_STATE);
    assert.equal(isKnownShredState(ref.state), false);
    for (const state of ['destroyed', 'scheduled', 'cancelled']) assert.equal(isKnownShredState(state), true, state);
  });

  it('ignore what is not an entry: temporary files, strays, another prefix', () => {
    for (const stray of [
      `.${SHRED}.intent.json.ab12.tmp`,
      'README',
      '2026-11-29T14-05-06.789Z_042_v3.json',
      '42_v3.json',
      `${SHRED}.INTENT.json`,
    ]) {
      assert.equal(parseShredLogName(stray), null, stray);
    }
  });
});

describe('shred log records', () => {
  it('read back what was written, with the receipt id recomputed from the receipt', () => {
    const receipt = 'eyJhbGciOiJFZERTQSJ9.eyJ0eXAiOiJjcnlwdG8tc2hyZWQifQ.c2ln';
    const written = destroyed({ receipt, receiptId: receiptIdOf(receipt) });
    const read = parseShredLogEntry(shredRecordName(written), serializeShredRecord(written));
    assert.deepEqual(read, written);
    assert.match((read as ShredDestroyed).receiptId!, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(parseShredLogEntry(shredRecordName(intent()), serializeShredRecord(intent())), intent());
  });

  it('refuse a record whose body does not match its name, rather than act for the wrong user, version or state', () => {
    const name = shredRecordName(destroyed());
    assert.throws(() => parseShredLogEntry(name, serializeShredRecord(destroyed({ userId: '43' }))), /not a crypto-shred record/);
    assert.throws(() => parseShredLogEntry(name, serializeShredRecord(destroyed({ keyVersions: [1, 2] }))), /not a crypto-shred record/);
    assert.throws(() => parseShredLogEntry(name, serializeShredRecord(intent())), /not a crypto-shred record/);
    assert.throws(
      () => parseShredLogEntry(`${SHRED}.intent.json`, serializeShredRecord(intent({ keyCreatedAt: null }))),
      /not a crypto-shred/,
    );
    assert.throws(() => parseShredLogEntry(name, '{"typ":"other"}'), /not a crypto-shred record/);
    assert.throws(() => parseShredLogEntry(name, '{'), /not a crypto-shred record/);
  });

  it('never read a state of a later version as one this version acts on', () => {
    const body = JSON.stringify({ typ: 'crypto-shred', state: LATER_STATE, userId: '42', keyVersion: 3, at: '2026-11-29T14:05:06.789Z' });
    assert.throws(() => parseShredLogEntry(`${SHRED}.${LATER_STATE}.json`, body), /state legal-hold, which this version does not know/);
  });

  it('read back a pending deletion and its cancellation, the cancellation named by its own time and naming the schedule it calls off', () => {
    const scheduled: ShredScheduled = {
      typ: 'crypto-shred',
      state: 'scheduled',
      userId: '42',
      keyVersion: 3,
      keyCreatedAt: '2026-11-01T08:00:00.123456Z',
      at: '2026-11-29T14:05:06.789Z',
      destroysAt: '2026-12-06T14:05:06.789Z',
    };
    assert.equal(shredRecordName(scheduled), `${SHRED}.scheduled.json`);
    assert.deepEqual(parseShredLogEntry(shredRecordName(scheduled), serializeShredRecord(scheduled)), scheduled);
    const cancelled: ShredCancelled = {
      typ: 'crypto-shred',
      state: 'cancelled',
      userId: '42',
      keyVersion: 3,
      cancelledAt: '2026-12-01T09:00:00.000Z',
      scheduledShredId: SHRED,
      destroysAt: scheduled.destroysAt,
    };
    assert.equal(shredRecordName(cancelled), '2026-12-01T09-00-00.000Z_42_v3.cancelled.json');
    assert.deepEqual(parseShredLogEntry(shredRecordName(cancelled), serializeShredRecord(cancelled)), cancelled);
    // A schedule without its destroysAt, or a cancellation of another user's schedule, is no record.
    const { destroysAt: _, ...withoutTime } = scheduled;
    assert.throws(() => parseShredLogEntry(`${SHRED}.scheduled.json`, JSON.stringify(withoutTime)), /not a crypto-shred record/);
    const otherUser = { ...cancelled, scheduledShredId: '2026-11-29T14-05-06.789Z_43_v3' };
    assert.throws(() => parseShredLogEntry(shredRecordName(cancelled), JSON.stringify(otherUser)), /not a crypto-shred record/);
  });

  it('read a legacy entry with a receipt as destroyed, and one without as an intent whose generation the database must confirm', () => {
    const legacy = { typ: 'crypto-shred', userId: '42', keyVersions: [1, 2, 3], destroyedAt: '2026-11-29T14:05:06.789Z' };
    assert.deepEqual(parseShredLogEntry(`${SHRED}.json`, JSON.stringify({ ...legacy, receipt: 'a.b.c', receiptId: null })), {
      ...destroyed({ receipt: 'a.b.c', receiptId: receiptIdOf('a.b.c') }),
    });
    assert.deepEqual(
      parseShredLogEntry(`${SHRED}.json`, JSON.stringify({ ...legacy, receipt: null, receiptId: null })),
      intent({ keyCreatedAt: null }),
    );
  });

  it('hold no key material: only the user, versions, times, state and receipt', () => {
    assert.deepEqual(Object.keys(JSON.parse(serializeShredRecord(destroyed()))).sort(), [
      'destroyedAt',
      'keyVersions',
      'receipt',
      'receiptId',
      'state',
      'typ',
      'userId',
    ]);
    assert.deepEqual(Object.keys(JSON.parse(serializeShredRecord(intent()))).sort(), [
      'at',
      'keyCreatedAt',
      'keyVersion',
      'state',
      'typ',
      'userId',
    ]);
  });
});
