import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Verified checkpoints of the audit trail (docs/audit.md, verification): per hash chain, the last
 * link a successful `GET /audit/verify` walked (its seq, event id and hash) and when. The next
 * verification checks that this event still has that hash and walks only the events after it.
 * A row only moves forward (a greater seq); the retention purge leaves it alone: a checkpoint
 * the purge cut past is ignored in favour of the purge's anchor.
 */
export class CreateAuditCheckpoints1764000940000 implements MigrationInterface {
  name = 'CreateAuditCheckpoints1764000940000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE audit_checkpoints (
        chain_id uuid PRIMARY KEY,
        seq bigint NOT NULL CHECK (seq > 0),
        event_id uuid NOT NULL,
        hash char(64) NOT NULL,
        verified_at timestamptz NOT NULL
      )`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
