import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AuditActor } from '../audit/audit-chain';
import { AuditWriter } from '../audit/audit-writer.service';
import { KEY_PROVIDER, KeyProvider } from '../key-provider/key-provider';
import { MetricsService } from '../metrics/metrics.service';
import { KmsMigration, KmsMigrationRepository, RemainingCounts } from '../repositories/kms-migration.repository';
import { errorName, KmsMigrationWorker } from './kms-migration.worker';

/** What `GET /admin/kms-migration` answers: the latest migration and what is left under old keys. */
export interface KmsMigrationStatus {
  /** The key new seals go under, as this replica resolves KMS_KEY_ID (an ARN, or `local:<fingerprint>`). */
  currentKeyId: string;
  migration: KmsMigration | null;
  remaining: RemainingCounts;
  /** True when nothing is sealed under another key: the old keys may be disabled (docs/operations.md). */
  complete: boolean;
}

/**
 * The operator's side of the online KMS key migration (docs/operations.md): start one (the route
 * and the operator command) and read its status. The work itself is KmsMigrationWorker's, on
 * every replica.
 */
@Injectable()
export class KmsMigrationService {
  private readonly logger = new Logger('KmsMigration');

  constructor(
    private readonly migrations: KmsMigrationRepository,
    @Inject(KEY_PROVIDER) private readonly keyProvider: KeyProvider,
    private readonly audit: AuditWriter,
    private readonly metrics: MetricsService,
    private readonly worker: KmsMigrationWorker,
  ) {}

  /** The key a migration started now would go to (KMS_KEY_ID as this replica resolves it): what an approval names. */
  targetKeyId(): Promise<string> {
    return this.keyProvider.currentKeyId();
  }

  /** Starts (or returns the running) migration to the current key. */
  async start(startedBy: string | null): Promise<KmsMigrationStatus & { started: boolean }> {
    const target = await this.keyProvider.currentKeyId();
    const { migration, started, superseded } = await this.migrations.start(target, startedBy);
    if (superseded)
      this.logger.warn(
        `KMS key migration ${superseded.id} to ${superseded.targetKeyId} superseded by migration ${migration.id} to ${target}`,
      );
    if (started) this.logger.log(`KMS key migration ${migration.id} started: every sealed key is being re-sealed under ${target}`);
    this.worker.wake();
    return { ...(await this.status()), started };
  }

  /**
   * start() for a caller outside HTTP (the operator command, src/cli/kms-migration.ts), recorded
   * in the audit trail as the route's start is: `started` before, `success` with the counts after.
   */
  async startAs(actor: AuditActor): Promise<KmsMigrationStatus & { started: boolean }> {
    await this.audit.append({ action: 'kms-migration.start', outcome: 'started', actor });
    let result: KmsMigrationStatus & { started: boolean };
    try {
      result = await this.start(actor.sub);
    } catch (error) {
      await this.audit.append({ action: 'kms-migration.start', outcome: 'failure', actor, details: { error: errorName(error) } });
      throw error;
    }
    await this.audit.append({
      action: 'kms-migration.start',
      outcome: 'success',
      actor,
      details: {
        migrationId: result.migration?.id,
        targetKeyId: result.currentKeyId,
        resealed: result.migration?.resealed,
        remaining: result.remaining.total,
        started: result.started,
      },
    });
    return result;
  }

  async status(): Promise<KmsMigrationStatus> {
    const currentKeyId = await this.keyProvider.currentKeyId();
    const [migration, remaining] = await Promise.all([this.migrations.latestOnPrimary(), this.migrations.remainingOnPrimary(currentKeyId)]);
    if (migration) this.metrics.setMigrationRemaining(remaining.total);
    return { currentKeyId, migration, remaining, complete: remaining.total === 0 };
  }
}
