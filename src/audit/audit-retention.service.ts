import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { AuditEventRepository } from '../repositories/audit-event.repository';
import { ChainAnchor } from './audit-chain';
import { toRow } from './audit-store.service';
import { AuditWriter, SYSTEM_ACTOR } from './audit-writer.service';

export const AUDIT_RETENTION_JOB = 'audit-retention';
const DAY_MS = 86_400_000;

/**
 * Deletes events older than AUDIT_RETENTION_DAYS, when AuditRetentionScheduler says
 * (AUDIT_RETENTION_CRON, daily by default). Each chain loses a prefix only, and
 * the purge records, in its own event written in the same transaction, where each chain now
 * starts (seq and previous hash), so /audit/verify still proves the rest intact.
 */
@Injectable()
export class AuditRetention {
  private readonly logger = new Logger('AuditRetention');

  constructor(
    private readonly events: AuditEventRepository,
    private readonly writer: AuditWriter,
    private readonly config: AppConfig,
  ) {}

  /** The scheduled purge; never throws (a failed purge is logged and retried at the next run). */
  async purgeExpired(): Promise<void> {
    try {
      await this.purgeBefore(new Date(Date.now() - this.config.audit.retentionDays * DAY_MS));
    } catch (error) {
      this.logger.error(`Audit retention purge failed: ${(error as Error).name}; it will be retried at the next run`);
    }
  }

  /**
   * Purges every event older than `cutoff` (a chain's whole prefix up to its last such event),
   * and never one younger than AUDIT_RETENTION_DAYS by the database's clock: a later `cutoff` is
   * brought back to that, and the database's purge function refuses younger events anyway.
   * Returns the number purged, or undefined when another replica holds the purge.
   */
  purgeBefore(cutoff: Date): Promise<number | undefined> {
    return this.writer.withChain(async (sealNext) => {
      let chains = 0;
      let purgedBefore = cutoff;
      const purged = await this.events.purgeBefore(cutoff, this.config.audit.retentionDays, ({ purged, cuts, cutoff: effective }) => {
        chains = cuts.length;
        purgedBefore = effective;
        const anchors: ChainAnchor[] = cuts.map((cut) => ({ chainId: cut.chainId, resumesAtSeq: cut.seq + 1, prevHash: cut.hash }));
        const event = sealNext({
          action: 'audit.purge',
          outcome: 'success',
          actor: SYSTEM_ACTOR,
          itemCount: purged,
          details: { purgedBefore: effective.toISOString(), anchors },
        });
        return toRow(event);
      });
      if (purged) this.logger.log(`Purged ${purged} audit event(s) older than ${purgedBefore.toISOString()} from ${chains} chain(s)`);
      return purged;
    });
  }
}
