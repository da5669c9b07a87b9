import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { AWSXRayPropagator } from '@opentelemetry/propagator-aws-xray';
import { SamplingDecision, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { edgeSampling, tracingEnabled, xrayIdGenerator, xrayOptions } from './tracing';

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

  describe('sampling decided at the edge (parentbased_traceidratio below 1)', () => {
    const tenPercent = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' };
    const traceId = '0af7651916cd43dd8448eb211c80319c';

    it('applies only to a parent-based ratio below 1; every other setting is left to the SDK', () => {
      assert.equal(edgeSampling({}), undefined);
      assert.equal(edgeSampling({ OTEL_TRACES_SAMPLER: 'parentbased_always_on' }), undefined);
      assert.equal(edgeSampling({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }), undefined);
      assert.equal(edgeSampling({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' }), undefined);
      assert.equal(edgeSampling({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 'often' }), undefined);
      assert.ok(edgeSampling(tenPercent));
    });

    it('keeps a request without trace context with the ratio’s probability, and drops the rest before any span', () => {
      const draws = [0.05, 0.5, 0.0999, 0.1];
      const edge = edgeSampling(tenPercent, () => draws.shift()!)!;
      const kept = [1, 2, 3, 4].map(() => !edge.dropAtEdge({ headers: {} }));
      assert.deepEqual(kept, [true, false, true, false]);
    });

    it('leaves a request whose caller sent trace context to the parent-based sampler, as the propagators read it', () => {
      const edge = edgeSampling(tenPercent, () => 0.99)!;
      const xrayParent = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
      const loadBalancer = 'Root=1-5759e988-bd862e3fe1be46a994272793';
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
      try {
        assert.equal(edge.dropAtEdge({ headers: { traceparent: `00-${traceId}-b7ad6b7169203331-00` } }), false);
        assert.equal(edge.dropAtEdge({ headers: { traceparent: 'not a trace context' } }), true, 'a malformed traceparent is no context');
        assert.equal(edge.dropAtEdge({ headers: { 'x-amzn-trace-id': xrayParent } }), true, 'X-Ray headers mean nothing without xray');
        propagation.disable(); // a global is registered once: off, then the next
        propagation.setGlobalPropagator(
          new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new AWSXRayPropagator()] }),
        );
        assert.equal(edge.dropAtEdge({ headers: { 'x-amzn-trace-id': xrayParent } }), false);
        // A load balancer's header names no parent and no decision: a root like any other.
        assert.equal(edge.dropAtEdge({ headers: { 'x-amzn-trace-id': loadBalancer } }), true);
      } finally {
        propagation.disable();
      }
    });

    const parent = (flags: TraceFlags, isRemote = true) =>
      trace.setSpanContext(context.active(), { traceId, spanId: 'b7ad6b7169203331', traceFlags: flags, isRemote });

    it('records a request kept at the edge, follows a caller’s unsampled flag, and samples other roots by the ratio', () => {
      const { sampler } = edgeSampling({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })!;
      const decide = (parent: typeof ROOT_CONTEXT, kind: SpanKind) => sampler.shouldSample(parent, traceId, 'span', kind, {}, []).decision;
      assert.equal(decide(ROOT_CONTEXT, SpanKind.SERVER), SamplingDecision.RECORD_AND_SAMPLED);
      assert.equal(decide(ROOT_CONTEXT, SpanKind.INTERNAL), SamplingDecision.NOT_RECORD);
      assert.equal(decide(parent(TraceFlags.NONE), SpanKind.SERVER), SamplingDecision.NOT_RECORD);
      // The work inside a request this service traces is traced with it.
      assert.equal(decide(parent(TraceFlags.SAMPLED, false), SpanKind.CLIENT), SamplingDecision.RECORD_AND_SAMPLED);
    });

    it('traces a caller’s sampled request only under the service’s own ratio: with ratio 0, never', () => {
      const { sampler } = edgeSampling({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })!;
      const decision = sampler.shouldSample(parent(TraceFlags.SAMPLED), traceId, 'POST', SpanKind.SERVER, {}, []).decision;
      assert.equal(decision, SamplingDecision.NOT_RECORD);
    });

    it('keeps a caller’s sampled request with the ratio’s probability, decided by its trace id as the ratio decides a root', () => {
      const { sampler } = edgeSampling(tenPercent)!;
      const byRatio = new TraceIdRatioBasedSampler(0.1);
      const ids = Array.from({ length: 2000 }, () => randomBytes(16).toString('hex'));
      const kept = ids.filter(
        (id) =>
          sampler.shouldSample(parent(TraceFlags.SAMPLED), id, 'POST', SpanKind.SERVER, {}, []).decision ===
          SamplingDecision.RECORD_AND_SAMPLED,
      );
      assert.deepEqual(
        kept,
        ids.filter((id) => byRatio.shouldSample(ROOT_CONTEXT, id).decision === SamplingDecision.RECORD_AND_SAMPLED),
      );
      assert.ok(kept.length > 100 && kept.length < 300, `about 10 % kept: ${kept.length} of ${ids.length}`);
    });
  });
});
