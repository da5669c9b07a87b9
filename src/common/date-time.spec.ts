import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isDateTime } from './date-time';

describe('RFC 3339 date-times', () => {
  it('accepts every instant as JavaScript writes it, and with any offset', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
        (date) => {
          assert.ok(isDateTime(date.toISOString()), date.toISOString());
          assert.ok(isDateTime(date.toISOString().replace('Z', '+05:30')));
        },
      ),
      { seed: 3339, numRuns: 2000 },
    );
  });

  it('accepts a date exactly when the calendar has it (JavaScript would move 30 February to March)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9999 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        (year, month, day) => {
          const text = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T12:00:00Z`;
          const date = new Date(Date.UTC(year, month - 1, day, 12));
          date.setUTCFullYear(year);
          const exists = date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
          assert.equal(isDateTime(text), exists, text);
        },
      ),
      { seed: 2026, numRuns: 3000 },
    );
  });

  it('refuses what depends on the server or is not an instant', () => {
    for (const text of [
      '2026-12-01',
      '2026-12-01T00:00:00',
      '2026-12-01 00:00:00Z',
      '2026-12-01T24:00:00Z',
      '2026-12-01T23:59:60Z',
      '2026-13-01T00:00:00Z',
      '2026-12-01T00:00:00+24:00',
      'tomorrow',
      '',
    ]) {
      assert.ok(!isDateTime(text), text);
    }
  });
});
