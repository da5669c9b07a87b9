import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The trace id of the request an audit event records (W3C, 32 hex digits), so that the trail,
 * the log lines and the traces join up (docs/observability.md). Nullable: tracing is optional,
 * and events stored before this column existed have none (their hashes do not include it).
 */
export class AddAuditTraceId1764000700000 implements MigrationInterface {
  name = 'AddAuditTraceId1764000700000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE audit_events ADD COLUMN trace_id char(32)`);
  }

  async down(): Promise<void> {
    throw new Error('Migrations are forward-only');
  }
}
