import type { Principal } from '../auth/principal';
import type { RequestWithId } from '../common/request-id';
import { isUserId } from '../common/user-id';
import { isPurpose } from '../common/validation';
import { activeTraceId } from '../logging/trace-context';
import type { AuditDraft } from './audit-writer.service';

export type AuditedRequest = RequestWithId & {
  user?: Principal;
  /** Set once an event for this request has been recorded, so that no path records it twice. */
  auditRecorded?: boolean;
};

/**
 * Who asked, from where, about whom, and why — from the request as received. Only values that
 * pass their own validation are kept: a malformed userId or purpose is not recorded verbatim.
 */
export function requestFacts(request: AuditedRequest): Omit<AuditDraft, 'action' | 'outcome'> {
  const body = bodyOf(request);
  const userId = request.params?.userId ?? body?.userId;
  return {
    requestId: request.requestId ?? null,
    actor: { sub: request.user?.sub, clientId: request.user?.clientId, username: request.user?.username },
    userId: isUserId(userId) ? userId : null,
    sourceIp: request.ip ?? null,
    purpose: isPurpose(body?.purpose) ? body.purpose : null,
    // The request's trace (src/tracing.ts), so that the trail, the logs and the traces join up.
    traceId: activeTraceId(),
  };
}

export function bodyOf(request: AuditedRequest): Record<string, unknown> | undefined {
  const body: unknown = request.body;
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
}
