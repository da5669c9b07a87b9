import { createHash } from 'node:crypto';

/** Injection token of the configured {@link ShredLog} (S3 with SHRED_LOG_BUCKET, else a directory). */
export const SHRED_LOG = Symbol('SHRED_LOG');

/**
 * One crypto-shred, as kept outside the key database so that a restore of that database cannot
 * undo it (docs/operations.md, 2.4 and 3.3). Names, versions and the signed receipt only: never
 * key material, never personal data beyond the user id.
 */
export interface ShredLogEntry {
  typ: 'crypto-shred';
  userId: string;
  /** The key versions destroyed, ascending. */
  keyVersions: number[];
  /** When the keys were destroyed (RFC 3339, UTC), as the receipt states it. */
  destroyedAt: string;
  /** The signed receipt (compact JWS); null in the record written before the shredding commits. */
  receipt: string | null;
  /** `sha256:<hex>` of the receipt's compact form, so a receipt in hand can be matched; null without a receipt. */
  receiptId: string | null;
}

/** What an entry's name alone says: enough to decide whether it must be replayed without reading it. */
export interface ShredLogRef {
  name: string;
  userId: string;
  /** The newest key version the shred destroyed. */
  keyVersion: number;
}

/**
 * Where crypto-shreds are recorded outside the key database: one entry per shred, named so that
 * names sort by time of the shred. Appending the same entry again replaces it (the record
 * written before the shredding commits is completed with its receipt afterwards).
 */
export interface ShredLog {
  /** Where the log is, for logs and readiness (a bucket and prefix, or a directory). */
  readonly location: string;
  /** Stores the entry durably under {@link shredLogName}; throws when it cannot. */
  append(entry: ShredLogEntry): Promise<void>;
  /** Every entry's name greater than `after` (all when undefined), ascending, a page at a time. */
  list(after?: string): AsyncIterable<ShredLogRef[]>;
  /** The entry stored under `name`. */
  read(name: string): Promise<ShredLogEntry>;
}

/** Characters of an ISO time that sort like it and are safe in file and object names. */
const timePart = (iso: string): string => iso.replace(/:/g, '-');

/**
 * `<destroyedAt>_<userId>_v<newest version>.json`, with `:` of the time as `-`: names sort by
 * the time of the shred, and one shred of one user has exactly one name.
 */
export function shredLogName(entry: Pick<ShredLogEntry, 'userId' | 'keyVersions' | 'destroyedAt'>): string {
  return `${timePart(entry.destroyedAt)}_${entry.userId}_v${Math.max(...entry.keyVersions)}.json`;
}

const NAME = /^(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(?:\.\d+)?Z)_([1-9]\d{0,18})_v([1-9]\d{0,9})\.json$/;

/** The reference a name stands for; null for anything else found in the log's place (temp files, strays). */
export function parseShredLogName(name: string): ShredLogRef | null {
  const match = NAME.exec(name);
  return match ? { name, userId: match[2], keyVersion: Number(match[3]) } : null;
}

/** The smallest possible name of a shred at or after `time`: a `list` bound. */
export function shredLogBound(time: Date): string {
  return timePart(time.toISOString());
}

/** The id of a receipt: `sha256:` and the hex SHA-256 of its compact form. */
export function receiptIdOf(receipt: string): string {
  return `sha256:${createHash('sha256').update(receipt, 'utf8').digest('hex')}`;
}

/** The entry in a stored body, checked field by field: a stray or damaged object is an error, not a replay. */
export function parseShredLogEntry(name: string, body: string): ShredLogEntry {
  const entry = JSON.parse(body) as Partial<ShredLogEntry>;
  const ref = parseShredLogName(name);
  const valid =
    ref !== null &&
    entry.typ === 'crypto-shred' &&
    entry.userId === ref.userId &&
    Array.isArray(entry.keyVersions) &&
    entry.keyVersions.length > 0 &&
    entry.keyVersions.every((v) => Number.isInteger(v) && v > 0) &&
    Math.max(...entry.keyVersions) === ref.keyVersion &&
    typeof entry.destroyedAt === 'string' &&
    (entry.receipt === null || typeof entry.receipt === 'string');
  if (!valid) throw new Error(`Shred log entry ${name} is not a crypto-shred record`);
  return {
    typ: 'crypto-shred',
    userId: entry.userId!,
    keyVersions: entry.keyVersions!,
    destroyedAt: entry.destroyedAt!,
    receipt: entry.receipt ?? null,
    receiptId: entry.receipt ? receiptIdOf(entry.receipt) : null,
  };
}

/** The stored body of an entry (JSON, one line). */
export function serializeShredLogEntry(entry: ShredLogEntry): string {
  return `${JSON.stringify(entry)}\n`;
}
