import { createHash } from 'node:crypto';

/** Injection token of the configured {@link ShredLog} (S3 with SHRED_LOG_BUCKET, else a directory). */
export const SHRED_LOG = Symbol('SHRED_LOG');

/**
 * The states of one crypto-shred in the log (docs/operations.md 2.4, "The shred log's states").
 * Each state is its own write-once record (an object under S3 Object Lock, a file), never an
 * overwrite of another:
 *
 * - `intent`: written before the destroying transaction starts. It says only that a shred was
 *   asked for; it never destroys anything by itself. It is settled by the DELETE that wrote it
 *   or, if that one could not (it died, the database failed over, the write of the outcome
 *   failed), by the next replay, from what the key database says: the intent's key generation
 *   still held there → `aborted`; gone → the transaction committed → `destroyed`.
 * - `destroyed`: written after the transaction committed (or when the database shows it did).
 *   The only state the replay destroys keys for after a restore.
 * - `aborted`: the transaction did not commit; the key stays usable for good. Final.
 * - `receipt`: not a state but an addendum of `destroyed`: the receipt signed once the audit
 *   trail stored the `key.delete` event (it names that event). The `destroyed` record holds the
 *   receipt signed in the transaction (no audit event); the replay prefers this one.
 * - `replayed`: written by the replay after it destroyed again the keys a restore brought back,
 *   before it records that in the audit trail. Named by the replay's own time (so the next
 *   replays list it), it names the shred it replayed; while no `key.shred-replayed` audit event
 *   names it, each replay appends that event (the log is the source of truth). Never destroys.
 *
 * The deletion window (docs/compliance.md): a DELETE /keys with SHRED_PENDING_DAYS > 0 puts the
 * keys into pending deletion instead of destroying them, and the log keeps that too, so that a
 * restore cannot undo it either way:
 *
 * - `scheduled`: written once the database committed the pending deletion; named by when it was
 *   asked for, it names the key generation and `destroysAt`. The replay puts a restored database
 *   that does not hold it (a backup from before the DELETE) back into pending deletion. Never
 *   destroys by itself: the scheduled job destroys the keys when `destroysAt` has passed, through
 *   an `intent` and a `destroyed` record of its own, as a DELETE without a window does.
 * - `cancelled`: written before the database lifts the pending deletion (POST
 *   /keys/{userId}/cancel-deletion). Named by its own time (so a replay after a restore from
 *   before it lists it, however old the schedule), it names the `scheduled` record it calls off;
 *   the replay lifts that pending deletion in a restored database that still holds it.
 *
 * The replay ignores any other state, of a later version, with a warning, and never destroys for it.
 */
export const SHRED_STATES = ['intent', 'destroyed', 'aborted', 'receipt', 'replayed', 'scheduled', 'cancelled'] as const;
export type ShredState = (typeof SHRED_STATES)[number];

/** Shared by every record: a crypto-shred of one user, identified by the shred's time and the user's newest version. */
interface ShredRecordBase {
  typ: 'crypto-shred';
  userId: string;
}

/** Written before the destroying transaction: the key generation the shred is about to destroy. */
export interface ShredIntent extends ShredRecordBase {
  state: 'intent';
  /** The user's current key version when the shred was asked for (the newest it destroys). */
  keyVersion: number;
  /**
   * `created_at` of that version (RFC 3339, microseconds) as the database holds it: with the
   * version, the generation the intent is about. null only in a legacy record (no state in its name).
   */
  keyCreatedAt: string | null;
  /** When the shred was asked for: the `destroyedAt` of its receipt and of its `destroyed` record. */
  at: string;
}

/** Written after the transaction committed: what was destroyed, with the receipt kept in the database. */
export interface ShredDestroyed extends ShredRecordBase {
  state: 'destroyed';
  /** The key versions destroyed, ascending. */
  keyVersions: number[];
  /** When the keys were destroyed (RFC 3339, UTC), as the receipt states it. */
  destroyedAt: string;
  /** The signed receipt (compact JWS); null when none was kept (a legacy shred settled by the replay). */
  receipt: string | null;
  /** `sha256:<hex>` of the receipt's compact form, so a receipt in hand can be matched; null without a receipt. */
  receiptId: string | null;
}

