import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { AuditWriter, SYSTEM_ACTOR } from '../audit/audit-writer.service';
import { AppConfig } from '../config/app-config';
import { StartupGate } from '../health/startup-gate.service';
import { KeysService } from '../keys/keys.service';
import { MetricsService } from '../metrics/metrics.service';
import { RotationRepository } from '../repositories/rotation.repository';

const JOB_NAME = 'key-rotation';
const DAY_MS = 86_400_000;
/** Progress is logged every batch; one run stops after MAX_PER_RUN keys and continues next time. */
const BATCH_SIZE = 50;
const MAX_PER_RUN = 10_000;

/**
 * The scheduled job (ROTATION_CRON, UTC): rotates every active key older than
 * ROTATION_MAX_AGE_DAYS with reason `scheduled`, then purges history older than
 * HISTORY_RETENTION_DAYS (and the expired /rotate answers kept for retries). Safe on any number of replicas at once: keys are claimed with
 * `FOR UPDATE SKIP LOCKED`, and a key rotated in this run is newer than the run's cutoff.
 * It only creates new versions; callers re-encrypt stored data with /rewrap when they like.
 */
@Injectable()
export class RotationScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger('RotationJob');

  constructor(
    private readonly config: AppConfig,
    private readonly keys: KeysService,
    private readonly rotations: RotationRepository,
    private readonly registry: SchedulerRegistry,
    private readonly audit: AuditWriter,
    private readonly metrics: MetricsService,
    private readonly startup: StartupGate,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.rotation.enabled) return;
    const job = CronJob.from({
      cronTime: this.config.rotation.cron,
      onTick: async () => {
        // A new version of a key a restore brought back would hide it from the shred-log replay.
        if (!this.startup.isOpen)
          return this.logger.warn('Scheduled rotation skipped: the service has not finished starting (shred log replay)');
        await this.run();
      },
      timeZone: 'UTC',
      waitForCompletion: true,
      start: true,
    });
    this.registry.addCronJob(JOB_NAME, job);
  }

  /** One run of the job; never throws (a failed run is logged and retried at the next tick). */
  async run(): Promise<{ rotated: number; purged: number }> {
    try {
      const startedAt = await this.rotations.databaseNowOnPrimary();
      const cutoff = new Date(startedAt.getTime() - this.config.rotation.maxAgeDays * DAY_MS);
      // No rotation runs unless the audit trail has recorded that the run started.
      await this.audit.append({
        action: 'rotation.scheduled',
        outcome: 'started',
        actor: SYSTEM_ACTOR,
        details: { dueBefore: cutoff.toISOString() },
      });
      const rotated = await this.rotateDueKeys(cutoff);
      const purged = await this.rotations.purgeHistory(new Date(startedAt.getTime() - this.config.rotation.historyRetentionDays * DAY_MS));
      // /rotate answers kept for retries (ROTATION_REPLAY_HOURS) whose time is up.
      await this.rotations.purgeExpiredResults();
      if (purged.length) {
        this.logger.log(
          `Purged ${purged.length} retired key version(s) past retention: ${purged.map((p) => `user ${p.userId} v${p.keyVersion}`).join(', ')}`,
        );
      }
      if (rotated || purged.length) this.logger.log(`Rotation run done: ${rotated} key(s) rotated, ${purged.length} version(s) purged`);
      this.metrics.countRotationRun('success');
      return { rotated, purged: purged.length };
    } catch (error) {
      this.metrics.countRotationRun('failure');
      this.logger.error(`Rotation run failed: ${(error as Error).name}; it will be retried at the next tick`);
      return { rotated: 0, purged: 0 };
    }
  }

  private async rotateDueKeys(cutoff: Date): Promise<number> {
    let rotated = 0;
    while (rotated < MAX_PER_RUN) {
      const next = await this.keys.rotateNextDueKey(cutoff);
      if (!next) break;
      rotated++;
      this.metrics.countKeysRotated('scheduled');
      await this.audit.append({
        action: 'rotation.scheduled',
        outcome: 'success',
        actor: SYSTEM_ACTOR,
        userId: next.userId,
        keyVersions: [next.keyVersion - 1, next.keyVersion],
        details: { reason: 'scheduled' },
      });
      if (rotated % BATCH_SIZE === 0) this.logger.log(`Scheduled rotation in progress: ${rotated} key(s) rotated`);
    }
    return rotated;
  }
}
