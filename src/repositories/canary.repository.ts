import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TranslateDatabaseErrors } from './database-errors';

export interface CanaryRow {
  id: string;
  userId: string;
  label: string | null;
  createdBy: string;
  createdAt: Date;
}

/** A live canary's recognition data: its wrapped data key. */
export interface CanaryKey {
  id: string;
  wrappedKey: Buffer;
}

interface Row {
  id: string;
  user_id: string;
  label: string | null;
  created_by: string;
  created_at: Date;
}

const toRow = (row: Row): CanaryRow => ({
  id: row.id,
  userId: String(row.user_id),
  label: row.label,
  createdBy: row.created_by,
  createdAt: new Date(row.created_at),
});

/** Canary ciphertexts (`canaries`): planted, listed and retired by operators; recognised by every replica. */
@Injectable()
@TranslateDatabaseErrors()
export class CanaryRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(
    canaries: ReadonlyArray<{ id: string; userId: string; wrappedKey: Buffer; label: string | null; createdBy: string }>,
  ): Promise<CanaryRow[]> {
    const rows: Row[] = await this.dataSource.query(
      `INSERT INTO canaries (id, user_id, wrapped_key, label, created_by)
       SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bytea[], $4::varchar[], $5::varchar[])
    RETURNING id, user_id, label, created_by, created_at`,
      [
        canaries.map((c) => c.id),
        canaries.map((c) => c.userId),
        canaries.map((c) => c.wrappedKey),
        canaries.map((c) => c.label),
        canaries.map((c) => c.createdBy),
      ],
    );
    return rows.map(toRow);
  }

  /** Live canaries, newest first; from the primary (an operator checks what they just planted or retired). */
  async listLiveOnPrimary(): Promise<CanaryRow[]> {
    const rows: Row[] = await this.dataSource.query(
      `SELECT id, user_id, label, created_by, created_at FROM canaries WHERE retired_at IS NULL ORDER BY created_at DESC, id`,
    );
    return rows.map(toRow);
  }

  /** What recognises live canaries, from the primary: a replica's copy could miss a canary just planted. */
  async liveKeysOnPrimary(): Promise<CanaryKey[]> {
    const rows: Array<{ id: string; wrapped_key: Buffer }> = await this.dataSource.query(
      `SELECT id, wrapped_key FROM canaries WHERE retired_at IS NULL`,
    );
    return rows.map((row) => ({ id: row.id, wrappedKey: row.wrapped_key }));
  }

  /** Retires a live canary; false when no live canary has this id. */
  async retire(id: string): Promise<boolean> {
    const [rows] = await this.dataSource.query(`UPDATE canaries SET retired_at = now() WHERE id = $1 AND retired_at IS NULL RETURNING id`, [
      id,
    ]);
    return (rows as unknown[]).length > 0;
  }
}
