import { Injectable, OnModuleInit } from '@nestjs/common';
import { KEY_CENSUS_MAX_AGE_MS } from '../common/limits';
import { KEY_ALGORITHMS, KeyAlgorithm } from '../envelope/ciphertexts';
import { MetricsService } from '../metrics/metrics.service';
import { UserKeyRepository } from '../repositories/user-key.repository';

/** How many people's current keys are of each algorithm. */
export type KeysByAlgorithm = Record<KeyAlgorithm, number>;

/**
 * How far the move to X-Wing has come: people's current keys by algorithm, for the
 * pii_api_current_keys_by_algorithm gauge (docs/operations.md 2.6). One grouped count on a
 * replica, at most once per KEY_CENSUS_MAX_AGE_MS per process, whenever /metrics is scraped;
 * concurrent scrapes share one count.
 */
@Injectable()
export class KeyCensus implements OnModuleInit {
  private last?: { at: number; counts: KeysByAlgorithm };
  private counting?: Promise<KeysByAlgorithm>;

  constructor(
    private readonly keys: UserKeyRepository,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.metrics.countCurrentKeysWith(() => this.currentKeysByAlgorithm());
  }

  /** Current keys per algorithm (every algorithm present, 0 when none), at most KEY_CENSUS_MAX_AGE_MS old. */
  async currentKeysByAlgorithm(): Promise<KeysByAlgorithm> {
    if (this.last && Date.now() - this.last.at < KEY_CENSUS_MAX_AGE_MS) return this.last.counts;
    this.counting ??= this.count().finally(() => (this.counting = undefined));
    return this.counting;
  }

  private async count(): Promise<KeysByAlgorithm> {
    const found = await this.keys.currentKeysByAlgorithm({ from: 'replica' });
    const counts = Object.fromEntries(KEY_ALGORITHMS.map((algorithm) => [algorithm, found.get(algorithm) ?? 0])) as KeysByAlgorithm;
    this.last = { at: Date.now(), counts };
    return counts;
  }
}