/** The transaction did not commit: the key of the intent stays usable. */
export interface ShredAborted extends ShredRecordBase {
  state: 'aborted';
  keyVersion: number;
  abortedAt: string;
  /** Why, for operators (no data). */
  reason: string;
}

/** The receipt naming the audit event, written once that event is stored. */
export interface ShredReceiptRecord extends ShredRecordBase {
  state: 'receipt';
  receipt: string;
  receiptId: string;
}

/**
 * The replay destroyed again the keys a restore had brought back: named
 * `<replayedAt>_<userId>_v<newest version destroyed now>.replayed.json`, it stands for the
 * `key.shred-replayed` audit event that must name it (`details.replayEntry`).
 */
export interface ShredReplayed extends ShredRecordBase {
  state: 'replayed';
  /** The shred replayed: the id of its `destroyed` record. */
  shredId: string;
  /** The key versions destroyed again, ascending. */
  keyVersions: number[];
  /** When the replay destroyed them (RFC 3339, UTC). */
  replayedAt: string;
  /** The shred's own `destroyedAt`, and its receipt's id (null without one), as the audit event states them. */
  destroyedAt: string;
  receiptId: string | null;
}

/** A DELETE /keys put the key generation into pending deletion, committed in the database: destroyed at `destroysAt` unless cancelled. */
export interface ShredScheduled extends ShredRecordBase {
  state: 'scheduled';
  /** The generation pending deletion: the current version and its `created_at` as stored (as an intent names them). */
  keyVersion: number;
  keyCreatedAt: string;
  /** When the deletion was asked for (RFC 3339, the database clock): the record's time. */
  at: string;
  /** When the keys are destroyed unless the deletion is cancelled (RFC 3339, the database clock). */
  destroysAt: string;
}

/** A pending deletion called off: named `<cancelledAt>_<userId>_v<version>.cancelled.json`. */
export interface ShredCancelled extends ShredRecordBase {
  state: 'cancelled';
  keyVersion: number;
  /** When it was cancelled (RFC 3339): the record's time. */
  cancelledAt: string;
  /** The `scheduled` record called off (its shred id), and its `destroysAt`. */
  scheduledShredId: string;
  destroysAt: string;
}

export type ShredRecord =
  ShredIntent | ShredDestroyed | ShredAborted | ShredReceiptRecord | ShredReplayed | ShredScheduled | ShredCancelled;

/** What a record's name alone says: enough to group the records of one shred and decide what to read. */
export interface ShredLogRef {
  name: string;
  /** `<time>_<userId>_v<version>`: the records of one shred share it, and sort together. */
  shredId: string;
  userId: string;
  /** The newest key version the shred is about. */
  keyVersion: number;
  /** When the shred was asked for (RFC 3339). */
  at: string;
  /**
   * The record's state as named; `legacy` for an entry of the earlier format (`<shredId>.json`,
   * one record per shred); any other string is a state this version does not know.
   */
  state: ShredState | 'legacy' | (string & {});
}

/**
 * Where crypto-shreds are recorded outside the key database: write-once records named so that
 * names sort by time of the shred, and the records of one shred sort together.
 */
export interface ShredLog {
  /** Where the log is, for logs and readiness (a bucket and prefix, or a directory). */
  readonly location: string;
  /**
   * Stores the record durably under {@link shredRecordName} (`shredId`: the shred an aborted or
   * receipt record settles); never replaces another record (the same record written again, a
   * retry, is accepted). Throws when it cannot.
   */
  append(record: ShredRecord, shredId?: string): Promise<void>;
  /** Every record's name greater than `after` (all when undefined), ascending, a page at a time. */
  list(after?: string): AsyncIterable<ShredLogRef[]>;
  /** The record stored under `name` (a legacy entry is read as the state it stands for). */
  read(name: string): Promise<ShredRecord>;
}

/** Characters of an ISO time that sort like it and are safe in file and object names. */
const timePart = (iso: string): string => iso.replace(/:/g, '-');
const isoOf = (part: string): string => part.replace(/T(\d\d)-(\d\d)-(\d\d)/, 'T$1:$2:$3');

