import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One audit event (table `audit_events`, append-only: a trigger refuses UPDATE and DELETE
 * outside the retention purge). Each row is a link of its chain; see docs/audit.md. `action` and
 * `outcome` are plain strings here: their vocabulary is the audit module's, which maps rows to
 * events (fromRow), so that the repositories below it need not import it.
 */
@Entity({ name: 'audit_events' })
export class AuditEventRow {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'chain_id', type: 'uuid' })
  chainId: string;

  /** bigint: a string from the driver. */
  @Column({ type: 'bigint' })
  seq: string;

  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt: Date;

  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true })
  requestId: string | null;

  @Column({ name: 'actor_sub', type: 'varchar', length: 256, nullable: true })
  actorSub: string | null;

  @Column({ name: 'actor_client_id', type: 'varchar', length: 256, nullable: true })
  actorClientId: string | null;

  @Column({ name: 'actor_username', type: 'varchar', length: 256, nullable: true })
  actorUsername: string | null;

  @Column({ type: 'varchar', length: 32 })
  action: string;

  @Column({ name: 'target_user_id', type: 'bigint', nullable: true })
  targetUserId: string | number | null;

  @Column({ name: 'key_versions', type: 'integer', array: true })
  keyVersions: number[];

  @Column({ name: 'item_count', type: 'integer', nullable: true })
  itemCount: number | null;

  @Column({ type: 'varchar', length: 16 })
  outcome: string;

  @Column({ name: 'error_code', type: 'varchar', length: 16, nullable: true })
  errorCode: string | null;

  @Column({ name: 'source_ip', type: 'varchar', length: 64, nullable: true })
  sourceIp: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  purpose: string | null;

  @Column({ type: 'jsonb', nullable: true })
  details: Record<string, unknown> | null;

  /** W3C trace id of the request (32 hex digits), when tracing was on. */
  @Column({ name: 'trace_id', type: 'char', length: 32, nullable: true })
  traceId: string | null;

  @Column({ name: 'prev_hash', type: 'char', length: 64 })
  prevHash: string;

  @Column({ type: 'char', length: 64 })
  hash: string;
}
