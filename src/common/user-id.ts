/** A user id is the decimal string of a positive signed 64-bit integer, without leading zeros. */
export const USER_ID_PATTERN = /^[1-9][0-9]{0,18}$/;
const MAX_INT64 = 9223372036854775807n;

export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID_PATTERN.test(value) && BigInt(value) <= MAX_INT64;
}

/**
 * bigint columns come back as strings from `pg` but may be numbers from other drivers:
 * this is the one place that turns them into the decimal strings the API speaks.
 */
export function toUserId(value: string | number | bigint): string {
  return typeof value === 'string' ? value : BigInt(value).toString();
}

export const USER_ID_EXAMPLE = '42';
