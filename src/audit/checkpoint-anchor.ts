import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { createHash } from 'node:crypto';
import { BrokenLink, brokenAt, ChainAnchor, ChainCheckpoint } from './audit-chain';

/**
 * Anchored checkpoints (docs/audit.md, "Anchored checkpoints"): after each verification that
 * moves a checkpoint, the service signs the newest checkpoint of every chain, as AWS CloudTrail
 * signs its digest files, and writes it once to a store outside the database (the shred log's
 * place: S3 under Object Lock, or its directory), in a numbered digest that names the one before
 * it. The database's checkpoints are then compared with the anchored ones, so whoever can rewrite
 * the database cannot rewrite a checkpoint, nor history before one, unnoticed.
 *
 * The audit module defines this port; the keys module, which holds the signing key and the
 * store, implements it (src/keys/checkpoint-anchor.service.ts).
 */
export const CHECKPOINT_ANCHOR = Symbol('CHECKPOINT_ANCHOR');

/** The JWS `typ` of a checkpoint digest: signed by the receipt-signing key, never taken for a receipt. */
export const CHECKPOINT_JWS_TYPE = 'audit-checkpoint+jws';
/** The payload's own `typ`. */
export const CHECKPOINT_DIGEST_TYPE = 'audit-checkpoints';
/**
 * How many digests, newest first, a database checkpoint may lag behind: a verification writes its
 * digest before it moves the database's checkpoints, so a verification reading in between, or one
 * that stopped in between, finds the database one or a few digests behind.
 */
export const ANCHOR_LAG_DIGESTS = 16;

/** A checkpoint as anchored: the link, and when the verification that reached it ran. */
export interface AnchoredCheckpoint extends ChainCheckpoint {
  /** RFC 3339. */
  verifiedAt: string;
}

/** One signed digest: the newest anchored checkpoint of every chain when it was written. */
export interface CheckpointDigest {
  typ: typeof CHECKPOINT_DIGEST_TYPE;
  /** 1, 2, 3…: the name of the digest; each is written only after the one before it exists. */
  number: number;
  /** `sha256:<hex>` of the compact JWS of digest `number - 1`; null for the first. */
  previous: string | null;
  /** When it was written (RFC 3339). */
  issuedAt: string;
  /** One per chain, ordered by chainId. */
  checkpoints: AnchoredCheckpoint[];
}

/** Reads digests without the database (the keys that check them are read beforehand): for reading inside a database transaction. */
export interface AnchoredDigests {
  /** The newest digest, its signature checked; undefined before the first. 503 AUDIT003 when the store cannot be read. */
  newest(): Promise<CheckpointDigest | undefined>;
  /** Digest `number`, its signature checked; undefined when there is none. */
  read(number: number): Promise<CheckpointDigest | undefined>;
}

export interface CheckpointAnchor {
  /** Where the digests are (a bucket and prefix, or a directory), for operators. */
  readonly location: string;
  /** Reads the published keys now, and returns a reader of the digests that checks them with those keys. */
  reader(): Promise<AnchoredDigests>;
  /**
   * Signs and writes the next digest: the newest one's checkpoints, each moved forward to the
   * link of `links` for its chain when that is further (never back). Nothing is written when no
   * checkpoint moves. 503 AUDIT003 when it cannot be written.
   */
  anchor(links: readonly ChainCheckpoint[], verifiedAt: Date): Promise<void>;
}

/** The name of digest `number` in the store: sorts by number. */
export const digestName = (number: number): string => `${String(number).padStart(20, '0')}.jws`;

/** `sha256:<hex>` of a digest's compact JWS: what the next digest's `previous` holds. */
export const digestId = (jws: string): string => `sha256:${createHash('sha256').update(jws, 'utf8').digest('hex')}`;

/** The payload of the digest after `previous` (undefined: the first), or undefined when no checkpoint moves. */
export function nextDigest(
  previous: { digest: CheckpointDigest; jws: string } | undefined,
  links: readonly ChainCheckpoint[],
  verifiedAt: Date,
): CheckpointDigest | undefined {
  const checkpoints = new Map((previous?.digest.checkpoints ?? []).map((c) => [c.chainId, c]));
  let moved = false;
  for (const link of links) {
    const anchored = checkpoints.get(link.chainId);
    if (anchored && anchored.seq >= link.seq) continue;
    checkpoints.set(link.chainId, {
      chainId: link.chainId,
      seq: link.seq,
      eventId: link.eventId,
      hash: link.hash,
      verifiedAt: verifiedAt.toISOString(),
    });
    moved = true;
  }
  if (!moved) return undefined;
  return {
    typ: CHECKPOINT_DIGEST_TYPE,
    number: (previous?.digest.number ?? 0) + 1,
    previous: previous ? digestId(previous.jws) : null,
    issuedAt: verifiedAt.toISOString(),
    checkpoints: [...checkpoints.values()].sort((a, b) => (a.chainId < b.chainId ? -1 : a.chainId > b.chainId ? 1 : 0)),
  };
}

const HEX64 = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isPositive = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/**
 * Checks a stored digest: its signature by one of `keys` (the receipt-signing JWKS) with the
 * checkpoint `typ`, its number, and every field. Throws an Error saying what is wrong.
 */
