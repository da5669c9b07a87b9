/**
 * Instants the API accepts (grant times, audit ranges): RFC 3339 date-times, the OpenAPI
 * `date-time` format, always with a time zone offset, so that no instant depends on the server's
 * time zone. The pattern is the one the document states; the calendar check refuses what the
 * pattern cannot see (30 February), which JavaScript's Date would silently move to March.
 */
export const DATE_TIME_PATTERN = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;
export const DATE_TIME_DESCRIPTION = 'an RFC 3339 date-time with a time zone offset, e.g. "2026-12-01T00:00:00Z" (no leap seconds)';

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function isDateTime(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const match = DATE_TIME_PATTERN.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second, offsetHour = 0, offsetMinute = 0] = match
    .slice(1)
    .map((part) => (part === undefined ? undefined : Number(part)));
  const leap = year! % 4 === 0 && (year! % 100 !== 0 || year! % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month! - 1];
  return (
    month! >= 1 &&
    month! <= 12 &&
    day! >= 1 &&
    day! <= days! &&
    hour! <= 23 &&
    minute! <= 59 &&
    second! <= 59 &&
    offsetHour! <= 23 &&
    offsetMinute! <= 59
  );
}
