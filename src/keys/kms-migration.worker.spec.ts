import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KMS_MIGRATION_BACKOFF_MAX_MS, KMS_MIGRATION_POLL_MS } from '../common/limits';
import { backoffMs } from './kms-migration.worker';

describe('KMS key migration back-off', () => {
  it('waits the poll interval after one failed batch, then twice as long after each further failure in a row', () => {
    const middle = () => 0.5;
    assert.equal(backoffMs(1, middle), KMS_MIGRATION_POLL_MS);
    assert.equal(backoffMs(2, middle), 2 * KMS_MIGRATION_POLL_MS);
    assert.equal(backoffMs(3, middle), 4 * KMS_MIGRATION_POLL_MS);
  });

  it('never waits longer than the cap, however many batches failed', () => {
    for (const failures of [5, 10, 100]) assert.ok(backoffMs(failures, () => 0.999) <= KMS_MIGRATION_BACKOFF_MAX_MS);
    assert.equal(
      backoffMs(100, () => 0.5),
      KMS_MIGRATION_BACKOFF_MAX_MS,
    );
  });

  it('spreads replicas apart by up to a quarter either way', () => {
    assert.equal(
      backoffMs(1, () => 0),
      0.75 * KMS_MIGRATION_POLL_MS,
    );
    assert.equal(
      backoffMs(1, () => 1),
      1.25 * KMS_MIGRATION_POLL_MS,
    );
  });
});
