import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { randomUUID } from 'node:crypto';
import { AuditWriter, SYSTEM_ACTOR } from '../audit/audit-writer.service';
import { COMPLETE_WITH_AUDIT_EVENT } from '../common/audit-vocabulary';
import { AppConfig } from '../config/app-config';
import { StartupGate } from '../health/startup-gate.service';
import { RotationRepository } from '../repositories/rotation.repository';
import { KeysService, ShredReceipt } from './keys.service';

const JOB_NAME = 'scheduled-destruction';
/** One run stops after this many users and goes on at the next tick. */
const MAX_PER_RUN = 10_000;

/**
 * The scheduled destruction (SHRED_CRON, UTC; docs/compliance.md, "The deletion window"): destroys
 * the keys of every user whose pending deletion has ended — `destroys_at` passed by the database
 * clock, so every replica agrees and a test moves the time by changing `destroys_at` — exactly
 * as a DELETE without a window does (KeysService.destroyKeys: the shred log's intent, the
 * compare-and-destroy transaction with the receipt, `destroyed`), recorded in the audit trail as
 * a `key.delete` by `system` (`started` first: nothing is destroyed unless it is stored; then
 * `success`, which the receipt names). The mass-destruction breaker does not stop it: it stops
 * new DELETE requests, and these were decided a window ago.
 *
 * Safe on any number of replicas at once: each due key is claimed with `FOR UPDATE SKIP LOCKED`
 * and the user's lease (RotationRepository.claimNextDueDestruction), and the destruction itself
 * re-checks in its transaction that the key is still pending and due (a cancellation in between
 * destroys nothing). It does not run before the start-up replay has finished: a restored
 * database's pending deletions are put back first.
 */
@Injectable()
export class ScheduledDestructionJob implements OnApplicationBootstrap {
  private readonly logger = new Logger('ScheduledDestruction');

  constructor(
    private readonly config: AppConfig,
    private readonly keys: KeysService,
    private readonly rotations: RotationRepository,
    private readonly registry: SchedulerRegistry,
    private readonly audit: AuditWriter,
    private readonly startup: StartupGate,
  ) {}

  onApplicationBootstrap(): void {
    const job = CronJob.from({
      cronTime: this.config.shredSchedule.cron,
      onTick: async () => {
        if (!this.startup.isOpen)
          return this.logger.warn('Scheduled destruction skipped: the service has not finished starting (shred log replay)');
        await this.run();
      },
      timeZone: 'UTC',
      waitForCompletion: true,
      start: true,
    });
    this.registry.addCronJob(JOB_NAME, job);
  }

  /** One run: destroys every key whose window has ended; never throws (a failure is logged, and the next tick goes on). */
  async run(): Promise<{ destroyed: number }> {
    let destroyed = 0;
    try {
      while (destroyed < MAX_PER_RUN) {
        const leaseId = randomUUID();
        const userId = await this.rotations.claimNextDueDestruction(leaseId);
        if (!userId) break;
        try {
          if (await this.destroy(userId)) destroyed++;
        } finally {
          await this.rotations.releaseLease(userId, leaseId).catch(() => undefined);
        }
      }
    } catch (error) {
      this.logger.error(
        `Scheduled destruction run failed after ${destroyed} user(s) (${(error as Error)?.name}: ${(error as Error)?.message}); the next tick goes on`,
      );
    }
    if (destroyed) this.logger.log(`Scheduled destruction: the keys of ${destroyed} user(s) destroyed at the end of their deletion window`);
    return { destroyed };
  }

  /** Destroys one user's keys with its audit events; null when the deletion was cancelled meanwhile. */
  private async destroy(userId: string): Promise<ShredReceipt | null> {
    const facts = { action: 'key.delete', actor: SYSTEM_ACTOR, userId } as const;
    // Fail closed: nothing is destroyed unless the trail has recorded that it is about to be.
    await this.audit.append({ ...facts, outcome: 'started', details: { scheduled: true } });
    const answer = await this.keys.destroyKeys(userId, { scheduled: true });
    if (!answer) {
      this.logger.log(`User ${userId}: the pending deletion was cancelled before the job destroyed the keys; nothing destroyed`);
      await this.audit.append({ ...facts, outcome: 'failure', details: { scheduled: true, cancelled: true } });
      return null;
    }
    if (!(COMPLETE_WITH_AUDIT_EVENT in answer)) return answer;
    const details = { scheduled: true, versionsDestroyed: answer.versionsDestroyed };
    const stored = await this.audit.append({ ...facts, outcome: 'success', details }).catch((error: unknown) => {
      this.logger.error(
        `AUDIT EVENT NOT STORED (${(error as Error)?.name}): the scheduled destruction of user ${userId} had already committed; its receipt names no audit event`,
      );
      return null;
    });
    const receipt = (await answer[COMPLETE_WITH_AUDIT_EVENT](stored)) as ShredReceipt;
    this.logger.log(`User ${userId}: keys destroyed at the end of the deletion window (${receipt.versionsDestroyed} version(s))`);
    return receipt;
  }
}
