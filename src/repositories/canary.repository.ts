import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TranslateDatabaseErrors } from './database-errors';

/** The shape of one field of a canary row, as the operator asked for it (never its plaintext). */
export interface CanaryFieldRecord {
  shape: string;
  length?: number;
  template?: string;
}

export interface CanaryRow {
  id: string;
  userId: string;
  label: string | null;
  createdBy: string;
  createdAt: Date;
  /** Null for canaries created before canary rows (migration 1764000995000). */
  keyVersion: number | null;
  fields: CanaryFieldRecord[] | null;
}

export interface NewCanary {
  id: string;
  userId: string;
  /** What every field of the row shares, ek1's wrapped data key or ek2's encapsulation: what recognises the canary. */
  wrappedKey: Buffer;
  label: string | null;
  createdBy: string;
  keyVersion: number;
  fields: readonly CanaryFieldRecord[];
}

/** A live canary's recognition data: the wrapped data key (ek1) or encapsulation (ek2) that every field of its row shares. */
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
  key_version: number | null;
  fields: CanaryFieldRecord[] | string | null;
}

const COLUMNS = 'id, user_id, label, created_by, created_at, key_version, fields';

const toRow = (row: Row): CanaryRow => ({
  id: row.id,
  userId: String(row.user_id),
  label: row.label,
  createdBy: row.created_by,
  createdAt: new Date(row.created_at),
  keyVersion: row.key_version,
  fields: typeof row.fields === 'string' ? (JSON.parse(row.fields) as CanaryFieldRecord[]) : row.fields,
});

/** Canary rows (`canaries`): planted, listed and retired by operators; recognised by every replica. */
@Injectable()
@TranslateDatabaseErrors()
export class CanaryRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(canaries: readonly NewCanary[]): Promise<CanaryRow[]> {
    const rows: Row[] = await this.dataSource.query(
      `INSERT INTO canaries (id, user_id, wrapped_key, label, created_by, key_version, fields)
       SELECT id, user_id, wrapped_key, label, created_by, key_version, fields::jsonb
         FROM unnest($1::uuid[], $2::bigint[], $3::bytea[], $4::varchar[], $5::varchar[], $6::int[], $7::text[])
           AS t (id, user_id, wrapped_key, label, created_by, key_version, fields)
    RETURNING ${COLUMNS}`,
      [
        canaries.map((c) => c.id),
        canaries.map((c) => c.userId),
        canaries.map((c) => c.wrappedKey),
        canaries.map((c) => c.label),
        canaries.map((c) => c.createdBy),
        canaries.map((c) => c.keyVersion),
        canaries.map((c) => JSON.stringify(c.fields)),
      ],
    );
    return rows.map(toRow);
  }

  /** Live canaries, newest first; from the primary (an operator checks what they just planted or retired). */
  async listLiveOnPrimary(): Promise<CanaryRow[]> {
    const rows: Row[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM canaries WHERE retired_at IS NULL ORDER BY created_at DESC, id`,
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
