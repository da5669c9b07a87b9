import { randomBytes } from 'node:crypto';

/** Every item of the benchmark is a 32-byte ASCII string, as a typical personal-data field. */
export const ITEM_BYTES = 32;

/** The batch sizes at 50 connections; the 1,000-connection runs use TEN_ITEMS. */
export const BATCH_SIZES = [1, 10, 100, 1000] as const;
export const TEN_ITEMS = 10;
export const CONNECTIONS = 50;
export const MANY_CONNECTIONS = 1000;
/** The batch size the targets name. */
export const TARGET_BATCH = 100;

export function makeItems(count: number): string[] {
  return Array.from({ length: count }, () => randomBytes((ITEM_BYTES * 3) / 4).toString('base64'));
}

/** A user id no colleague's test uses (the machine's Redis and PostgreSQL server are shared). */
export function randomUserIdBase(): bigint {
  return (BigInt(`0x${randomBytes(5).toString('hex')}`) << 20n) + 1n;
}
