import { ShredDestroyed, ShredIntent, ShredLog, shredLogBound, ShredLogRef, ShredReceiptRecord, ShredReplayed } from './shred-log';

/**
 * What the log says became of one shred:
 * - `destroyed`: its commit is recorded (a `destroyed` record, or a legacy entry with a receipt);
 *   it wins over an `aborted` one;
 * - `aborted`: its transaction did not commit, and nothing says it did;
 * - `open`: an intent only, not settled yet (the database decides; the replay settles it);
 * - `none`: no record of it (a shred older than the log, or a log that lost it).
 */
export type ShredOutcome = 'destroyed' | 'aborted' | 'open' | 'none';

/** A shred as the log holds it: its outcome and, when committed, the receipt the caller got. */
export interface LoggedShred {
  outcome: ShredOutcome;
  /** The `receipt` record's receipt (it names the audit event), else the `destroyed` record's; null when neither. */
  receipt: string | null;
}

/**
 * The records of the shred `shredId`: its names sort together, right after its id, so this is one
 * listing call in practice however large the log.
 */
export async function recordsOfShred(log: ShredLog, shredId: string): Promise<ShredLogRef[]> {
  const refs: ShredLogRef[] = [];
  for await (const page of log.list(shredId)) {
    for (const ref of page) {
      if (ref.shredId !== shredId) return refs;
      refs.push(ref);
    }
  }
  return refs;
}

/** The outcome of the shred `shredId` and its receipt, from its records (read only as far as needed). */
export async function loggedShred(log: ShredLog, shredId: string): Promise<LoggedShred> {
  const refs = await recordsOfShred(log, shredId);
  const named = (state: string) => refs.find((ref) => ref.state === state);
  const legacy = named('legacy') && ((await log.read(named('legacy')!.name)) as ShredDestroyed | ShredIntent);
  const destroyed = named('destroyed') ?? (legacy?.state === 'destroyed' ? named('legacy') : undefined);
  if (destroyed) {
    const receiptRecord = named('receipt');
    const receipt = receiptRecord
      ? ((await log.read(receiptRecord.name)) as ShredReceiptRecord).receipt
      : ((await log.read(destroyed.name)) as ShredDestroyed).receipt;
    return { outcome: 'destroyed', receipt };
  }
  if (named('aborted')) return { outcome: 'aborted', receipt: null };
  if (named('intent') || legacy) return { outcome: 'open', receipt: null };
  return { outcome: 'none', receipt: null };
}

/**
 * The newest shred of `userId` that destroyed its key version `keyVersion` — directly (its
 * `destroyed` or legacy record names that version as its newest) or through a replay after a
 * restore (a `replayed` record destroying that version) — among the records written within
 * `marginMs` of `around` (when the database's tombstone was last written). Lists only that
 * window of the log. Undefined when there is none.
 */
export async function shredDestroying(
  log: ShredLog,
  { userId, keyVersion, around, marginMs }: { userId: string; keyVersion: number; around: Date; marginMs: number },
): Promise<string | undefined> {
  const until = shredLogBound(new Date(around.getTime() + marginMs));
  const found: ShredLogRef[] = [];
  for await (const page of log.list(shredLogBound(new Date(around.getTime() - marginMs)))) {
    for (const ref of page) {
      if (ref.name > until) return newestShred(log, found);
      if (ref.userId === userId && ref.keyVersion === keyVersion && ['destroyed', 'legacy', 'replayed'].includes(ref.state))
        found.push(ref);
    }
  }
  return newestShred(log, found);
}

/** The newest of these records' shreds: a `replayed` record stands for the shred it names. */
async function newestShred(log: ShredLog, refs: ShredLogRef[]): Promise<string | undefined> {
  const newest = refs.at(-1);
  if (newest?.state !== 'replayed') return newest?.shredId;
  return ((await log.read(newest.name)) as ShredReplayed).shredId;
}
