import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectionProbability, sampleLinks } from './verify-sample';

/** A deterministic stand-in for the CSPRNG: mulberry32, seeded. */
function seeded(seed: number) {
  let state = seed >>> 0;
  return (max: number) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * max);
  };
}

describe('the random sample of checkpointed links', () => {
  const ranges = [
    { chainId: 'a', from: 1, to: 10 },
    { chainId: 'b', from: 5, to: 7 },
    { chainId: 'c', from: 100, to: 104 },
  ];

  it('takes every link, in order, when the sample is as large as the checkpointed links or larger', () => {
    assert.deepEqual(sampleLinks(ranges, 18), [
      { chainId: 'a', seqs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
      { chainId: 'b', seqs: [5, 6, 7] },
      { chainId: 'c', seqs: [100, 101, 102, 103, 104] },
    ]);
    assert.deepEqual(sampleLinks(ranges, 1_000_000), sampleLinks(ranges, 18));
  });

  it('takes nothing with a sample size of 0 or no checkpointed link', () => {
    assert.deepEqual(sampleLinks(ranges, 0), []);
    assert.deepEqual(sampleLinks([], 10), []);
  });

  it('picks exactly the asked number of distinct links, each inside its chain’s checkpointed range', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const sample = sampleLinks(ranges, 7, seeded(seed));
      const picked = sample.flatMap(({ chainId, seqs }) => seqs.map((seq) => `${chainId}/${seq}`));
      assert.equal(picked.length, 7);
      assert.equal(new Set(picked).size, 7);
      for (const { chainId, seqs } of sample) {
        const range = ranges.find((r) => r.chainId === chainId)!;
        assert.ok(seqs.every((seq) => seq >= range.from && seq <= range.to));
        assert.deepEqual(
          seqs,
          [...seqs].sort((x, y) => x - y),
        );
      }
    }
  });

  it('gives every link about the same chance of being picked', () => {
    const counts = new Map<string, number>();
    const random = seeded(7);
    for (let round = 0; round < 6000; round++) {
      for (const { chainId, seqs } of sampleLinks(ranges, 3, random))
        for (const seq of seqs) counts.set(`${chainId}/${seq}`, (counts.get(`${chainId}/${seq}`) ?? 0) + 1);
    }
    // 18 links, 3 a round: each expected 1000 times.
    assert.equal(counts.size, 18);
    for (const [link, count] of counts) assert.ok(count > 850 && count < 1150, `${link} picked ${count} times`);
  });
});

describe('the probability that a sample finds an edit', () => {
  it('is 1 − C(N−k, s)/C(N, s): exact on small numbers', () => {
    // N = 10, k = 2, s = 3: 1 − C(8,3)/C(10,3) = 1 − 56/120.
    assert.ok(Math.abs(detectionProbability(10, 2, 3) - (1 - 56 / 120)) < 1e-12);
    assert.equal(detectionProbability(10, 0, 3), 0);
    assert.equal(detectionProbability(10, 2, 0), 0);
    assert.equal(detectionProbability(10, 2, 9), 1);
  });

  it('matches the worked example of docs/audit.md', () => {
    // 10 million checkpointed events, 1,000 a verification: one edit 0.01 %, 1,000 edits ≈ 9.5 %, 10,000 edits ≈ 63 %.
    assert.ok(Math.abs(detectionProbability(10_000_000, 1, 1000) - 0.0001) < 1e-9);
    assert.ok(Math.abs(detectionProbability(10_000_000, 1000, 1000) - 0.0952) < 0.0005);
    assert.ok(Math.abs(detectionProbability(10_000_000, 10_000, 1000) - 0.6323) < 0.0005);
  });
});
