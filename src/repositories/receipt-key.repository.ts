import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TranslateDatabaseErrors } from './database-errors';

/** A receipt-signing key pair as stored: the public JWK and the sealed PKCS#8 private key. */
export interface ReceiptKeyRow {
  kid: string;
  publicJwk: Record<string, unknown>;
  sealed: Buffer;
  provider: string;
  keyId: string | null;
  createdAt: Date;
  retiredAt: Date | null;
}

export type NewReceiptKey = Pick<ReceiptKeyRow, 'kid' | 'publicJwk' | 'sealed' | 'provider' | 'keyId'>;

interface Row {
  kid: string;
  public_jwk: Record<string, unknown>;
  sealed_private_key: Buffer;
  key_provider: string;
  kms_key_id: string | null;
  created_at: Date;
  retired_at: Date | null;
}

const toRow = (row: Row): ReceiptKeyRow => ({
  kid: row.kid,
  publicJwk: row.public_jwk,
  sealed: row.sealed_private_key,
  provider: row.key_provider,
  keyId: row.kms_key_id,
  createdAt: new Date(row.created_at),
  retiredAt: row.retired_at ? new Date(row.retired_at) : null,
});

/** The service's receipt-signing keys (`receipt_signing_keys`): one current, the retired ones kept for verification. */
@Injectable()
@TranslateDatabaseErrors()
export class ReceiptKeyRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The current signing key, from the primary (it decides which key signs). */
  async currentOnPrimary(): Promise<ReceiptKeyRow | null> {
    const rows: Row[] = await this.dataSource.query(`SELECT * FROM receipt_signing_keys WHERE retired_at IS NULL`);
    return rows.length ? toRow(rows[0]) : null;
  }

  /** Every key, current and retired, newest first: the published JWKS. From the primary, so a rotated key is published at once. */
  async allOnPrimary(): Promise<ReceiptKeyRow[]> {
    const rows: Row[] = await this.dataSource.query(`SELECT * FROM receipt_signing_keys ORDER BY created_at DESC, kid`);
    return rows.map(toRow);
  }

  /** Stores `key` as the current key unless there already is one (replicas starting together: one wins). */
  async insertIfNoCurrent(key: NewReceiptKey): Promise<boolean> {
    const written: unknown[] = await this.dataSource.query(
      `INSERT INTO receipt_signing_keys (kid, public_jwk, sealed_private_key, key_provider, kms_key_id)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING
    RETURNING kid`,
      [key.kid, JSON.stringify(key.publicJwk), key.sealed, key.provider, key.keyId],
    );
    return written.length > 0;
  }

  /** Retires the current key (kept, still published) and makes `key` current, in one transaction. */
  async rotate(key: NewReceiptKey): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      await tx.query(`UPDATE receipt_signing_keys SET retired_at = now() WHERE retired_at IS NULL`);
      await tx.query(
        `INSERT INTO receipt_signing_keys (kid, public_jwk, sealed_private_key, key_provider, kms_key_id) VALUES ($1, $2, $3, $4, $5)`,
        [key.kid, JSON.stringify(key.publicJwk), key.sealed, key.provider, key.keyId],
      );
    });
  }
}
