import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChainCheckpoint } from './audit-chain';
import { ANCHOR_LAG_DIGESTS, CheckpointDigest, compareWithAnchors, digestId, nextDigest } from './checkpoint-anchor';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';
const hash = (n: number) => n.toString(16).padStart(64, '0');
const eventId = (n: number) => `00000000-0000-4000-9000-${String(n).padStart(12, '0')}`;
const link = (chainId: string, seq: number): ChainCheckpoint => ({ chainId, seq, eventId: eventId(seq), hash: hash(seq) });
const at = new Date('2026-12-01T10:00:00.000Z');

/** Digests 1…n, digest i holding `contents[i - 1]`. */
function store(...contents: ChainCheckpoint[][]): CheckpointDigest[] {
  return contents.map((checkpoints, index) => ({
    typ: 'audit-checkpoints',
    number: index + 1,
    previous: null,
    issuedAt: at.toISOString(),
    checkpoints: checkpoints.map((c) => ({ ...c, verifiedAt: at.toISOString() })),
  }));
}
const compare = (
  database: ChainCheckpoint[],
  digests: CheckpointDigest[],
  purge = [] as { chainId: string; resumesAtSeq: number; prevHash: string }[],
) => compareWithAnchors(database, digests.at(-1), async (n) => digests[n - 1], purge);
const problemOf = async (result: Promise<unknown>) => {
  const broken = (await result) as { chainId: string; seq: number; problem: string } | undefined;
  return broken && { chainId: broken.chainId, seq: broken.seq, problem: broken.problem };
};

describe('the next checkpoint digest', () => {
  it('starts at number 1 with no previous, and moves each chain forward only', () => {
    const first = nextDigest(undefined, [link(B, 4), link(A, 7)], at)!;
    assert.equal(first.number, 1);
    assert.equal(first.previous, null);
    assert.deepEqual(
      first.checkpoints.map((c) => [c.chainId, c.seq]),
      [
        [A, 7],
        [B, 4],
      ],
    );
    const second = nextDigest({ digest: first, jws: 'x.y.z' }, [link(A, 5), link(B, 9)], at)!;
    assert.equal(second.number, 2);
    assert.equal(second.previous, digestId('x.y.z'));
    assert.deepEqual(
      second.checkpoints.map((c) => [c.chainId, c.seq]),
      [
        [A, 7],
        [B, 9],
      ],
    );
  });

  it('is not written when no checkpoint moves', () => {
    const first = nextDigest(undefined, [link(A, 7)], at)!;
    assert.equal(nextDigest({ digest: first, jws: 'x.y.z' }, [link(A, 7), link(A, 3)], at), undefined);
  });
});

describe('comparing the database’s checkpoints with the anchored ones', () => {
  it('accepts the database’s checkpoints as they are before the first digest', async () => {
    assert.equal(await compare([link(A, 3)], []), undefined);
  });

  it('accepts checkpoints equal to the newest digest’s, or to an earlier one’s (a verification between its digest and its database write)', async () => {
    const digests = store([link(A, 3)], [link(A, 5), link(B, 2)]);
    assert.equal(await compare([link(A, 5), link(B, 2)], digests), undefined);
    assert.equal(await compare([link(A, 3)], digests), undefined, 'B new in the newest digest, A one behind');
  });

  it('reports a checkpoint the database holds beyond any anchored one, or for a chain never anchored', async () => {
    const digests = store([link(A, 5)]);
    assert.deepEqual(await problemOf(compare([link(A, 6)], digests)), { chainId: A, seq: 6, problem: 'checkpoint-not-anchored' });
    assert.deepEqual(await problemOf(compare([link(A, 5), link(B, 1)], digests)), {
      chainId: B,
      seq: 1,
      problem: 'checkpoint-not-anchored',
    });
  });

  it('reports a checkpoint edited in the database, or deleted from it', async () => {
    const digests = store([link(A, 5)], [link(A, 8)]);
    assert.deepEqual(await problemOf(compare([{ ...link(A, 8), hash: hash(99) }], digests)), {
      chainId: A,
      seq: 8,
      problem: 'checkpoint-anchor-mismatch',
    });
    assert.deepEqual(await problemOf(compare([], digests)), { chainId: A, seq: 8, problem: 'checkpoint-anchor-mismatch' });
  });

  it('reports a checkpoint moved back further than the digests a verification may lag behind', async () => {
    const digests = store(...Array.from({ length: ANCHOR_LAG_DIGESTS + 2 }, (_, i) => [link(A, i + 1)]));
    assert.equal(await compare([link(A, 2)], digests), undefined);
    assert.deepEqual(await problemOf(compare([link(A, 1)], digests)), { chainId: A, seq: 1, problem: 'checkpoint-anchor-mismatch' });
  });

  it('leaves out a chain a retention purge cut past its checkpoint', async () => {
    const digests = store([link(A, 5)]);
    assert.equal(await compare([], digests, [{ chainId: A, resumesAtSeq: 6, prevHash: hash(5) }]), undefined);
  });
});
