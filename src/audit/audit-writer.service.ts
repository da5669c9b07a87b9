import { BeforeApplicationShutdown, Injectable, Logger, Optional } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { dependencyUnavailable } from '../common/api-error';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { AuditActor, AuditEventContent, GENESIS_HASH, SealedAuditEvent, sealEvent } from './audit-chain';
import { AuditStore } from './audit-store.service';

/** What a caller of the writer says; id and time are assigned when it is appended unless given. */
export type AuditDraft = Pick<AuditEventContent, 'action' | 'outcome'> &
  Partial<Omit<AuditEventContent, 'action' | 'outcome' | 'actor'>> & { actor?: Partial<AuditActor> };

/** Actor of events the service records on its own behalf (scheduled jobs). */
export const SYSTEM_ACTOR: AuditActor = { sub: 'system', clientId: null, username: null };

/** Events per INSERT statement (one statement of 20 array parameters, whatever the count). */
export const MAX_EVENTS_PER_INSERT = 500;
/** Column widths of the free-form fields: an over-long value is cut, never a reason to fail a batch. */
const WIDTH = { requestId: 128, actor: 256, sourceIp: 64 } as const;

/** Where a stored event is: its id and its hash (which a crypto-shred receipt quotes). */
export interface StoredAuditEvent {
  id: string;
  hash: string;
}

interface Pending {
  content: AuditEventContent;
  resolve: (stored: StoredAuditEvent | null) => void;
  reject: (error: unknown) => void;
}

/**
 * Appends events to this process's own hash chain (a random chain id per process; see
 * docs/audit.md). Appends are serialized in-process, so the chain needs no lock in the
 * database and replicas never contend. Events of concurrent requests are grouped: while one
 * INSERT is in flight the next ones queue, and go together in the next multi-row INSERT; each
 * caller's promise settles when its own event is durable (or failed).
 */
@Injectable()
export class AuditWriter implements BeforeApplicationShutdown {
  readonly chainId = randomUUID();
  private readonly logger = new Logger('Audit');
  private head: { seq: number; hash: string } | undefined = { seq: 0, hash: GENESIS_HASH };
  private queue: Pending[] = [];
  private flushing?: Promise<void>;
  private tail: Promise<unknown> = Promise.resolve();
  /**
   * Drains run outside the async context of the request that happened to start them, so that
   * request-scoped log fields (the JSON logger's requestId) are not stamped on other requests'
   * events written in the same batch.
   */
  private readonly drainOutsideRequests = AsyncResource.bind(() => this.drain());

  constructor(
    private readonly store: AuditStore,
    private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  /**
   * Resolves with the stored event's id and hash once it is stored. When it cannot be, rejects
   * with 503 SYS002 — or, with AUDIT_FAIL_OPEN=true, logs the loss loudly and resolves with null.
   */
  append(draft: AuditDraft): Promise<StoredAuditEvent | null> {
    return new Promise((resolve, reject) => {
      this.queue.push({ content: complete(draft), resolve, reject });
      // setImmediate: appends made in the same turn of the event loop share the first INSERT.
      this.flushing ??= new Promise<void>((done) => setImmediate(done)).then(this.drainOutsideRequests);
    });
  }

  /**
   * Runs `work` while holding the chain: `sealNext` gives the next link, and the chain head
   * moves past the events sealed only if `work` succeeds. `work` must store what it sealed
   * (the retention purge stores its event inside its own transaction).
   */
  withChain<T>(work: (sealNext: (draft: AuditDraft) => SealedAuditEvent) => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      let head = this.head ?? (await this.loadHead());
      const sealed: SealedAuditEvent[] = [];
      const sealNext = (draft: AuditDraft) => {
        const event = sealEvent(complete(draft), { chainId: this.chainId, seq: head.seq + 1, prevHash: head.hash });
        head = { seq: event.seq, hash: event.hash };
        sealed.push(event);
        return event;
      };
      try {
        const result = await work(sealNext);
        this.head = head;
        // One structured line per event (the JSON logger merges `audit` into the line) for the SIEM.
        for (const event of sealed) this.logger.log({ audit: event });
        return result;
      } catch (error) {
        // The statement may have committed even though it reported an error: read the head back.
        if (sealed.length) this.head = undefined;
        throw error;
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flushing;
    await this.tail;
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, MAX_EVENTS_PER_INSERT);
      try {
        const sealed = await this.withChain(async (sealNext) => {
          const events = batch.map((pending) => sealNext(pending.content));
          await this.store.insert(events);
          return events;
        });
        batch.forEach((pending, index) => pending.resolve({ id: sealed[index].id, hash: sealed[index].hash }));
      } catch (error) {
        this.refuse(batch, error);
      }
    }
    this.flushing = undefined;
  }

  private refuse(batch: Pending[], error: unknown): void {
    const reason = (error as Error)?.name ?? 'error';
    this.metrics?.countAuditWriteFailures(batch.length);
    if (this.config.audit.failOpen) {
      for (const pending of batch) {
        this.logger.error({
          msg: `AUDIT EVENT NOT STORED (${reason}); AUDIT_FAIL_OPEN=true lets the operation proceed`,
          auditLost: pending.content,
        });
        pending.resolve(null);
      }
      return;
    }
    this.logger.error(`Audit trail write failed (${reason}): ${batch.length} operation(s) refused with SYS002`);
    const refusal = dependencyUnavailable('The audit trail', error);
    for (const pending of batch) pending.reject(refusal);
  }

  private async loadHead(): Promise<{ seq: number; hash: string }> {
    return (await this.store.lastLink(this.chainId)) ?? { seq: 0, hash: GENESIS_HASH };
  }
}

function complete(draft: AuditDraft): AuditEventContent {
  return {
    id: draft.id ?? randomUUID(),
    time: draft.time ?? new Date().toISOString(),
    requestId: clip(draft.requestId, WIDTH.requestId),
    actor: {
      sub: clip(draft.actor?.sub, WIDTH.actor),
      clientId: clip(draft.actor?.clientId, WIDTH.actor),
      username: clip(draft.actor?.username, WIDTH.actor),
    },
    action: draft.action,
    userId: draft.userId ?? null,
    keyVersions: draft.keyVersions ?? [],
    itemCount: draft.itemCount ?? null,
    outcome: draft.outcome,
    errorCode: draft.errorCode ?? null,
    sourceIp: clip(draft.sourceIp, WIDTH.sourceIp),
    purpose: draft.purpose ?? null,
    details: draft.details ?? null,
    traceId: draft.traceId ?? null,
  };
}

function clip(value: string | null | undefined, width: number): string | null {
  return value === undefined || value === null ? null : value.slice(0, width);
}
