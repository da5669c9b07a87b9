import { randomInt } from 'node:crypto';

/** The checkpointed seqs of one chain that an incremental verification did not walk again: from ≤ seq ≤ to. */
export interface SampleRange {
  chainId: string;
  from: number;
  to: number;
}

/** Seqs picked in one chain, ascending. */
export interface ChainSample {
  chainId: string;
  seqs: number[];
}

/**
 * Picks `size` distinct links uniformly at random among all the links of `ranges` (all of them
 * when there are no more than `size`), grouped by chain in the order of `ranges`. Robert
 * Floyd's algorithm: `size` draws whatever the number of links. `random(max)` is a uniform
 * integer in [0, max): by default node's CSPRNG, so that no one can tell beforehand which links
 * a verification will look at.
 */
export function sampleLinks(ranges: readonly SampleRange[], size: number, random: (max: number) => number = randomInt): ChainSample[] {
  const total = ranges.reduce((sum, range) => sum + Math.max(0, range.to - range.from + 1), 0);
  if (size <= 0 || total === 0) return [];
  let picked: number[];
  if (size >= total) {
    picked = Array.from({ length: total }, (_, index) => index);
  } else {
    const chosen = new Set<number>();
    for (let bound = total - size; bound < total; bound++) {
      const draw = random(bound + 1);
      chosen.add(chosen.has(draw) ? bound : draw);
    }
    picked = [...chosen].sort((a, b) => a - b);
  }
  const samples: ChainSample[] = [];
  let offset = 0;
  let next = 0;
  for (const range of ranges) {
    const length = Math.max(0, range.to - range.from + 1);
    const seqs: number[] = [];
    while (next < picked.length && picked[next] < offset + length) seqs.push(range.from + picked[next++] - offset);
    if (seqs.length) samples.push({ chainId: range.chainId, seqs });
    offset += length;
  }
  return samples;
}

/**
 * The probability that a sample of `size` links, drawn without replacement among `population`
 * checkpointed links, includes at least one of `edited` links: 1 − C(N−k, s) / C(N, s), i.e.
 * 1 − ∏_{i<s} (N−k−i)/(N−i) (docs/audit.md, "Anchored checkpoints").
 */
export function detectionProbability(population: number, edited: number, size: number): number {
  if (edited <= 0 || size <= 0 || population <= 0) return 0;
  if (size > population - edited) return 1;
  let missAll = 1;
  for (let i = 0; i < size; i++) missAll *= (population - edited - i) / (population - i);
  return 1 - missAll;
}
