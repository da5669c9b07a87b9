import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The token denylist (POST /tokens/revoke): a revoked access token's `jti`, kept until the token
 * would have expired anyway. The source of truth even when Redis holds a copy for speed.
 */
export class CreateRevokedTokens1764000200000 implements MigrationInterface {
  name = 'CreateRevokedTokens1764000200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE revoked_tokens (
        token_id   text PRIMARY KEY,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz NOT NULL DEFAULT now(),
        revoked_by text NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at)`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
