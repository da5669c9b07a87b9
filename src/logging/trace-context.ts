import { isSpanContextValid, trace } from '@opentelemetry/api';

/**
 * The trace and span of the work in progress (W3C ids: 32 and 16 hex digits), when tracing is on
 * (src/tracing.ts) and the caller is inside a traced request or job; otherwise undefined. The
 * ids are there whether or not the trace is sampled, so logs and audit events of an unsampled
 * request still join up with each other.
 */
export function activeTrace(): { traceId: string; spanId: string } | undefined {
  const context = trace.getActiveSpan()?.spanContext();
  return context && isSpanContextValid(context) ? { traceId: context.traceId, spanId: context.spanId } : undefined;
}

/** The active trace id, or null: the audit event's `traceId`. */
export function activeTraceId(): string | null {
  return activeTrace()?.traceId ?? null;
}
