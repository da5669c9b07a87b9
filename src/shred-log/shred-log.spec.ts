import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseShredLogEntry,
  parseShredLogName,
  receiptIdOf,
  serializeShredLogEntry,
  ShredLogEntry,
  shredLogBound,
  shredLogName,
} from './shred-log';

const entry = (over: Partial<ShredLogEntry> = {}): ShredLogEntry => ({
  typ: 'crypto-shred',
  userId: '42',
  keyVersions: [1, 2, 3],
  destroyedAt: '2026-11-29T14:05:06.789Z',
  receipt: null,
  receiptId: null,
  ...over,
});

describe('shred log names', () => {
  it('name one shred by its time, its user and the newest version it destroyed', () => {
    const name = shredLogName(entry());
    assert.equal(name, '2026-11-29T14-05-06.789Z_42_v3.json');
    assert.deepEqual(parseShredLogName(name), { name, userId: '42', keyVersion: 3 });
  });

  it('sort by the time of the shred, so a bound from a time lists exactly the later shreds', () => {
    const earlier = shredLogName(entry({ destroyedAt: '2026-11-29T09:59:59.999Z' }));
    const later = shredLogName(entry({ userId: '7', destroyedAt: '2026-11-29T10:00:00.000Z' }));
    const bound = shredLogBound(new Date('2026-11-29T10:00:00.000Z'));
    assert.ok(earlier < bound, `${earlier} < ${bound}`);
    assert.ok(later > bound, `${later} > ${bound}`);
  });

  it('ignore what is not an entry: temporary files, strays, another prefix', () => {
    for (const stray of ['.2026-11-29T14-05-06.789Z_42_v3.json.ab12.tmp', 'README', '2026-11-29T14-05-06.789Z_042_v3.json', '42_v3.json']) {
      assert.equal(parseShredLogName(stray), null, stray);
    }
  });
});

describe('shred log entries', () => {
  it('read back what was written, with the receipt id recomputed from the receipt', () => {
    const receipt = 'eyJhbGciOiJFZERTQSJ9.eyJ0eXAiOiJjcnlwdG8tc2hyZWQifQ.c2ln';
    const written = entry({ receipt, receiptId: receiptIdOf(receipt) });
    const read = parseShredLogEntry(shredLogName(written), serializeShredLogEntry(written));
    assert.deepEqual(read, written);
    assert.match(read.receiptId!, /^sha256:[0-9a-f]{64}$/);
  });

  it('refuse an entry whose body does not match its name, rather than replay the wrong user', () => {
    const name = shredLogName(entry());
    assert.throws(() => parseShredLogEntry(name, serializeShredLogEntry(entry({ userId: '43' }))), /not a crypto-shred record/);
    assert.throws(() => parseShredLogEntry(name, serializeShredLogEntry(entry({ keyVersions: [1, 2] }))), /not a crypto-shred record/);
    assert.throws(() => parseShredLogEntry(name, '{"typ":"other"}'), /not a crypto-shred record/);
  });

  it('hold no key material: only the user, versions, time and receipt', () => {
    assert.deepEqual(Object.keys(JSON.parse(serializeShredLogEntry(entry()))).sort(), [
      'destroyedAt',
      'keyVersions',
      'receipt',
      'receiptId',
      'typ',
      'userId',
    ]);
  });
});
