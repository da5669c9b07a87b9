import { CallHandler, ExecutionContext, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { from, lastValueFrom, Observable } from 'rxjs';
import { invalidInput } from '../common/api-error';
import { toApiError } from '../common/http-exception.filter';
import { AppConfig } from '../config/app-config';
import {
  ANSWER_WITHOUT_AUDIT_EVENT,
  AnsweredWithoutAuditEvent,
  answersWithoutAuditEvent,
  COMPLETE_WITH_AUDIT_EVENT,
  completesWithAuditEvent,
} from '../common/audit-vocabulary';
import { AUDITED_OPERATION, AuditedOperation } from '../common/decorators/audited.decorator';
import { STATE_CHANGING_ACTIONS } from './audit-actions';
import { AuditDraft, AuditWriter } from './audit-writer.service';
import { AuditedRequest, bodyOf, requestFacts } from './request-facts';

/**
 * Records one event per @Audited operation and holds the response until it is stored, so a
 * caller never gets a result the trail does not know of: if the event cannot be stored, the
 * caller gets 503 SYS002 instead (a decrypt returns no plaintext). State-changing operations
 * first store a `started` event, and do not run unless it is stored. The one exception: a change
 * already committed when its success event fails (a /rotate, ANSWER_WITHOUT_AUDIT_EVENT) is
 * answered as committed, saying the event was not stored, and the event is logged in full.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Audit');

  constructor(
    private readonly reflector: Reflector,
    private readonly writer: AuditWriter,
    private readonly config: AppConfig,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const operation = this.reflector.get<AuditedOperation | undefined>(AUDITED_OPERATION, context.getHandler());
    if (!operation || context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<AuditedRequest>();
    request.auditRecorded = true;
    return from(this.run(operation, request, () => lastValueFrom(next.handle(), { defaultValue: undefined })));
  }

  private async run(audited: AuditedOperation, request: AuditedRequest, operation: () => Promise<unknown>): Promise<unknown> {
    const { action } = audited;
    const described = { params: request.params ?? {}, body: bodyOf(request) };
    const describe = (response?: unknown) => audited.describe?.(described, asRecord(response)) ?? {};
    const facts = { ...requestFacts(request), action };

    if (action === 'decrypt' && this.config.audit.requirePurpose && facts.purpose === null) {
      await this.writer.append({ ...facts, ...describe(), outcome: 'failure', errorCode: 'ENC001' });
      throw invalidInput('purpose is required: state why the data is decrypted (AUDIT_REQUIRE_PURPOSE=true)');
    }
    if (STATE_CHANGING_ACTIONS.has(action)) {
      await this.writer.append({ ...facts, ...describe(), outcome: 'started' });
    }
    let result: unknown;
    try {
      result = await operation();
    } catch (error) {
      await this.writer.append({ ...facts, ...describe(), outcome: 'failure', errorCode: toApiError(error).code });
      throw error;
    }
    const success = { ...facts, ...describe(result), outcome: 'success' } as const;
    let stored: Awaited<ReturnType<AuditWriter['append']>>;
    try {
      stored = await this.writer.append(success);
    } catch (error) {
      if (!answersWithoutAuditEvent(result)) throw error;
      return this.answerWithoutEvent(result, success, error);
    }
    if (stored === null && answersWithoutAuditEvent(result)) return this.answerWithoutEvent(result, success, null);
    return completesWithAuditEvent(result) ? result[COMPLETE_WITH_AUDIT_EVENT](stored) : result;
  }

  /** A committed change whose success event was not stored: the event goes to the log in full, the answer says it was not stored. */
  private answerWithoutEvent(result: AnsweredWithoutAuditEvent, event: AuditDraft, error: unknown): unknown {
    this.logger.error({
      msg: `AUDIT EVENT NOT STORED (${(error as Error | null)?.name ?? 'AUDIT_FAIL_OPEN'}): the ${event.action} had already committed; it is answered with auditEventStored=false`,
      auditLost: event,
    });
    return result[ANSWER_WITHOUT_AUDIT_EVENT]();
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
}
