import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { AuditWriter, SYSTEM_ACTOR } from '../audit/audit-writer.service';
import { sameMultiRegionKey } from '../common/kms-key-ids';
import {
  KMS_MIGRATION_BACKOFF_MAX_MS,
  KMS_MIGRATION_BATCH_MAX,
  KMS_MIGRATION_POLL_MS,
  KMS_MIGRATION_UNSEALABLE_RETRY_MS,
} from '../common/limits';
import { failpoint } from '../common/failpoints';
import { blindIndexSecret } from '../common/sealed-secrets';
import { AppConfig } from '../config/app-config';
import { KEY_PROVIDER, KeyProvider, SealContext, UnsealFailedError } from '../key-provider/key-provider';
import { MetricsService } from '../metrics/metrics.service';
import {
  ClaimedSealedKey,
  KmsMigration,
  KmsMigrationRepository,
  RemainingCounts,
  SealedSubject,
} from '../repositories/kms-migration.repository';
import { sealContext as receiptSigningContext } from './receipt-signer.service';

/**
 * Whether this process works on a running migration (every replica does). False for the
 * operator command's `--status`, which only reads.
 */
export const KMS_MIGRATION_WORKS = Symbol('KMS_MIGRATION_WORKS');

/** The wait after the `failures`-th failed batch in a row: doubling from the poll interval, ±25 %, at most the cap. */
export const backoffMs = (failures: number, random = Math.random): number =>
  Math.round(Math.min(KMS_MIGRATION_POLL_MS * 2 ** (failures - 1) * (0.75 + random() * 0.5), KMS_MIGRATION_BACKOFF_MAX_MS));

/** An error's name and its cause's (SYS002 wraps the KMS error): never a message that could quote data. */
export const errorName = (error: unknown): string => {
  const name = (error as Error)?.name ?? String(error);
  const cause = ((error as Error)?.cause as Error | undefined)?.name;
  return cause ? `${name}: ${cause}` : name;
};

const contextOf = (subject: SealedSubject): SealContext => {
  switch (subject.kind) {
    case 'user-key':
      return { userId: subject.userId, keyVersion: subject.keyVersion };
    case 'blind-index-key':
      return { secret: blindIndexSecret(subject.indexName), keyVersion: subject.keyVersion };
    case 'receipt-signing-key':
      return receiptSigningContext(subject.kid);
  }
};

/**
 * The online KMS key migration's job (docs/operations.md): re-seals every sealed key (users' keys,
 * current and retired, blind-index keys, receipt-signing keys) under the current key (KMS_KEY_ID,
 * or the local master key), through the provider's `reseal` (KMS ReEncrypt: the private key
 * never reaches this process), encryption context unchanged. Every replica whose current key is
 * the migration's target works on it: rows are claimed with SKIP LOCKED, so each is re-sealed once;
 * each replica re-seals at most KMS_MIGRATION_RATE_PER_SECOND. A replica restarted mid-way
 * finds the running migration in the database and carries on.
 *
 * A sealed key that does not unseal here (under a key not listed in KMS_PREVIOUS_KEY_IDS, or
 * damaged) is left as it is, counted in `pii_api_kms_migration_unsealable`, and tried again every
 * KMS_MIGRATION_UNSEALABLE_RETRY_MS: the migration finishes only when nothing is left under an old
 * key, so a fixed setting (the forgotten key listed) completes it without a new start.
 */
