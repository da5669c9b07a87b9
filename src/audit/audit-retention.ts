import { Injectable, Logger } from '@nestjs/common';
import { Cron } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { ChainAnchor } from './audit-chain';
import { AuditStore } from './audit-store';
import { AuditWriter, SYSTEM_ACTOR } from './audit-writer';

export const AUDIT_RETENTION_JOB = 'audit-retention';
const DAY_MS = 86_400_000;
/** Any fixed 64-bit number, the same in every replica: only one replica purges at a time. */
const PURGE_LOCK_ID = '5189023376409912207';

/**
 * Deletes events older than AUDIT_RETENTION_DAYS, daily. Each chain loses a prefix only, and
 * the purge records, in its own event written in the same transaction, where each chain now
 * starts (seq and previous hash), so /audit/verify still proves the rest intact.
 */
@Injectable()
export class AuditRetention {
  private readonly logger = new Logger('AuditRetention');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly writer: AuditWriter,
    private readonly store: AuditStore,
    private readonly config: AppConfig,
  ) {}

  @Cron('30 4 * * *', { name: AUDIT_RETENTION_JOB, timeZone: 'UTC', waitForCompletion: true })
  async purgeExpired(): Promise<void> {
    try {
      await this.purgeBefore(new Date(Date.now() - this.config.audit.retentionDays * DAY_MS));
    } catch (error) {
      this.logger.error(`Audit retention purge failed: ${(error as Error).name}; it will be retried tomorrow`);
    }
  }

  /**
   * Purges every event older than `cutoff` (a chain's whole prefix up to its last such event).
   * Returns the number purged, or undefined when another replica holds the purge.
   */
  purgeBefore(cutoff: Date): Promise<number | undefined> {
    return this.writer.withChain((sealNext) =>
      this.dataSource.transaction(async (manager) => {
        const [{ locked }] = await manager.query('SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', [PURGE_LOCK_ID]);
        if (!locked) return undefined;
        const cuts: Array<{ chain_id: string; seq: string; hash: string }> = await manager.query(
          `SELECT DISTINCT ON (chain_id) chain_id, seq, hash FROM audit_events
            WHERE occurred_at < $1 ORDER BY chain_id, seq DESC`,
          [cutoff],
        );
        if (!cuts.length) return 0;
        await manager.query(`SET LOCAL pii_api.audit_purge = 'on'`);
        const [, purged] = await manager.query(
          `DELETE FROM audit_events e USING unnest($1::uuid[], $2::bigint[]) AS cut (chain_id, through)
            WHERE e.chain_id = cut.chain_id AND e.seq <= cut.through`,
          [cuts.map((cut) => cut.chain_id), cuts.map((cut) => cut.seq)],
        );
        await manager.query(`SET LOCAL pii_api.audit_purge = 'off'`);
        const anchors: ChainAnchor[] = cuts.map((cut) => ({ chainId: cut.chain_id, resumesAtSeq: Number(cut.seq) + 1, prevHash: cut.hash }));
        const event = sealNext({
          action: 'audit.purge',
          outcome: 'success',
          actor: SYSTEM_ACTOR,
          itemCount: purged,
          details: { purgedBefore: cutoff.toISOString(), anchors },
        });
        await this.store.insert([event], manager);
        this.logger.log(`Purged ${purged} audit event(s) older than ${cutoff.toISOString()} from ${cuts.length} chain(s)`);
        return purged as number;
      }),
    );
  }
}
