import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  AuditEventContent,
  ChainAnchor,
  ChainCheckpoint,
  ChainVerifier,
  eventHash,
  GENESIS_HASH,
  SealedAuditEvent,
  sealEvent,
  VerifyMode,
} from './audit-chain';

const content = (overrides: Partial<AuditEventContent> = {}): AuditEventContent => ({
  id: randomUUID(),
  time: '2026-03-01T12:00:00.000Z',
  requestId: 'req-1',
  actor: { sub: 'svc', clientId: 'client', username: null },
  action: 'decrypt',
  userId: '42',
  keyVersions: [1, 2],
  itemCount: 3,
  outcome: 'success',
  errorCode: null,
  sourceIp: '127.0.0.1',
  purpose: 'estate settlement',
  details: { b: 1, a: [true, null] },
  ...overrides,
});

function chain(length: number, chainId = randomUUID()): SealedAuditEvent[] {
  const events: SealedAuditEvent[] = [];
  for (let seq = 1; seq <= length; seq++) {
    events.push(sealEvent(content(), { chainId, seq, prevHash: events.at(-1)?.hash ?? GENESIS_HASH }));
  }
  return events;
}

function verify(events: SealedAuditEvent[], anchors: ChainAnchor[] = []) {
  const verifier = new ChainVerifier(anchors);
  for (const event of events) {
    const broken = verifier.accept(event);
    if (broken) return { ok: false, problem: broken.problem, seq: broken.seq };
  }
  return { ok: true, chains: verifier.chains, events: verifier.events };
}

