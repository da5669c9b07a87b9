import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { AppConfig } from '../config/app-config';
import { AUDIT_RETENTION_JOB, AuditRetention } from './audit-retention.service';

/**
 * Runs the retention purge on AUDIT_RETENTION_CRON (UTC; default 04:30 daily), in every replica:
 * the purge itself makes sure only one replica purges at a time.
 */
@Injectable()
export class AuditRetentionScheduler implements OnApplicationBootstrap {
  constructor(
    private readonly config: AppConfig,
    private readonly retention: AuditRetention,
    private readonly registry: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    const job = CronJob.from({
      cronTime: this.config.audit.retentionCron,
      onTick: async () => {
        await this.retention.purgeExpired();
      },
      timeZone: 'UTC',
      waitForCompletion: true,
      start: true,
    });
    this.registry.addCronJob(AUDIT_RETENTION_JOB, job);
  }
}
