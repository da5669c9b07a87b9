import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';
import { AuditAction, AuditOutcome } from './audit-actions';

/** The previous hash of the first event of a chain. */
export const GENESIS_HASH = '0'.repeat(64);
/** Version of the hashed layout below; part of every hash so that it can evolve. */
export const HASH_LAYOUT_VERSION = 1;

export interface AuditActor {
  sub: string | null;
  clientId: string | null;
  username: string | null;
}

/** What an event says. Never a plaintext, ciphertext, key or token. */
export interface AuditEventContent {
  id: string;
  /** ISO 8601, millisecond precision. */
  time: string;
  requestId: string | null;
  actor: AuditActor;
  action: AuditAction;
  userId: string | null;
  keyVersions: number[];
  itemCount: number | null;
  outcome: AuditOutcome;
  errorCode: string | null;
  sourceIp: string | null;
  purpose: string | null;
  details: Record<string, unknown> | null;
  /**
   * The W3C trace id (32 hex digits) of the request, when tracing was on; absent or null
   * otherwise. Added after layout 1 was first used: hashed only when set (see eventHash).
   */
  traceId?: string | null;
}

/** Where an event sits: its chain, its place in it, and the hash of the event before it. */
export interface ChainLink {
  chainId: string;
  seq: number;
  prevHash: string;
}

export interface SealedAuditEvent extends AuditEventContent, ChainLink {
  traceId: string | null;
  hash: string;
}

/**
 * SHA-256 (hex) over the RFC 8785 canonical JSON of exactly these fields, so that anyone can
 * recompute it from a row or a log line: editing a field changes the hash, and removing or
 * inserting an event breaks the next event's prevHash. `traceId` is a member only when the event
 * has one: events without one (every event stored before it existed) hash exactly as they
 * always did, and adding, changing or removing a trace id changes the hash.
 */
export function eventHash(event: AuditEventContent & ChainLink): string {
  const hashed = {
    v: HASH_LAYOUT_VERSION,
    chainId: event.chainId,
    seq: event.seq,
    prevHash: event.prevHash,
    id: event.id,
    time: event.time,
    requestId: event.requestId,
    actor: { sub: event.actor.sub, clientId: event.actor.clientId, username: event.actor.username },
    action: event.action,
    userId: event.userId,
    keyVersions: event.keyVersions,
    itemCount: event.itemCount,
    outcome: event.outcome,
    errorCode: event.errorCode,
    sourceIp: event.sourceIp,
    purpose: event.purpose,
    details: event.details,
    ...(typeof event.traceId === 'string' && { traceId: event.traceId }),
  };
  return createHash('sha256').update(canonicalize(hashed)!, 'utf8').digest('hex');
}

export function sealEvent(content: AuditEventContent, link: ChainLink): SealedAuditEvent {
  const event = { ...content, traceId: content.traceId ?? null, ...link };
  return { ...event, hash: eventHash(event) };
}

/** Where a retention purge cut a chain: the first kept event must have this seq and prevHash. */
export interface ChainAnchor {
  chainId: string;
  resumesAtSeq: number;
  prevHash: string;
}

/**
 * The last link a successful verification walked in one chain (table audit_checkpoints): the
 * next incremental verification starts there instead of at the chain's first event.
 */
export interface ChainCheckpoint {
  chainId: string;
  seq: number;
  eventId: string;
  hash: string;
}

export const CHAIN_PROBLEMS = [
  'content-hash-mismatch',
  'previous-hash-mismatch',
  'sequence-gap',
  'unanchored-start',
  'checkpoint-mismatch',
  'checkpoint-not-anchored',
  'checkpoint-anchor-mismatch',
] as const;
export type ChainProblem = (typeof CHAIN_PROBLEMS)[number];

export interface BrokenLink {
  chainId: string;
  seq: number;
  eventId: string;
  problem: ChainProblem;
  description: string;
}

