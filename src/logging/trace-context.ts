import { isSpanContextValid, trace } from '@opentelemetry/api';

/**
 * The trace and span of the work in progress (W3C ids: 32 and 16 hex digits), when tracing is on
 * (src/tracing.ts) and the caller is inside a traced request or job; otherwise undefined. A
 * request left out by the sampling decided at the edge has none (its logs and audit event join by
 * request id); one the caller's trace context marks unsampled, or marks sampled where the service's
 * ratio leaves its trace out (src/tracing.ts), keeps the caller's trace id though no span is exported.
 */
export function activeTrace(): { traceId: string; spanId: string } | undefined {
  const context = trace.getActiveSpan()?.spanContext();
  return context && isSpanContextValid(context) ? { traceId: context.traceId, spanId: context.spanId } : undefined;
}

/** The active trace id, or null: the audit event's `traceId`. */
export function activeTraceId(): string | null {
  return activeTrace()?.traceId ?? null;
}