describe('audit hash chain', () => {
  it('hashes the same content the same way whatever the key order of its details (as jsonb returns them)', () => {
    const link = { chainId: randomUUID(), seq: 1, prevHash: GENESIS_HASH };
    const event = content();
    const reordered = { ...event, details: { a: [true, null], b: 1 } };
    assert.equal(eventHash({ ...event, ...link }), eventHash({ ...reordered, ...link }));
    assert.match(eventHash({ ...event, ...link }), /^[0-9a-f]{64}$/);
  });

  it('changes the hash when any field or the link changes', () => {
    const link = { chainId: randomUUID(), seq: 1, prevHash: GENESIS_HASH };
    const original = eventHash({ ...content({ id: 'x' }), ...link });
    for (const changed of [
      { purpose: 'other' },
      { itemCount: 4 },
      { keyVersions: [1] },
      { actor: { sub: 'svc', clientId: 'c2', username: null } },
    ]) {
      assert.notEqual(eventHash({ ...content({ id: 'x', ...changed }), ...link }), original);
    }
    assert.notEqual(eventHash({ ...content({ id: 'x' }), ...link, seq: 2 }), original);
  });

  it('still verifies an event stored before trace ids existed: without one, the hash is the one layout 1 always gave', () => {
    const link = { chainId: '00000000-0000-4000-8000-0000000000c1', seq: 1, prevHash: GENESIS_HASH };
    const stored = { ...content({ id: '00000000-0000-4000-8000-000000000001' }), ...link };
    // Computed by the hash function as it was before `traceId` was added.
    const before = '292e033f18da7bcbefb407394f7914383ca09ba1eca4440f06aafeb049896e7a';
    assert.equal(eventHash(stored), before);
    assert.equal(eventHash({ ...stored, traceId: null }), before);
  });

  it('breaks the hash when a trace id is added to, changed in or removed from an event', () => {
    const link = { chainId: randomUUID(), seq: 1, prevHash: GENESIS_HASH };
    const traced = { ...content({ id: 'x', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' }), ...link };
    const hash = eventHash(traced);
    assert.notEqual(eventHash({ ...traced, traceId: null }), hash);
    assert.notEqual(eventHash({ ...traced, traceId: '4bf92f3577b34da6a3ce929d0e0e4737' }), hash);
    assert.notEqual(eventHash({ ...traced, traceId: null }), eventHash({ ...traced, traceId: '00000000000000000000000000000001' }));
  });

  it('accepts intact chains and counts them', () => {
    assert.deepEqual(verify([...chain(3), ...chain(2)]), { ok: true, chains: 2, events: 5 });
  });

  it('finds an edited event', () => {
    const events = chain(4);
    events[2] = { ...events[2], purpose: 'edited afterwards' };
    assert.deepEqual(verify(events), { ok: false, problem: 'content-hash-mismatch', seq: 3 });
  });

  it('finds a removed event, and an event re-hashed after an edit', () => {
    const events = chain(4);
    assert.deepEqual(verify([events[0], events[1], events[3]]), { ok: false, problem: 'sequence-gap', seq: 4 });

    const forged = { ...events[1], purpose: 'forged' };
    const rehashed = [events[0], { ...forged, hash: eventHash(forged) }, events[2]];
    assert.deepEqual(verify(rehashed), { ok: false, problem: 'previous-hash-mismatch', seq: 3 });
  });

  it('accepts a chain that starts where a purge recorded an anchor, and no other cut', () => {
    const events = chain(5);
    const kept = events.slice(2);
    const anchor = { chainId: events[0].chainId, resumesAtSeq: 3, prevHash: events[1].hash };
    assert.deepEqual(verify(kept, [anchor]), { ok: true, chains: 1, events: 3 });
    assert.deepEqual(verify(kept), { ok: false, problem: 'unanchored-start', seq: 3 });
    assert.deepEqual(verify(events.slice(3), [anchor]), { ok: false, problem: 'unanchored-start', seq: 4 });
  });

  describe('from checkpoints', () => {
    const checkpointOf = (event: SealedAuditEvent): ChainCheckpoint => ({
      chainId: event.chainId,
      seq: event.seq,
      eventId: event.id,
      hash: event.hash,
    });

    /** Walks each chain as the service does: from startSeq, then endChain; what was checked and the checkpoints left. */
    function walk(chains: SealedAuditEvent[][], mode: VerifyMode, checkpoints: ChainCheckpoint[], anchors: ChainAnchor[] = []) {
      const verifier = new ChainVerifier(anchors, checkpoints, mode);
      for (const events of chains) {
        const chainId = events[0].chainId;
        const start = verifier.startSeq(chainId);
        for (const event of events.filter((e) => e.seq >= start)) {
          const broken = verifier.accept(event);
          if (broken) return { ok: false, problem: broken.problem, seq: broken.seq };
        }
        const broken = verifier.endChain(chainId);
        if (broken) return { ok: false, problem: broken.problem, seq: broken.seq };
      }
      return { ok: true, events: verifier.events, checkpointed: verifier.checkpointed, heads: verifier.heads.map((h) => h.seq) };
    }

    it('walks only the events after each checkpoint, and leaves the last event of each chain as the next checkpoint', () => {
      const [a, b] = [chain(6), chain(3)];
      assert.deepEqual(walk([a, b], 'incremental', [checkpointOf(a[3])]), { ok: true, events: 5, checkpointed: 4, heads: [6, 3] });
      assert.deepEqual(walk([a, b], 'full', [checkpointOf(a[3])]), { ok: true, events: 9, checkpointed: 0, heads: [6, 3] });
    });

    it('finds an edit after the checkpoint, and an edit of the checkpointed event itself', () => {
      const events = chain(6);
      const checkpoint = checkpointOf(events[2]);
      const editedLater = events.map((e, i) => (i === 4 ? { ...e, purpose: 'edited' } : e));
      assert.deepEqual(walk([editedLater], 'incremental', [checkpoint]), { ok: false, problem: 'content-hash-mismatch', seq: 5 });
      const editedCheckpoint = events.map((e, i) => (i === 2 ? { ...e, purpose: 'edited' } : e));
      assert.deepEqual(walk([editedCheckpoint], 'incremental', [checkpoint]), { ok: false, problem: 'content-hash-mismatch', seq: 3 });
      const rehashed = events.map((e, i) => (i === 2 ? { ...e, purpose: 'edited', hash: eventHash({ ...e, purpose: 'edited' }) } : e));
      assert.deepEqual(walk([rehashed], 'incremental', [checkpoint]), { ok: false, problem: 'checkpoint-mismatch', seq: 3 });
      assert.deepEqual(walk([rehashed], 'full', [checkpoint]), { ok: false, problem: 'checkpoint-mismatch', seq: 3 });
    });

    it('misses an edit before the checkpoint unless the walk is full', () => {
      const events = chain(6);
      const edited = events.map((e, i) => (i === 1 ? { ...e, purpose: 'edited' } : e));
      assert.deepEqual(walk([edited], 'incremental', [checkpointOf(events[3])]), { ok: true, events: 2, checkpointed: 4, heads: [6] });
      assert.deepEqual(walk([edited], 'full', [checkpointOf(events[3])]), { ok: false, problem: 'content-hash-mismatch', seq: 2 });
    });

    it('finds the checkpointed event removed, and a chain cut short before its checkpoint', () => {
      const events = chain(6);
      const checkpoint = checkpointOf(events[3]);
      const withoutIt = events.filter((e) => e.seq !== 4);
      assert.deepEqual(walk([withoutIt], 'incremental', [checkpoint]), { ok: false, problem: 'checkpoint-mismatch', seq: 4 });
      assert.deepEqual(walk([events.slice(0, 3)], 'incremental', [checkpoint]), { ok: false, problem: 'checkpoint-mismatch', seq: 4 });
      assert.deepEqual(walk([events.slice(0, 3)], 'full', [checkpoint]), { ok: false, problem: 'checkpoint-mismatch', seq: 4 });
    });

    it('starts at the purge anchor when a retention purge cut the chain past its checkpoint', () => {
      const events = chain(8);
      const anchor = { chainId: events[0].chainId, resumesAtSeq: 6, prevHash: events[4].hash };
      const kept = events.slice(5);
      assert.deepEqual(walk([kept], 'incremental', [checkpointOf(events[2])], [anchor]), {
        ok: true,
        events: 3,
        checkpointed: 0,
        heads: [8],
      });
      // A checkpoint after the cut: the events from the anchor through it count as checkpointed.
      assert.deepEqual(walk([kept], 'incremental', [checkpointOf(events[6])], [anchor]), {
        ok: true,
        events: 1,
        checkpointed: 2,
        heads: [8],
      });
    });
  });
});
