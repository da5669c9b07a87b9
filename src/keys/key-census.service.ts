import { Injectable, OnModuleInit } from '@nestjs/common';
import { KEY_CENSUS_MAX_AGE_MS } from '../common/limits';
import { SingleFlight } from '../common/single-flight';
import { KEY_ALGORITHMS, KeyAlgorithm } from '../envelope/ciphertexts';
import { MetricsService } from '../metrics/metrics.service';
import { UserKeyRepository } from '../repositories/user-key.repository';

/** How many people's current keys are of each algorithm. */
export type KeysByAlgorithm = Record<KeyAlgorithm, number>;

/** A count and when it was made. */
export interface KeyCount {
  counts: KeysByAlgorithm;
  countedAt: Date;
}

/**
 * How far the move to X-Wing has come: people's current keys by algorithm, for the
 * pii_api_current_keys_by_algorithm gauge and GET /admin/key-census (docs/operations.md 2.6). One
 * grouped count on a replica, at most once per KEY_CENSUS_MAX_AGE_MS per process, when either asks;
 * concurrent asks share one count.
 */
@Injectable()
export class KeyCensus implements OnModuleInit {
  private last?: KeyCount;
  private readonly counting = new SingleFlight<KeyCount>();

  constructor(
    private readonly keys: UserKeyRepository,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.metrics.countCurrentKeysWith(async () => (await this.currentKeys()).counts);
  }

  /** Current keys per algorithm (every algorithm present, 0 when none), counted at most KEY_CENSUS_MAX_AGE_MS ago. */
  async currentKeys(): Promise<KeyCount> {
    if (this.last && Date.now() - this.last.countedAt.getTime() < KEY_CENSUS_MAX_AGE_MS) return this.last;
    return this.counting.run('census', () => this.count());
  }

  private async count(): Promise<KeyCount> {
    const found = await this.keys.currentKeysByAlgorithm({ from: 'replica' });
    const counts = Object.fromEntries(KEY_ALGORITHMS.map((algorithm) => [algorithm, found.get(algorithm) ?? 0])) as KeysByAlgorithm;
    this.last = { counts, countedAt: new Date() };
    return this.last;
  }
}
