import { isUserId } from './user-id';

/** Small checks the features' audit descriptions share: a value is recorded only if it is what it claims. */

/** `[value]` when it is a safe integer, else none. */
export function numbers(value: unknown): number[] {
  return Number.isSafeInteger(value) ? [value as number] : [];
}

export function arrayLength(value: unknown): number | null {
  return Array.isArray(value) ? value.length : null;
}

export function userIdOrNull(value: unknown): string | null {
  return isUserId(value) ? value : null;
}

/** Distinct, ascending. */
export function merge(...lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}