/** `<at>_<userId>_v<newest version>`, with `:` of the time as `-`: one shred of one user has exactly one id. */
export function shredIdOf(shred: { at: string; userId: string; keyVersion: number }): string {
  return `${timePart(shred.at)}_${shred.userId}_v${shred.keyVersion}`;
}

/**
 * `<shredId>.<state>.json`. An intent and a destroyed record carry their shred's time, user and
 * newest version; an aborted or receipt record settles a shred named by `shredId`.
 */
export function shredRecordName(record: ShredRecord, shredId?: string): string {
  const id =
    record.state === 'intent' || record.state === 'scheduled'
      ? shredIdOf(record)
      : record.state === 'destroyed'
        ? shredIdOf({ at: record.destroyedAt, userId: record.userId, keyVersion: Math.max(...record.keyVersions) })
        : record.state === 'replayed'
          ? shredIdOf({ at: record.replayedAt, userId: record.userId, keyVersion: Math.max(...record.keyVersions) })
          : record.state === 'cancelled'
            ? shredIdOf({ at: record.cancelledAt, userId: record.userId, keyVersion: record.keyVersion })
            : shredId;
  if (!id) throw new Error(`A shred log ${record.state} record needs the id of its shred`);
  return `${id}.${record.state}.json`;
}

const NAME = /^((\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(?:\.\d+)?Z)_([1-9]\d{0,18})_v([1-9]\d{0,9}))(?:\.([a-z][a-z-]{0,31}))?\.json$/;

/** The reference a name stands for; null for anything else found in the log's place (temp files, strays). */
export function parseShredLogName(name: string): ShredLogRef | null {
  const match = NAME.exec(name);
  if (!match) return null;
  return { name, shredId: match[1], at: isoOf(match[2]), userId: match[3], keyVersion: Number(match[4]), state: match[5] ?? 'legacy' };
}

/** The smallest possible name of a shred at or after `time`: a `list` bound. */
export function shredLogBound(time: Date): string {
  return timePart(time.toISOString());
}

/** The id of a receipt: `sha256:` and the hex SHA-256 of its compact form. */
export function receiptIdOf(receipt: string): string {
  return `sha256:${createHash('sha256').update(receipt, 'utf8').digest('hex')}`;
}

const isVersion = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isString = (v: unknown): v is string => typeof v === 'string';

/**
 * The record in a stored body, checked field by field against its name: a stray, damaged or
 * unknown record is an error, never a replay. A legacy entry (`<shredId>.json`, written before
 * records had states) reads as `destroyed` when it holds a receipt (it was completed after its
 * commit) and as an `intent` without `keyCreatedAt` when not (its commit is not confirmed).
 */