const DESCRIPTIONS: Record<ChainProblem, string> = {
  'content-hash-mismatch': 'the event does not match its hash: it was edited',
  'previous-hash-mismatch': 'the event does not follow the one before it: an event was removed, inserted or edited',
  'sequence-gap': 'events are missing before this one',
  'unanchored-start': 'the chain starts neither at its first event nor where a recorded retention purge cut it',
  'checkpoint-mismatch':
    'the event an earlier verification checkpointed is missing or no longer has the hash it had then: it, or the chain up to it, was removed or re-hashed',
  'checkpoint-not-anchored':
    'the database holds a checkpoint that no signed checkpoint in the anchor store records: it was inserted or moved forward outside a verification',
  'checkpoint-anchor-mismatch':
    'the database’s checkpoint differs from the signed one in the anchor store, or was deleted: the checkpoint, or the chain up to it, was rewritten',
};

/** Whether a verification walks every chain from its start, or each chain from its checkpoint. */
export const VERIFY_MODES = ['incremental', 'full'] as const;
export type VerifyMode = (typeof VERIFY_MODES)[number];

/**
 * Walks events ordered by (chainId, seq), chain by chain, and reports the first broken link. A
 * chain must start at seq 1 after the genesis hash, or exactly where a retention purge recorded
 * an anchor; in incremental mode a chain with a usable checkpoint starts at the checkpointed
 * event instead, which must still be there with the checkpointed hash. In both modes, a walk
 * that passes a checkpointed seq must find the checkpointed hash there, and a chain must not end
 * before its checkpoint.
 *
 * For each chain: `startSeq` says where to read from, `accept` checks each event, `endChain`
 * says whether the chain ended too early.
 */
export class ChainVerifier {
  chains = 0;
  /** Events checked, not counting the checkpointed events an incremental walk starts at. */
  events = 0;
  /** Events up to and including the checkpoints an incremental walk started at: verified earlier, not walked again. */
  checkpointed = 0;
  /** Checkpointed links re-checked by `acceptSampled`. */
  sampled = 0;
  /** The last event of each chain walked to its end: the checkpoints a successful walk leaves. */
  readonly heads: ChainCheckpoint[] = [];
  /** Per chain an incremental walk resumed at its checkpoint: the checkpointed seqs it did not walk again. */
  readonly checkpointedRanges: Array<{ chainId: string; from: number; to: number }> = [];
  private readonly ended = new Set<string>();
  private previous?: SealedAuditEvent;
  private readonly anchors: Set<string>;
  /** The greatest resumesAtSeq recorded per chain: where a purged chain now starts. */
  private readonly cutAt = new Map<string, number>();
  private readonly checkpoints = new Map<string, ChainCheckpoint>();

  constructor(
    anchors: readonly ChainAnchor[],
    checkpoints: readonly ChainCheckpoint[] = [],
    readonly mode: VerifyMode = 'full',
  ) {
    this.anchors = new Set(anchors.map((a) => anchorKey(a.chainId, a.resumesAtSeq, a.prevHash)));
    for (const anchor of anchors) this.cutAt.set(anchor.chainId, Math.max(anchor.resumesAtSeq, this.cutAt.get(anchor.chainId) ?? 1));
    for (const checkpoint of checkpoints) this.checkpoints.set(checkpoint.chainId, checkpoint);
  }

  /**
   * The checkpoint an incremental walk of this chain resumes at: none in full mode, nor when a
   * retention purge has cut the chain past it (the walk then starts at the purge's anchor).
   */
  resumesAt(chainId: string): ChainCheckpoint | undefined {
    const checkpoint = this.checkpoints.get(chainId);
    if (this.mode === 'full' || !checkpoint) return undefined;
    return checkpoint.seq < (this.cutAt.get(chainId) ?? 1) ? undefined : checkpoint;
  }

  /** The first seq to read of this chain. */
  startSeq(chainId: string): number {
    return this.resumesAt(chainId)?.seq ?? 1;
  }

