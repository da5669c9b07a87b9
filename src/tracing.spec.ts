import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tracingEnabled, xrayIdGenerator, xrayOptions } from './tracing';

describe('tracing switch and X-Ray ids', () => {
  it('traces only when an OTLP endpoint is set, and not when the SDK is disabled or the exporter is none', () => {
    assert.equal(tracingEnabled({}), false);
    assert.equal(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), true);
    assert.equal(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), true);
    assert.equal(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }), false);
    assert.equal(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }), false);
  });

  it('makes trace ids X-Ray accepts: the start time in seconds, then 24 random hex digits', () => {
    const ids = xrayIdGenerator;
    const now = Math.floor(Date.now() / 1000);
    const traceId = ids.generateTraceId();
    assert.match(traceId, /^[0-9a-f]{32}$/);
    assert.ok(Math.abs(parseInt(traceId.slice(0, 8), 16) - now) <= 1);
    assert.notEqual(ids.generateTraceId().slice(8), traceId.slice(8));
    assert.match(ids.generateSpanId(), /^[0-9a-f]{16}$/);
  });

  it('uses X-Ray ids and the X-Amzn-Trace-Id header only when OTEL_PROPAGATORS names xray, next to W3C trace context', () => {
    assert.deepEqual(xrayOptions({}), {});
    assert.deepEqual(xrayOptions({ OTEL_PROPAGATORS: 'tracecontext,baggage' }), {});
    const options = xrayOptions({ OTEL_PROPAGATORS: 'tracecontext, xray' });
    assert.equal(options.idGenerator, xrayIdGenerator);
    assert.deepEqual(options.textMapPropagator?.fields().sort(), ['traceparent', 'tracestate', 'x-amzn-trace-id']);
  });
});
