import { positiveDecimalUpTo, whole } from './patterns';

/** The largest user id: user ids are positive signed 64-bit integers. */
export const MAX_USER_ID = 9223372036854775807n;

/**
 * A user id is the decimal string of a positive signed 64-bit integer, without leading zeros. The
 * pattern itself encodes the bound, so that the OpenAPI document states exactly what is accepted.
 */
export const USER_ID_PATTERN = whole(positiveDecimalUpTo(MAX_USER_ID));
export const USER_ID_MAX_LENGTH = MAX_USER_ID.toString().length;
export const USER_ID_DESCRIPTION = `the decimal string of a positive signed 64-bit integer (1 to ${MAX_USER_ID}), without leading zeros`;

export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= USER_ID_MAX_LENGTH && USER_ID_PATTERN.test(value);
}

/**
 * bigint columns come back as strings from `pg` but may be numbers from other drivers:
 * this is the one place that turns them into the decimal strings the API speaks.
 */
export function toUserId(value: string | number | bigint): string {
  return typeof value === 'string' ? value : BigInt(value).toString();
}

export const USER_ID_EXAMPLE = '42';