  /** Checks the next event; returns the problem, if any. */
  accept(event: SealedAuditEvent): BrokenLink | undefined {
    const previous = this.previous?.chainId === event.chainId ? this.previous : undefined;
    this.previous = event;
    const resumed = previous ? undefined : this.resumesAt(event.chainId);
    if (!previous) this.chains++;
    if (resumed) {
      const from = this.cutAt.get(event.chainId) ?? 1;
      this.checkpointed += resumed.seq - from + 1;
      this.checkpointedRanges.push({ chainId: event.chainId, from, to: resumed.seq });
    } else this.events++;
    if (resumed && (event.seq !== resumed.seq || event.id !== resumed.eventId || event.hash !== resumed.hash)) {
      return this.checkpointBroken(resumed);
    }
    const problem =
      (resumed ? undefined : linkProblem(event, previous, this.anchors)) ??
      (eventHash(event) !== event.hash ? 'content-hash-mismatch' : undefined);
    if (problem) return brokenAt(event, problem);
    const checkpoint = this.checkpoints.get(event.chainId);
    if (checkpoint && checkpoint.seq === event.seq && checkpoint.hash !== event.hash) return this.checkpointBroken(checkpoint);
    return undefined;
  }

  /**
   * Re-checks one checkpointed event an incremental walk did not walk again, picked at random:
   * its hash, and that it follows `previous` (the event before it, undefined when there is none)
   * or starts its chain as `accept` requires. An edit of the event without a new hash shows in
   * its hash; with a new hash, in the next event's `prevHash`.
   */
  acceptSampled(event: SealedAuditEvent, previous: SealedAuditEvent | undefined): BrokenLink | undefined {
    this.sampled++;
    const start = this.cutAt.get(event.chainId) ?? 1;
    const problem =
      (event.seq === start
        ? linkProblem(event, undefined, this.anchors)
        : previous
          ? linkProblem(event, previous, this.anchors)
          : 'sequence-gap') ?? (eventHash(event) !== event.hash ? 'content-hash-mismatch' : undefined);
    return problem ? brokenAt(event, problem) : undefined;
  }

  /**
   * Called after every chain holding events was walked: a checkpointed chain that holds no event
   * any more, and that no retention purge cut past its checkpoint, was removed.
   */
  endTrail(): BrokenLink | undefined {
    for (const checkpoint of this.checkpoints.values()) {
      if (!this.ended.has(checkpoint.chainId) && checkpoint.seq >= (this.cutAt.get(checkpoint.chainId) ?? 1)) {
        return this.checkpointBroken(checkpoint);
      }
    }
    return undefined;
  }

  /** Called after the last event of a chain: a chain that ends before its checkpoint lost its newest events. */
  endChain(chainId: string): BrokenLink | undefined {
    this.ended.add(chainId);
    const checkpoint = this.checkpoints.get(chainId);
    const last = this.previous?.chainId === chainId ? this.previous : undefined;
    if (checkpoint && (last?.seq ?? 0) < checkpoint.seq && checkpoint.seq >= (this.cutAt.get(chainId) ?? 1)) {
      return this.checkpointBroken(checkpoint);
    }
    if (last) this.heads.push({ chainId, seq: last.seq, eventId: last.id, hash: last.hash });
    return undefined;
  }

  private checkpointBroken(checkpoint: ChainCheckpoint): BrokenLink {
    return brokenAt({ chainId: checkpoint.chainId, seq: checkpoint.seq, id: checkpoint.eventId }, 'checkpoint-mismatch');
  }
}

export function brokenAt(event: { chainId: string; seq: number; id: string }, problem: ChainProblem): BrokenLink {
  return { chainId: event.chainId, seq: event.seq, eventId: event.id, problem, description: DESCRIPTIONS[problem] };
}

function linkProblem(event: SealedAuditEvent, previous: SealedAuditEvent | undefined, anchors: Set<string>): ChainProblem | undefined {
  if (!previous) {
    const isGenesis = event.seq === 1 && event.prevHash === GENESIS_HASH;
    return isGenesis || anchors.has(anchorKey(event.chainId, event.seq, event.prevHash)) ? undefined : 'unanchored-start';
  }
  if (event.seq !== previous.seq + 1) return 'sequence-gap';
  if (event.prevHash !== previous.hash) return 'previous-hash-mismatch';
  return undefined;
}

const anchorKey = (chainId: string, seq: number, prevHash: string) => `${chainId}/${seq}/${prevHash}`;