export function parseShredLogEntry(name: string, body: string): ShredRecord {
  const ref = parseShredLogName(name);
  const fail = (): never => {
    throw new Error(`Shred log entry ${name} is not a crypto-shred record`);
  };
  if (!ref) return fail();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return fail();
  }
  if (json === null || typeof json !== 'object' || json.typ !== 'crypto-shred' || json.userId !== ref.userId) return fail();
  const base = { typ: 'crypto-shred' as const, userId: ref.userId };
  const receiptOf = (value: unknown) => (isString(value) ? value : value === null || value === undefined ? null : fail());
  const state = ref.state === 'legacy' ? (isString(json.receipt) ? 'destroyed' : 'intent') : ref.state;
  if (ref.state !== 'legacy' && json.state !== ref.state) return fail();
  switch (state) {
    case 'intent': {
      if (ref.state === 'legacy') {
        const versions = json.keyVersions;
        if (!Array.isArray(versions) || !versions.length || !versions.every(isVersion) || Math.max(...versions) !== ref.keyVersion) {
          return fail();
        }
        if (!isString(json.destroyedAt) || timePart(json.destroyedAt) !== timePart(ref.at)) return fail();
        return { ...base, state: 'intent', keyVersion: ref.keyVersion, keyCreatedAt: null, at: json.destroyedAt };
      }
      if (json.keyVersion !== ref.keyVersion || !isString(json.at) || timePart(json.at) !== timePart(ref.at)) return fail();
      if (!isString(json.keyCreatedAt) || Number.isNaN(Date.parse(json.keyCreatedAt))) return fail();
      return { ...base, state: 'intent', keyVersion: ref.keyVersion, keyCreatedAt: json.keyCreatedAt, at: json.at };
    }
    case 'destroyed': {
      const versions = json.keyVersions;
      if (!Array.isArray(versions) || !versions.length || !versions.every(isVersion) || Math.max(...versions) !== ref.keyVersion) {
        return fail();
      }
      if (!isString(json.destroyedAt) || timePart(json.destroyedAt) !== timePart(ref.at)) return fail();
      const receipt = receiptOf(json.receipt);
      return {
        ...base,
        state: 'destroyed',
        keyVersions: versions,
        destroyedAt: json.destroyedAt,
        receipt,
        receiptId: receipt ? receiptIdOf(receipt) : null,
      };
    }
    case 'aborted':
      if (json.keyVersion !== ref.keyVersion || !isString(json.abortedAt) || !isString(json.reason)) return fail();
      return { ...base, state: 'aborted', keyVersion: ref.keyVersion, abortedAt: json.abortedAt, reason: json.reason };
    case 'receipt':
      if (!isString(json.receipt)) return fail();
      return { ...base, state: 'receipt', receipt: json.receipt, receiptId: receiptIdOf(json.receipt) };
    case 'replayed': {
      const versions = json.keyVersions;
      if (!Array.isArray(versions) || !versions.length || !versions.every(isVersion) || Math.max(...versions) !== ref.keyVersion) {
        return fail();
      }
      if (!isString(json.replayedAt) || timePart(json.replayedAt) !== timePart(ref.at) || !isString(json.destroyedAt)) return fail();
      const replayed = isString(json.shredId) ? parseShredLogName(`${json.shredId}.destroyed.json`) : null;
      if (!replayed || replayed.userId !== ref.userId || !(json.receiptId === null || isString(json.receiptId))) return fail();
      return {
        ...base,
        state: 'replayed',
        shredId: replayed!.shredId,
        keyVersions: versions,
        replayedAt: json.replayedAt,
        destroyedAt: json.destroyedAt,
        receiptId: json.receiptId as string | null,
      };
    }
    case 'scheduled': {
      if (json.keyVersion !== ref.keyVersion || !isString(json.at) || timePart(json.at) !== timePart(ref.at)) return fail();
      if (!isString(json.keyCreatedAt) || Number.isNaN(Date.parse(json.keyCreatedAt))) return fail();
      if (!isString(json.destroysAt) || Number.isNaN(Date.parse(json.destroysAt))) return fail();
      return {
        ...base,
        state: 'scheduled',
        keyVersion: ref.keyVersion,
        keyCreatedAt: json.keyCreatedAt,
        at: json.at,
        destroysAt: json.destroysAt,
      };
    }
    case 'cancelled': {
      if (json.keyVersion !== ref.keyVersion || !isString(json.cancelledAt) || timePart(json.cancelledAt) !== timePart(ref.at))
        return fail();
      if (!isString(json.destroysAt) || Number.isNaN(Date.parse(json.destroysAt))) return fail();
      const scheduled = isString(json.scheduledShredId) ? parseShredLogName(`${json.scheduledShredId}.scheduled.json`) : null;
      if (!scheduled || scheduled.userId !== ref.userId) return fail();
      return {
        ...base,
        state: 'cancelled',
        keyVersion: ref.keyVersion,
        cancelledAt: json.cancelledAt,
        scheduledShredId: scheduled.shredId,
        destroysAt: json.destroysAt,
      };
    }
    default:
      // A state of a later version: never read as one this version acts on.
      throw new Error(`Shred log entry ${name} has the state ${state}, which this version does not know`);
  }
}

/** Whether this version knows the state named in a reference (a legacy entry included). */
export function isKnownShredState(state: string): state is ShredState | 'legacy' {
  return state === 'legacy' || (SHRED_STATES as readonly string[]).includes(state);
}

/** The stored body of a record (JSON, one line). */
export function serializeShredRecord(record: ShredRecord): string {
  return `${JSON.stringify(record)}\n`;
}
