import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { sameKeyPattern } from '../common/kms-key-ids';
import { TranslateDatabaseErrors } from './database-errors';

/** A KMS key migration as stored (`kms_migrations`). */
export interface KmsMigration {
  id: number;
  targetKeyId: string;
  startedBy: string | null;
  startedAt: Date;
  resealed: number;
  finishedAt: Date | null;
  outcome: 'done' | 'superseded' | null;
}

/** What a sealed key belongs to, so the caller can name its sealing context. */
export type SealedSubject =
  | { kind: 'user-key'; userId: string; keyVersion: number }
  | { kind: 'blind-index-key'; indexName: string; keyVersion: number }
  | { kind: 'receipt-signing-key'; kid: string };

/** One sealed key claimed for re-sealing: locked by this transaction until the batch ends. */
export interface ClaimedSealedKey {
  /** Names the row across the tables (`user-key:42:3`): for skipping it after a failure. */
  ref: string;
  subject: SealedSubject;
  sealed: { ciphertext: Buffer; provider: string; keyId: string };
}

export interface ResealedKey {
  ciphertext: Buffer;
  keyId: string;
}

/** Sealed keys still under another key than the target, per table. */
export interface RemainingCounts {
  userKeys: number;
  userKeyHistory: number;
  blindIndexKeys: number;
  receiptSigningKeys: number;
  total: number;
}

/** A table of users' sealed private keys (current or retired), keyed by user and version. */
function userKeyTable(name: string, table: string) {
  return {
    name,
    table,
    sealedColumn: 'sealed_private_key',
    ref: `'user-key:' || user_id || ':' || key_version`,
    select: `user_id::text AS a, key_version AS b`,
    keyed: `user_id = $1 AND key_version = $2`,
    subject: (row: ClaimRow): SealedSubject => ({ kind: 'user-key', userId: row.a, keyVersion: Number(row.b) }),
    params: (subject: SealedSubject) => (subject.kind === 'user-key' ? [subject.userId, subject.keyVersion] : []),
  };
}

/**
 * Every table holding sealed keys, how to claim its rows and write one back. `ref` is a text
 * name of a row; `keyed` is the WHERE clause that finds it again from `$1.. ` parameters.
 */
const TABLES = [
  userKeyTable('userKeys', 'user_keys'),
  userKeyTable('userKeyHistory', 'user_key_history'),
  {
    name: 'blindIndexKeys',
    table: 'blind_index_keys',
    sealedColumn: 'sealed_key',
    ref: `'blind-index-key:' || index_name || ':' || key_version`,
    select: `index_name AS a, key_version AS b`,
    keyed: `index_name = $1 AND key_version = $2`,
    subject: (row: ClaimRow): SealedSubject => ({ kind: 'blind-index-key', indexName: row.a, keyVersion: Number(row.b) }),
    params: (subject: SealedSubject) => (subject.kind === 'blind-index-key' ? [subject.indexName, subject.keyVersion] : []),
  },
  {
    name: 'receiptSigningKeys',
    table: 'receipt_signing_keys',
    sealedColumn: 'sealed_private_key',
    ref: `'receipt-signing-key:' || kid`,
    select: `kid AS a, 0 AS b`,
    keyed: `kid = $1`,
    subject: (row: ClaimRow): SealedSubject => ({ kind: 'receipt-signing-key', kid: row.a }),
    params: (subject: SealedSubject) => (subject.kind === 'receipt-signing-key' ? [subject.kid] : []),
  },
] as const;

interface ClaimRow {
  ref: string;
  a: string;
  b: number;
  sealed: Buffer;
  provider: string;
  key_id: string | null;
}

interface MigrationRow {
  id: string;
  target_key_id: string;
  started_by: string | null;
  started_at: Date;
  resealed: string;
  finished_at: Date | null;
  outcome: 'done' | 'superseded' | null;
}

