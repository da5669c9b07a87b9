import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AUDIT_ACTIONS, AUDIT_OUTCOMES, DATA_ACCESS_ACTIONS } from '../audit-actions';
import { CHAIN_PROBLEMS, ChainProblem, VERIFY_MODES, VerifyMode } from '../audit-chain';

const INSTANT = { type: 'string', format: 'date-time' } as const;
const SHA256_HEX = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

export class AuditActorView {
  @ApiProperty({ nullable: true, type: String, example: '5kq2m1example' })
  sub: string | null;

  @ApiProperty({ nullable: true, type: String, example: '5kq2m1example' })
  clientId: string | null;

  @ApiProperty({ nullable: true, type: String, example: null })
  username: string | null;
}

export class AuditEventView {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ ...INSTANT, example: '2026-03-01T12:00:00.000Z' })
  time: string;

  @ApiProperty({ nullable: true, type: String })
  requestId: string | null;

  @ApiProperty({ type: AuditActorView })
  actor: AuditActorView;

  @ApiProperty({ enum: AUDIT_ACTIONS, example: 'decrypt' })
  action: string;

  @ApiProperty({ nullable: true, type: String, example: '42', description: 'The end user the operation concerned' })
  userId: string | null;

  @ApiProperty({ type: 'array', items: { type: 'integer', minimum: 1 }, description: 'Key versions the operation used', example: [1, 2] })
  keyVersions: number[];

  @ApiProperty({ nullable: true, type: 'integer', minimum: 0, example: 3 })
  itemCount: number | null;

  @ApiProperty({ enum: AUDIT_OUTCOMES, example: 'success' })
  outcome: string;

  @ApiProperty({ nullable: true, type: String, description: 'The error code of a refused or failed operation', example: null })
  errorCode: string | null;

  @ApiProperty({ nullable: true, type: String, example: '10.0.3.17' })
  sourceIp: string | null;

  @ApiProperty({ nullable: true, type: String, example: 'estate settlement: executor statement' })
  purpose: string | null;

  @ApiProperty({
    nullable: true,
    type: 'object',
    additionalProperties: true,
    description: 'What the operation records beyond who, when and on whom (docs/audit.md)',
    example: null,
  })
  details: Record<string, unknown> | null;

  @ApiProperty({
    nullable: true,
    type: String,
    pattern: '^[0-9a-f]{32}$',
    description:
      'W3C trace id of the request when tracing was on (OTEL_EXPORTER_OTLP_ENDPOINT); joins the event to its trace and log lines',
    example: '4bf92f3577b34da6a3ce929d0e0e4736',
  })
  traceId: string | null;

  @ApiProperty({ format: 'uuid', description: 'The hash chain (one per application process)' })
  chainId: string;

  @ApiProperty({ type: 'integer', minimum: 0, example: 1207 })
  seq: number;

  @ApiProperty({ ...SHA256_HEX, description: 'SHA-256 of the previous event of the chain (hex)' })
  prevHash: string;

  @ApiProperty({ ...SHA256_HEX, description: 'SHA-256 of this event (hex); see docs/audit.md' })
  hash: string;
}

export class AuditPage {
  @ApiProperty({ type: [AuditEventView], description: 'Newest first' })
  events: AuditEventView[];

  @ApiProperty({ nullable: true, type: String, description: 'Pass as `cursor` for the next page; null on the last page' })
  nextCursor: string | null;
}

export class BrokenLinkView {
  @ApiProperty({ format: 'uuid' })
  chainId: string;

  @ApiProperty({ type: 'integer', minimum: 0 })
  seq: number;

  @ApiProperty({ format: 'uuid' })
  eventId: string;

  @ApiProperty({ enum: CHAIN_PROBLEMS })
  problem: ChainProblem;

  @ApiProperty({ example: 'the event does not match its hash: it was edited' })
  description: string;
}

export class VerifyResponse {
  @ApiProperty({ description: 'true when every chain is intact (in incremental mode: after its checkpoint)' })
  ok: boolean;

  @ApiProperty({
    enum: VERIFY_MODES,
    description:
      'full: every chain walked from its start; incremental (the default): each chain from its last verified checkpoint, ' +
      'whose event must still have the checkpointed hash (docs/audit.md)',
  })
  mode: VerifyMode;

  @ApiProperty({ type: 'integer', minimum: 0, description: 'Chains walked' })
  chains: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'Events checked (up to the broken link, if any), after the checkpoints in incremental mode',
  })
  events: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description:
      'Events up to and including the checkpoints an incremental walk started at: verified by an earlier walk, not walked again (0 in full mode)',
  })
  checkpointed: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description:
      'Checkpointed links an incremental walk re-checked (hash and link to the event before), picked at random: up to AUDIT_VERIFY_SAMPLE (0 in full mode)',
  })
  sampled: number;

  @ApiPropertyOptional({ type: BrokenLinkView, description: 'The first broken link found' })
  brokenLink?: BrokenLinkView;
}

export class AccessReportEntry {
  @ApiProperty({ type: AuditActorView })
  actor: AuditActorView;

  @ApiProperty({ enum: DATA_ACCESS_ACTIONS, example: 'decrypt' })
  action: string;

  @ApiProperty({ nullable: true, type: String, example: 'estate settlement: executor statement' })
  purpose: string | null;

  @ApiProperty({ type: 'integer', minimum: 1, description: 'Successful requests', example: 3 })
  requests: number;

  @ApiProperty({ type: 'integer', minimum: 0, description: 'Items encrypted or decrypted in them', example: 12 })
  items: number;

  @ApiProperty({ ...INSTANT, example: '2026-03-01T12:00:00.000Z' })
  firstAt: string;

  @ApiProperty({ ...INSTANT, example: '2026-03-04T09:30:00.000Z' })
  lastAt: string;
}

export class AccessReport {
  @ApiProperty({ example: '42' })
  userId: string;

  @ApiProperty({ ...INSTANT, nullable: true, description: 'The from of the query, if any' })
  from: string | null;

  @ApiProperty({ ...INSTANT, nullable: true, description: 'The to of the query, if any' })
  to: string | null;

  @ApiProperty({ type: [AccessReportEntry], description: 'One entry per caller, action and stated purpose; most recent first' })
  accesses: AccessReportEntry[];

  @ApiProperty({ description: 'true when there were more entries than one report lists' })
  truncated: boolean;
}
