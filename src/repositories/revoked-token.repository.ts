import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TranslateDatabaseErrors } from './database-errors';

/**
 * The token denylist (`revoked_tokens`). Every read is an authorization decision or fills the
 * shared Redis copy, so every read is on the primary.
 */
@Injectable()
@TranslateDatabaseErrors()
export class RevokedTokenRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Lists `tokenId` until `expiresAt` (the later one if it was listed already), and drops expired entries. */
  async add(tokenId: string, expiresAt: Date, revokedBy: string): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO revoked_tokens (token_id, expires_at, revoked_by) VALUES ($1, $2, $3)
       ON CONFLICT (token_id) DO UPDATE SET expires_at = GREATEST(revoked_tokens.expires_at, EXCLUDED.expires_at)`,
      [tokenId, expiresAt, revokedBy],
    );
    await this.dataSource.query(`DELETE FROM revoked_tokens WHERE expires_at < now()`);
  }

  async isListedOnPrimary(tokenId: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM revoked_tokens WHERE token_id = $1 AND expires_at > now()`, [
      tokenId,
    ]);
    return rows.length > 0;
  }

  /** Every unexpired entry, for copying the denylist into Redis. */
  async unexpiredOnPrimary(): Promise<Array<{ tokenId: string; expiresAt: Date }>> {
    const rows: Array<{ token_id: string; expires_at: Date }> = await this.dataSource.query(
      `SELECT token_id, expires_at FROM revoked_tokens WHERE expires_at > now()`,
    );
    return rows.map((row) => ({ tokenId: row.token_id, expiresAt: new Date(row.expires_at) }));
  }
}
