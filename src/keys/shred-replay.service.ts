import { Inject, Injectable, Logger } from '@nestjs/common';
import { AuditWriter, SYSTEM_ACTOR } from '../audit/audit-writer.service';
import { ApiError } from '../common/api-error';
import { SHRED_REPLAY_OVERLAP_MS } from '../common/limits';
import { UserKeyRepository } from '../repositories/user-key.repository';
import { SHRED_LOG, ShredLog, shredLogBound, ShredLogRef } from '../shred-log/shred-log';
import { KeyMaterialService } from './key-material.service';

/** What one replay did. */
export interface ShredReplayResult {
  /** Users whose keys the database had brought back, destroyed again by this replay. */
  replayed: number;
  /** Entries of the log looked at (those since the newest shred the database holds, less a day). */
  examined: number;
  /** Where the log is (bucket and prefix, or directory). */
  log: string;
}

/**
 * Replays the shred log (src/shred-log) against the key database: after a restore from a
 * backup, every user the log says was crypto-shredded but whose key the restored database still
 * holds has their keys destroyed again.
 *
 * Which entries: every entry since the newest shred the database itself holds (its newest
 * tombstone), less SHRED_REPLAY_OVERLAP_MS against disagreeing clocks — a backup contains every
 * shred committed before it, so older entries are already in it. An entry is replayed when its
 * user has an active key whose current version is at most the newest version the shred
 * destroyed: a key created after the shred has a higher version and is left alone, a user
 * already shredded has no active key. Replaying is therefore idempotent, and replicas replaying
 * at once are safe: the destruction locks the user's row, and the one that finds the key gone
 * (KEY001) or locked (KEY002, retried) does nothing.
 *
 * Each user destroyed again is recorded as a `key.shred-replayed` audit event (actor `system`)
 * and gets the original receipt back on its tombstone, so a repeated DELETE answers with it.
 */
@Injectable()
export class ShredReplayService {
  private readonly logger = new Logger('ShredReplay');

  constructor(
    private readonly keys: UserKeyRepository,
    private readonly material: KeyMaterialService,
    private readonly audit: AuditWriter,
    @Inject(SHRED_LOG) private readonly log: ShredLog,
  ) {}

  async replay(): Promise<ShredReplayResult> {
    const newest = await this.keys.latestShredOnPrimary();
    const after = newest ? shredLogBound(new Date(newest.getTime() - SHRED_REPLAY_OVERLAP_MS)) : undefined;
    let examined = 0;
    let replayed = 0;
    for await (const page of this.log.list(after)) {
      examined += page.length;
      const live = await this.keys.activeVersionsOnPrimary([...new Set(page.map((ref) => ref.userId))]);
      for (const ref of page) {
        const current = live.get(ref.userId);
        if (current === undefined || current > ref.keyVersion) continue;
        if (await this.replayOne(ref)) {
          replayed += 1;
          live.delete(ref.userId);
        }
      }
    }
    return { replayed, examined, log: this.log.location };
  }

  /** Destroys the user's keys again; false when another replica (or the user's own DELETE) did first. */
  private async replayOne(ref: ShredLogRef): Promise<boolean> {
    const entry = await this.log.read(ref.name);
    let destroyed: Array<{ keyVersion: number }>;
    try {
      destroyed = await this.keys.destroy(entry.userId);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'KEY001') return false;
      throw error;
    }
    await this.material.forgetPublicKey(entry.userId);
    const versions = destroyed.map((v) => v.keyVersion);
    if (entry.receipt) await this.keys.storeShredReceipt(entry.userId, Math.max(...versions), entry.receipt);
    await this.audit.append({
      action: 'key.shred-replayed',
      outcome: 'success',
      actor: SYSTEM_ACTOR,
      userId: entry.userId,
      keyVersions: versions,
      details: { destroyedAt: entry.destroyedAt, receiptId: entry.receiptId, logEntry: ref.name },
    });
    this.logger.warn(
      `User ${entry.userId}: crypto-shredded at ${entry.destroyedAt}, brought back by a restore; destroyed again (versions ${versions.join(', ')})`,
    );
    return true;
  }
}
