import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { TranslateDatabaseErrors } from './database-errors';

/** The mass-destruction breaker as the primary holds it, for the whole cluster. */
export interface ShredBreakerState {
  /** How many times it has tripped; the number of the current trip while tripped. */
  trip: number;
  trippedAt: Date | null;
  liftedAt: Date | null;
  liftedBy: string | null;
  approvedBy: string | null;
  /** Crypto-shreds counted in the sliding hour (since the last lift, if that was later). */
  destroyedInWindow: number;
}

/** Why the destroying transaction did not destroy: the breaker was tripped, or this shred would have exceeded the limit (it trips now). */
export interface ShredRefused {
  refused: 'shred-breaker';
  trippedNow: boolean;
  trip: number;
}

/** Crypto-shreds counted toward the limit: those of the sliding hour by the database clock, after the last lift. */
const IN_WINDOW = `destroyed_at > greatest(now() - interval '1 hour', (SELECT counted_since FROM shred_breaker WHERE id = 1))`;

/**
 * Inside the transaction that crypto-shreds one user (UserKeyRepository.destroy), for a DELETE
 * /keys that is subject to the breaker: takes the breaker row's lock (so replicas admit one
 * shred at a time and the count is exact across all of them), and either counts this shred —
 * it commits or rolls back with the destruction — or refuses it. The shred that would make the
 * count exceed `maxPerHour` trips the breaker (committed by the caller's transaction, which then
 * destroys nothing), and every shred after it is refused until the breaker is lifted.
 */
export async function admitShredIn(tx: EntityManager, maxPerHour: number): Promise<ShredRefused | null> {
  const [breaker]: Array<{ trip: number; tripped: boolean }> = await tx.query(
    `SELECT trip, tripped_at IS NOT NULL AS tripped FROM shred_breaker WHERE id = 1 FOR UPDATE`,
  );
  if (breaker.tripped) return { refused: 'shred-breaker', trippedNow: false, trip: Number(breaker.trip) };
  const [{ count }]: Array<{ count: number | string }> = await tx.query(
    `SELECT count(*) AS count FROM shred_breaker_destructions WHERE ${IN_WINDOW}`,
  );
  if (Number(count) >= maxPerHour) {
    // TypeORM answers an UPDATE … RETURNING as [rows, count].
    const [tripped] = await tx.query(`UPDATE shred_breaker SET trip = trip + 1, tripped_at = now() WHERE id = 1 RETURNING trip`);
    return { refused: 'shred-breaker', trippedNow: true, trip: Number((tripped as Array<{ trip: number }>)[0].trip) };
  }
  await tx.query(`INSERT INTO shred_breaker_destructions DEFAULT VALUES`);
  await tx.query(`DELETE FROM shred_breaker_destructions WHERE destroyed_at < now() - interval '1 hour'`);
  return null;
}

/** The breaker row (`shred_breaker`) and the recent crypto-shreds it counts (`shred_breaker_destructions`). */
@Injectable()
@TranslateDatabaseErrors()
export class ShredBreakerRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The breaker and its count, from the primary (it is the cluster's one state). */
  async stateOnPrimary(): Promise<ShredBreakerState> {
    const [row]: Array<{
      trip: number;
      tripped_at: Date | string | null;
      lifted_at: Date | string | null;
      lifted_by: string | null;
      approved_by: string | null;
      destroyed: number | string;
    }> = await this.dataSource.query(
      `SELECT trip, tripped_at, lifted_at, lifted_by, approved_by,
              (SELECT count(*) FROM shred_breaker_destructions WHERE ${IN_WINDOW}) AS destroyed
         FROM shred_breaker WHERE id = 1`,
    );
    const date = (value: Date | string | null) => (value === null ? null : new Date(value));
    return {
      trip: Number(row.trip),
      trippedAt: date(row.tripped_at),
      liftedAt: date(row.lifted_at),
      liftedBy: row.lifted_by,
      approvedBy: row.approved_by,
      destroyedInWindow: Number(row.destroyed),
    };
  }

  /**
   * Lifts trip number `trip` (and no later one): the count starts again from now. False when the
   * breaker is not tripped, or tripped again since (another trip).
   */
  async lift(trip: number, liftedBy: string, approvedBy: string | null): Promise<boolean> {
    const [lifted] = await this.dataSource.query(
      `UPDATE shred_breaker SET tripped_at = NULL, counted_since = now(), lifted_at = now(), lifted_by = $2, approved_by = $3
        WHERE id = 1 AND trip = $1 AND tripped_at IS NOT NULL
    RETURNING trip`,
      [trip, liftedBy, approvedBy],
    );
    return (lifted as unknown[]).length > 0;
  }
}