export async function verifyDigest(jws: string, number: number, keys: JSONWebKeySet): Promise<CheckpointDigest> {
  const { payload, protectedHeader } = await compactVerify(jws.trim(), createLocalJWKSet(keys), { algorithms: ['EdDSA'] });
  if (protectedHeader.typ !== CHECKPOINT_JWS_TYPE)
    throw new Error(`digest ${number} is signed with typ ${protectedHeader.typ}, not ${CHECKPOINT_JWS_TYPE}`);
  const json = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
  const fail = (what: string): never => {
    throw new Error(`digest ${number} is not a checkpoint digest: ${what}`);
  };
  if (json?.typ !== CHECKPOINT_DIGEST_TYPE) fail('typ');
  if (json.number !== number) fail(`it says number ${String(json.number)}`);
  if (!(json.previous === null ? number === 1 : typeof json.previous === 'string' && /^sha256:[0-9a-f]{64}$/.test(json.previous)))
    fail('previous');
  if (!isTime(json.issuedAt)) fail('issuedAt');
  if (!Array.isArray(json.checkpoints)) fail('checkpoints');
  const seen = new Set<string>();
  const checkpoints = (json.checkpoints as Array<Record<string, unknown>>).map((c) => {
    if (typeof c?.chainId !== 'string' || !UUID.test(c.chainId) || seen.has(c.chainId)) fail('a checkpoint chainId');
    seen.add(c.chainId as string);
    if (!isPositive(c.seq) || typeof c.eventId !== 'string' || !UUID.test(c.eventId)) fail('a checkpoint seq or eventId');
    if (typeof c.hash !== 'string' || !HEX64.test(c.hash) || !isTime(c.verifiedAt)) fail('a checkpoint hash or verifiedAt');
    return { chainId: c.chainId, seq: c.seq, eventId: c.eventId, hash: c.hash, verifiedAt: c.verifiedAt } as AnchoredCheckpoint;
  });
  return { typ: CHECKPOINT_DIGEST_TYPE, number, previous: json.previous as string | null, issuedAt: json.issuedAt as string, checkpoints };
}

/** Where the retention purges cut each chain: the greatest resumesAtSeq recorded per chain. */
export function cutPoints(anchors: readonly ChainAnchor[]): Map<string, number> {
  const cutAt = new Map<string, number>();
  for (const anchor of anchors) cutAt.set(anchor.chainId, Math.max(anchor.resumesAtSeq, cutAt.get(anchor.chainId) ?? 1));
  return cutAt;
}

const sameLink = (a: ChainCheckpoint | undefined, b: ChainCheckpoint | undefined): boolean =>
  a === undefined || b === undefined ? a === b : a.seq === b.seq && a.eventId === b.eventId && a.hash === b.hash;

/**
 * Compares the database's checkpoints with the anchored ones: every chain's checkpoint in the
 * database (or its absence) must be the chain's anchored checkpoint (or absence) in the newest
 * digest or, as a verification writes its digest before it moves the database's checkpoints, in
 * one of the `ANCHOR_LAG_DIGESTS` before it (a chain absent from one of them may have no checkpoint
 * in the database: it was new then). A chain a retention
 * purge cut past its checkpoint is not compared. Returns the first difference, by chain id, or
 * undefined; with no digest yet (the first anchored verification) nothing is compared.
 *
 * `read(n)` gives digest n (undefined when there is none); older digests are read only for a
 * chain whose database checkpoint is not the newest digest's.
 */
export async function compareWithAnchors(
  database: readonly ChainCheckpoint[],
  newest: CheckpointDigest | undefined,
  read: (number: number) => Promise<CheckpointDigest | undefined>,
  purgeAnchors: readonly ChainAnchor[],
): Promise<BrokenLink | undefined> {
  if (!newest) return undefined;
  const cutAt = cutPoints(purgeAnchors);
  const inDatabase = new Map(database.map((c) => [c.chainId, c]));
  const digests = new Map<number, Map<string, AnchoredCheckpoint>>([
    [newest.number, new Map(newest.checkpoints.map((c) => [c.chainId, c]))],
  ]);
  const checkpointsOf = async (number: number): Promise<Map<string, AnchoredCheckpoint> | undefined> => {
    if (!digests.has(number)) {
      const digest = await read(number);
      if (!digest) return undefined;
      digests.set(number, new Map(digest.checkpoints.map((c) => [c.chainId, c])));
    }
    return digests.get(number);
  };
  const anchoredNow = digests.get(newest.number)!;
  const chainIds = [...new Set([...inDatabase.keys(), ...anchoredNow.keys()])].sort();
  for (const chainId of chainIds) {
    const held = inDatabase.get(chainId);
    const anchored = anchoredNow.get(chainId);
    const cut = cutAt.get(chainId) ?? 1;
    if ((held?.seq ?? 0) < cut && (anchored?.seq ?? 0) < cut) continue;
    let matched = false;
    for (let number = newest.number; number >= Math.max(1, newest.number - ANCHOR_LAG_DIGESTS) && !matched; number--) {
      const checkpoints = await checkpointsOf(number);
      if (!checkpoints) break;
      matched = sameLink(held, checkpoints.get(chainId));
    }
    if (matched) continue;
    if (held && (!anchored || held.seq > anchored.seq))
      return brokenAt({ chainId, seq: held.seq, id: held.eventId }, 'checkpoint-not-anchored');
    const at = held ?? anchored!;
    return brokenAt({ chainId, seq: at.seq, id: at.eventId }, 'checkpoint-anchor-mismatch');
  }
  return undefined;
}
