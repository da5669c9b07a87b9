import { Injectable } from '@nestjs/common';
import { toUserId } from '../common/user-id';
import { AuditEventRepository } from '../repositories/audit-event.repository';
import type { AuditAction, AuditOutcome } from './audit-actions';
import { SealedAuditEvent } from './audit-chain';
import { AuditEventRow } from '../repositories/entities/audit-event.entity';

/** Where sealed events are kept. Abstract so that the writer's batching can be unit-tested. */
export abstract class AuditStore {
  /** Inserts the events in one statement. */
  abstract insert(events: readonly SealedAuditEvent[]): Promise<void>;
  /** The newest stored link of a chain, if any. */
  abstract lastLink(chainId: string): Promise<{ seq: number; hash: string } | undefined>;
}

/** The store of the running service: the audit_events table, through its repository. */
@Injectable()
export class DatabaseAuditStore extends AuditStore {
  constructor(private readonly events: AuditEventRepository) {
    super();
  }

  async insert(events: readonly SealedAuditEvent[]): Promise<void> {
    await this.events.insert(events.map(toRow));
  }

  async lastLink(chainId: string): Promise<{ seq: number; hash: string } | undefined> {
    const row = await this.events.lastLinkOnPrimary(chainId);
    return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
  }
}

export function toRow(event: SealedAuditEvent): AuditEventRow {
  return {
    id: event.id,
    chainId: event.chainId,
    seq: String(event.seq),
    occurredAt: new Date(event.time),
    requestId: event.requestId,
    actorSub: event.actor.sub,
    actorClientId: event.actor.clientId,
    actorUsername: event.actor.username,
    action: event.action,
    targetUserId: event.userId,
    keyVersions: event.keyVersions,
    itemCount: event.itemCount,
    outcome: event.outcome,
    errorCode: event.errorCode,
    sourceIp: event.sourceIp,
    purpose: event.purpose,
    details: event.details,
    traceId: event.traceId ?? null,
    prevHash: event.prevHash,
    hash: event.hash,
  };
}

/** The event as it was sealed: the one place that normalises what the driver returns. */
export function fromRow(row: AuditEventRow): SealedAuditEvent {
  return {
    id: row.id,
    chainId: row.chainId,
    seq: Number(row.seq),
    time: row.occurredAt.toISOString(),
    requestId: row.requestId,
    actor: { sub: row.actorSub, clientId: row.actorClientId, username: row.actorUsername },
    action: row.action as AuditAction,
    userId: row.targetUserId === null ? null : toUserId(row.targetUserId),
    keyVersions: row.keyVersions.map(Number),
    itemCount: row.itemCount,
    outcome: row.outcome as AuditOutcome,
    errorCode: row.errorCode,
    sourceIp: row.sourceIp,
    purpose: row.purpose,
    details: row.details,
    traceId: row.traceId ?? null,
    prevHash: row.prevHash,
    hash: row.hash,
  };
}
