import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { toUserId } from '../common/user-id';
import { SealedAuditEvent } from './audit-chain';
import { AuditEventRow } from './entities/audit-event.entity';

/** Where sealed events are kept. Abstract so that the writer's batching can be unit-tested. */
export abstract class AuditStore {
  /** Inserts the events in one statement, inside `manager`'s transaction when given. */
  abstract insert(events: readonly SealedAuditEvent[], manager?: EntityManager): Promise<void>;
  /** The newest stored link of a chain, if any. */
  abstract lastLink(chainId: string): Promise<{ seq: number; hash: string } | undefined>;
}

@Injectable()
export class TypeOrmAuditStore extends AuditStore {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    super();
  }

  async insert(events: readonly SealedAuditEvent[], manager: EntityManager = this.dataSource.manager): Promise<void> {
    await manager.createQueryBuilder().insert().into(AuditEventRow).values(events.map(toRow) as QueryDeepPartialEntity<AuditEventRow>[]).updateEntity(false).execute();
  }

  async lastLink(chainId: string): Promise<{ seq: number; hash: string } | undefined> {
    const row = await this.dataSource.manager.findOne(AuditEventRow, {
      select: { seq: true, hash: true },
      where: { chainId },
      order: { seq: 'DESC' },
    });
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
    action: row.action,
    userId: row.targetUserId === null ? null : toUserId(row.targetUserId),
    keyVersions: row.keyVersions.map(Number),
    itemCount: row.itemCount,
    outcome: row.outcome,
    errorCode: row.errorCode,
    sourceIp: row.sourceIp,
    purpose: row.purpose,
    details: row.details,
    prevHash: row.prevHash,
    hash: row.hash,
  };
}