const toMigration = (row: MigrationRow): KmsMigration => ({
  id: Number(row.id),
  targetKeyId: row.target_key_id,
  startedBy: row.started_by,
  startedAt: new Date(row.started_at),
  resealed: Number(row.resealed),
  finishedAt: row.finished_at ? new Date(row.finished_at) : null,
  outcome: row.outcome,
});

const UNIQUE_VIOLATION = '23505';
const isUniqueViolation = (error: unknown) =>
  error instanceof QueryFailedError && (error.driverError as { code?: string }).code === UNIQUE_VIOLATION;

/**
 * The condition "sealed, and not under the target key": `$1` is sameKeyPattern(target), which
 * takes a multi-region key's replicas in other regions for the key itself. Legacy local rows have NULL.
 */
const notUnder = (column: string) => `${column} IS NOT NULL AND (kms_key_id IS NULL OR kms_key_id NOT LIKE $1)`;

/**
 * KMS key migrations (`kms_migrations`) and the re-sealing of every sealed key they drive: users'
 * keys current and retired, blind-index keys and receipt-signing keys. Every read is on the
 * primary: the job decides writes from them. Rows are claimed in batches with `FOR UPDATE SKIP
 * LOCKED`, so any number of replicas re-seal each row once.
 */
@Injectable()
@TranslateDatabaseErrors()
export class KmsMigrationRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The running migration, or null. */
  async runningOnPrimary(): Promise<KmsMigration | null> {
    const rows: MigrationRow[] = await this.dataSource.query(`SELECT * FROM kms_migrations WHERE finished_at IS NULL`);
    return rows[0] ? toMigration(rows[0]) : null;
  }

  /** The latest migration, running or finished, or null when none ever ran. */
  async latestOnPrimary(): Promise<KmsMigration | null> {
    const rows: MigrationRow[] = await this.dataSource.query(`SELECT * FROM kms_migrations ORDER BY id DESC LIMIT 1`);
    return rows[0] ? toMigration(rows[0]) : null;
  }

  /**
   * Starts a migration to `targetKeyId`. One already running to that key is returned as it is
   * (`started: false`); one running to another key is finished as `superseded` first.
   */
  async start(
    targetKeyId: string,
    startedBy: string | null,
  ): Promise<{ migration: KmsMigration; started: boolean; superseded: KmsMigration | null }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.dataSource.transaction(async (tx) => {
          const [running]: MigrationRow[] = await tx.query(`SELECT * FROM kms_migrations WHERE finished_at IS NULL FOR UPDATE`);
          if (running?.target_key_id === targetKeyId) return { migration: toMigration(running), started: false, superseded: null };
          let superseded: KmsMigration | null = null;
          if (running) {
            // An UPDATE … RETURNING answers [rows, affected count].
            const [[row]]: [MigrationRow[], number] = await tx.query(
              `UPDATE kms_migrations SET finished_at = now(), outcome = 'superseded' WHERE id = $1 RETURNING *`,
              [running.id],
            );
            superseded = toMigration(row);
          }
          const [inserted]: MigrationRow[] = await tx.query(
            `INSERT INTO kms_migrations (target_key_id, started_by) VALUES ($1, $2) RETURNING *`,
            [targetKeyId, startedBy?.slice(0, 256) ?? null],
          );
          return { migration: toMigration(inserted), started: true, superseded };
        });
      } catch (error) {
        // Another replica inserted one between our read and our insert: read again.
        if (!isUniqueViolation(error) || attempt >= 2) throw error;
      }
    }
  }

  /** Finishes the migration as done; null when another replica finished (or superseded) it first. */
  async finish(id: number): Promise<KmsMigration | null> {
    // An UPDATE … RETURNING answers [rows, affected count].
    const [rows]: [MigrationRow[], number] = await this.dataSource.query(
      `UPDATE kms_migrations SET finished_at = now(), outcome = 'done' WHERE id = $1 AND finished_at IS NULL RETURNING *`,
      [id],
    );
    return rows[0] ? toMigration(rows[0]) : null;
  }

  /** Sealed keys still under another key than `targetKeyId` (or a replica of it, for a multi-region key), per table. */
  async remainingOnPrimary(targetKeyId: string): Promise<RemainingCounts> {
    const counts = await Promise.all(
      TABLES.map(async ({ table, sealedColumn }) => {
        const [row]: Array<{ count: string }> = await this.dataSource.query(
          `SELECT count(*) AS count FROM ${table} WHERE ${notUnder(sealedColumn)}`,
          [sameKeyPattern(targetKeyId)],
        );
        return Number(row.count);
      }),
    );
    const [userKeys, userKeyHistory, blindIndexKeys, receiptSigningKeys] = counts;
    return { userKeys, userKeyHistory, blindIndexKeys, receiptSigningKeys, total: counts.reduce((a, b) => a + b, 0) };
  }

  /**
   * One batch of migration `migrationId`: claims up to `limit` sealed keys not under
   * `targetKeyId` (skipping rows locked by another replica and those named in `skip`), asks
   * `reseal` for each, writes back what it returns (null: leave the row as it is) and adds the
   * count to the migration, all in one transaction. A `reseal` that throws (KMS throttling or
   * unavailable) ends the batch there: the rows re-sealed before it are committed, the failed one
   * and the rest stay as they were (each row is written whole or not at all), and the error is
   * returned as `failure`, so that work KMS has already done is not asked for again.
   * Returns the rows re-sealed and those left alone.
   */
  async resealBatch(
    migrationId: number,
    targetKeyId: string,
    limit: number,
    skip: readonly string[],
    reseal: (claimed: ClaimedSealedKey) => Promise<ResealedKey | null>,
  ): Promise<{ resealed: number; left: string[]; failure?: unknown }> {
    return this.dataSource.transaction(async (tx) => {
      const claimed = await this.claim(tx, targetKeyId, limit, skip);
      let resealed = 0;
      let failure: unknown;
      const left: string[] = [];
      for (const { table, row } of claimed) {
        const spec = TABLES.find((t) => t.table === table)!;
        const subject = spec.subject(row);
        let result: ResealedKey | null;
        try {
          result = await reseal({
            ref: row.ref,
            subject,
            sealed: { ciphertext: row.sealed, provider: row.provider, keyId: row.key_id ?? 'local' },
          });
        } catch (error) {
          failure = error;
          break;
        }
        if (!result) {
          left.push(row.ref);
          continue;
        }
        const params = spec.params(subject);
        await tx.query(
          `UPDATE ${spec.table} SET ${spec.sealedColumn} = $${params.length + 1}, kms_key_id = $${params.length + 2} WHERE ${spec.keyed}`,
          [...params, result.ciphertext, result.keyId],
        );
        resealed++;
      }
      if (resealed) await tx.query(`UPDATE kms_migrations SET resealed = resealed + $2 WHERE id = $1`, [migrationId, resealed]);
      return { resealed, left, ...(failure !== undefined && { failure }) };
    });
  }

  private async claim(tx: EntityManager, targetKeyId: string, limit: number, skip: readonly string[]) {
    const claimed: Array<{ table: string; row: ClaimRow }> = [];
    for (const { table, sealedColumn, ref, select } of TABLES) {
      if (claimed.length >= limit) break;
      const rows: ClaimRow[] = await tx.query(
        `SELECT ${ref} AS ref, ${select}, ${sealedColumn} AS sealed, key_provider AS provider, kms_key_id AS key_id
           FROM ${table}
          WHERE ${notUnder(sealedColumn)} AND NOT (${ref} = ANY($2::text[]))
          LIMIT $3
            FOR UPDATE SKIP LOCKED`,
        [sameKeyPattern(targetKeyId), skip, limit - claimed.length],
      );
      claimed.push(...rows.map((row) => ({ table, row })));
    }
    return claimed;
  }
}