@Injectable()
export class KmsMigrationWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('KmsMigration');
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  /** Rows this process could not unseal, with when to try each again. */
  private readonly unsealable = new Map<string, number>();
  private wakeUp?: () => void;

  constructor(
    private readonly migrations: KmsMigrationRepository,
    @Inject(KEY_PROVIDER) private readonly keyProvider: KeyProvider,
    private readonly audit: AuditWriter,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
    @Optional() @Inject(KMS_MIGRATION_WORKS) private readonly works: boolean = true,
  ) {}

  onApplicationBootstrap(): void {
    if (this.works) this.loop = this.run();
  }

  /** Before the database closes: the batch in flight commits (or rolls back) and its events are written. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    this.wakeUp?.();
    await this.loop;
  }

  /** Sealed keys this process found it cannot unseal, waiting for their next try. */
  unsealableCount(): number {
    return this.unsealable.size;
  }

  /** Ends the current wait: a migration was just started. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Until shutdown: waits for a running migration to this replica's key and works on it. */
  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        const migration = await this.migrations.runningOnPrimary();
        const target = migration && (await this.keyProvider.currentKeyId());
        // A multi-region key's replica in this region is the same key (docs/operations.md §3.4).
        if (migration && target && (migration.targetKeyId === target || sameMultiRegionKey(migration.targetKeyId, target))) {
          await this.work(migration);
          continue;
        }
        if (migration)
          this.logger.warn(
            `KMS key migration ${migration.id} targets ${migration.targetKeyId}, not this replica's key ${target}: not taking part`,
          );
      } catch (error) {
        this.logger.warn(`KMS key migration batch failed (${(error as Error).name}); retrying in ${KMS_MIGRATION_POLL_MS} ms`);
      }
      await this.idle();
    }
  }

  /** Batches until the migration is finished (here or by another replica), or shutdown. */
  private async work(migration: KmsMigration): Promise<void> {
    const rate = this.config.keys.migrationRatePerSecond;
    const batchSize = Math.min(rate, KMS_MIGRATION_BATCH_MAX);
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      const began = performance.now();
      const { resealed, failure } = await this.migrations.resealBatch(
        migration.id,
        migration.targetKeyId,
        batchSize,
        this.skipped(),
        (claimed) => this.reseal(claimed),
      );
      if (resealed) this.metrics.countKeysResealed(resealed);
      if (resealed) failpoint('kms-migration.after-commit');
      if (failure !== undefined) {
        // Throttled (after the KMS policy's own retries) or KMS unavailable: what was re-sealed
        // before the failure is committed; wait longer after each failure in a row.
        const wait = backoffMs(++failures);
        this.metrics.countMigrationBackoff();
        this.logger.warn(
          `KMS key migration ${migration.id}: batch stopped by ${errorName(failure)} after ${resealed} re-sealed key(s); next batch in ${wait} ms`,
        );
        await this.idle(wait);
        continue;
      }
      failures = 0;
      // Paced: a batch of n keys takes at least n / rate seconds.
      const pause = (resealed * 1000) / rate - (performance.now() - began);
      if (resealed && pause > 0) await this.idle(pause);
      if (resealed) continue;
      // Nothing claimable: either done, or the rest is locked by other replicas, or does not unseal here.
      const remaining = await this.migrations.remainingOnPrimary(migration.targetKeyId);
      this.metrics.setMigrationRemaining(remaining.total);
      this.metrics.setMigrationUnsealable(remaining.total === 0 ? 0 : this.unsealable.size);
      if (remaining.total === 0) {
        const finished = await this.migrations.finish(migration.id);
        if (finished) await this.finished(finished, remaining);
        return;
      }
      const stillRunning = await this.migrations.runningOnPrimary();
      if (stillRunning?.id !== migration.id) return;
      await this.idle(this.untilNextRetry());
    }
  }

  private async reseal({ ref, subject, sealed }: ClaimedSealedKey) {
    try {
      const resealed = await this.keyProvider.reseal(sealed, contextOf(subject));
      failpoint('kms-migration.after-reseal');
      return { ciphertext: resealed.ciphertext, keyId: resealed.keyId };
    } catch (error) {
      if (!(error instanceof UnsealFailedError)) throw error;
      this.unsealable.set(ref, Date.now() + KMS_MIGRATION_UNSEALABLE_RETRY_MS);
      this.logger.error(
        `KMS key migration: ${ref} does not unseal (${error.message}); left under its key, tried again in ${KMS_MIGRATION_UNSEALABLE_RETRY_MS / 1000} s`,
      );
      return null;
    }
  }

  /** The rows not to claim now: those that did not unseal, until their retry time. */
  private skipped(): string[] {
    const now = Date.now();
    for (const [ref, retryAt] of this.unsealable) if (retryAt <= now) this.unsealable.delete(ref);
    return [...this.unsealable.keys()];
  }

  /** The poll interval, or longer while only rows that did not unseal are left: until the first is due again. */
  private untilNextRetry(): number {
    const next = Math.min(...this.unsealable.values());
    return Number.isFinite(next) ? Math.max(KMS_MIGRATION_POLL_MS, next - Date.now()) : KMS_MIGRATION_POLL_MS;
  }

  private async finished(migration: KmsMigration, remaining: RemainingCounts): Promise<void> {
    this.metrics.setMigrationRemaining(remaining.total);
    await this.audit.append({
      action: 'kms-migration.finish',
      outcome: 'success',
      actor: SYSTEM_ACTOR,
      details: { migrationId: migration.id, targetKeyId: migration.targetKeyId, resealed: migration.resealed, unsealable: remaining.total },
    });
    this.logger.log(
      `KMS key migration ${migration.id} done: ${migration.resealed} sealed key(s) re-sealed, none left under an old key; the old keys may now be disabled (docs/operations.md)`,
    );
  }

  /** Sleeps `ms` (default: the poll interval), cut short by start() or shutdown. */
  private async idle(ms = KMS_MIGRATION_POLL_MS): Promise<void> {
    if (this.stopping.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
    this.wakeUp = undefined;
  }
}
