import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/api-error';
import { ErrorResponseHook } from '../common/http-exception.filter';
import { REFUSAL_ACTIONS } from './audit-actions';
import { AuditWriter } from './audit-writer.service';
import { AuditedRequest, requestFacts } from './request-facts';

/**
 * Records refusals that happen before any interceptor runs — authentication (401),
 * authorization (403) and rate limits (429), raised by guards — from the error path, before
 * the error response is sent. The refusal stands even if its event cannot be stored.
 */
@Injectable()
export class RefusalRecorder implements ErrorResponseHook {
  constructor(private readonly writer: AuditWriter) {}

  async beforeErrorResponse(request: AuditedRequest, error: ApiError): Promise<void> {
    const action = REFUSAL_ACTIONS[error.status];
    if (!action || request.auditRecorded) return;
    request.auditRecorded = true;
    await this.writer
      .append({
        ...requestFacts(request),
        action,
        outcome: 'denied',
        errorCode: error.code,
        details: { method: request.method, route: request.route?.path ?? null },
      })
      .catch(() => undefined);
  }
}
