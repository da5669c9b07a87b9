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

export const CHAIN_PROBLEMS = ['content-hash-mismatch', 'previous-hash-mismatch', 'sequence-gap', 'unanchored-start'] as const;
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
};

/**
 * Walks events ordered by (chainId, seq) and reports the first broken link. A chain must start
 * at seq 1 after the genesis hash, or exactly where a retention purge recorded an anchor.
 */
export class ChainVerifier {
  chains = 0;
  events = 0;
  private previous?: SealedAuditEvent;
  private readonly anchors: Set<string>;

  constructor(anchors: readonly ChainAnchor[]) {
    this.anchors = new Set(anchors.map((a) => anchorKey(a.chainId, a.resumesAtSeq, a.prevHash)));
  }

  /** Checks the next event; returns the problem, if any. */
  accept(event: SealedAuditEvent): BrokenLink | undefined {
    const previous = this.previous?.chainId === event.chainId ? this.previous : undefined;
    this.previous = event;
    this.events++;
    if (!previous) this.chains++;
    const problem = linkProblem(event, previous, this.anchors) ?? (eventHash(event) !== event.hash ? 'content-hash-mismatch' : undefined);
    if (!problem) return undefined;
    return { chainId: event.chainId, seq: event.seq, eventId: event.id, problem, description: DESCRIPTIONS[problem] };
  }
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
