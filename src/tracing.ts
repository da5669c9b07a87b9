import { randomBytes } from 'node:crypto';
/* eslint-disable @typescript-eslint/no-require-imports -- the SDK is loaded only when tracing is on, before anything it instruments */
/**
 * OpenTelemetry tracing (docs/observability.md). Imported first by src/main.ts, so that the
 * instrumentations patch http, express, pg, Redis and the AWS SDK before they are loaded. (The
 * NestJS instrumentation supports Nest before 12 only; the express route-handler span names
 * the route, and the envelope spans of src/crypto show the service's own work.)
 *
 * Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and then
 * configured by the standard variables: OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG),
 * OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_PROPAGATORS, OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED.
 * When off, not one OpenTelemetry SDK module is loaded; the @opentelemetry/api calls elsewhere
 * (log mixin, audit trace id, envelope spans) are then no-ops.
 *
 * Never in a span: request or response headers and bodies, SQL parameter values, Redis
 * arguments, KMS payloads. The http instrumentation records no header unless told to (it is
 * not), pg records the statement text with its $n placeholders (enhancedDatabaseReporting off),
 * Redis spans carry the command name only.
 */
import type { IncomingMessage } from 'node:http';
import type * as Api from '@opentelemetry/api';
import type * as Sdk from '@opentelemetry/sdk-node';
import type * as SdkTrace from '@opentelemetry/sdk-trace';

/** Probes and scrapes answer every few seconds: no trace for them. */
const UNTRACED_PATHS = /^\/(health\/(live|ready)|metrics)(\?|$)/;
const DEFAULT_SERVICE_NAME = 'pii-encryption-api';

export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return Boolean(endpoint) && env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true' && env.OTEL_TRACES_EXPORTER !== 'none';
}

/** The names in OTEL_PROPAGATORS, lower-cased; W3C trace context and baggage when unset. */
function propagatorNames(env: NodeJS.ProcessEnv): string[] {
  const names = (env.OTEL_PROPAGATORS ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  return names.length ? [...new Set(names)] : ['tracecontext', 'baggage'];
}

/**
 * With `xray` in OTEL_PROPAGATORS: X-Ray trace ids (their first 8 hex digits are the start time,
 * as X-Ray requires) and the `X-Amzn-Trace-Id` header, next to the other propagators named
 * (tracecontext, baggage). Without it, the SDK reads OTEL_PROPAGATORS itself.
 */
export function xrayOptions(env: NodeJS.ProcessEnv): Partial<Sdk.NodeSDKConfiguration> {
  const names = propagatorNames(env);
  if (!names.includes('xray')) return {};
  const { AWSXRayPropagator } = require('@opentelemetry/propagator-aws-xray') as typeof import('@opentelemetry/propagator-aws-xray');
  const core = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const known: Record<string, () => Api.TextMapPropagator> = {
    tracecontext: () => new core.W3CTraceContextPropagator(),
    baggage: () => new core.W3CBaggagePropagator(),
    xray: () => new AWSXRayPropagator(),
  };
  const propagators = names.flatMap((name) => {
    if (known[name]) return [known[name]()];
    process.emitWarning(`OTEL_PROPAGATORS: "${name}" is not supported together with xray; ignored`);
    return [];
  });
  return { idGenerator: xrayIdGenerator, textMapPropagator: new core.CompositePropagator({ propagators }) };
}

/**
 * X-Ray's trace id: 8 hex digits of the start time in epoch seconds, then 24 random hex digits;
 * span ids are 16 random hex digits. (The same rule as @opentelemetry/id-generator-aws-xray, whose
 * releases still pin @opentelemetry/api below 1.10 and so break the dependency tree.)
 */
export const xrayIdGenerator = {
  generateTraceId: (): string =>
    Math.floor(Date.now() / 1000)
      .toString(16)
      .padStart(8, '0') + randomBytes(12).toString('hex'),
  generateSpanId: (): string => randomBytes(8).toString('hex'),
};

/**
 * Head sampling decided at the edge, for `OTEL_TRACES_SAMPLER=parentbased_traceidratio` with a
 * ratio below 1. A request from which the configured propagators extract no valid trace context
 * is a root (no `traceparent`; or, with xray, an `X-Amzn-Trace-Id` such as a load balancer's
 * `Root=…` alone, which names no parent and no decision): it is kept with the ratio's probability, and one that is
 * not kept is ignored by the http instrumentation, which runs it with tracing suppressed, so no
 * instrumentation below it (express, pg, Redis, AWS SDK, the envelope spans) does any work for it.
 * Deciding there instead of in the SDK's sampler is what makes unsampled requests nearly free
 * (docs/performance.md, Tracing): the sampler is asked only after the http instrumentation has
 * computed the server span's attributes, and every child would again be made and dropped. A
 * request with trace context is left to the parent-based sampler, and roots that are not HTTP
 * requests (the scheduled jobs) to the ratio. Such an unsampled request has no trace id; its log
 * lines and audit event join by request id, as they always do.
 *
 * A caller's sampled flag is honoured only under the same ratio: a remote parent that says
 * "sampled" goes to the trace-id ratio sampler (OpenTelemetry's ParentBased with
 * remoteParentSampled: TraceIdRatioBased), so no caller can make the service trace, and export,
 * more than the ratio by sending `traceparent: …-01` on every request. The decision follows the
 * trace id, so a caller that samples by the same ratio finds its kept traces continued here. A
 * caller's unsampled flag is always followed; either way, a request left out keeps the
 * caller's trace id in its log lines and audit event, with no span of this service exported.
 *
 * Returns the sampler the SDK then uses and the edge's test, or undefined for any other sampler
 * setting (the SDK then reads OTEL_TRACES_SAMPLER itself).
 */
export function edgeSampling(
  env: NodeJS.ProcessEnv,
  random: () => number = Math.random,
): { sampler: SdkTrace.Sampler; dropAtEdge: (request: Pick<IncomingMessage, 'headers'>) => boolean } | undefined {
  if (env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() !== 'parentbased_traceidratio') return undefined;
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  if (!Number.isFinite(ratio) || ratio < 0 || ratio >= 1) return undefined;
  const trace = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace');
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { SpanKind } = api;
  const byRatio = new trace.TraceIdRatioBasedSampler(ratio);
  /** The caller's trace context, as the propagators the SDK registered read it (what the http instrumentation would continue). */
  const callerContext = (headers: IncomingMessage['headers']) =>
    api.trace.getSpanContext(api.propagation.extract(api.ROOT_CONTEXT, headers));
  /** Root server spans were already sampled at the edge; other roots by the ratio. */
  const root: SdkTrace.Sampler = {
    shouldSample: (context, traceId, _name, kind) =>
      kind === SpanKind.SERVER ? { decision: trace.SamplingDecision.RECORD_AND_SAMPLED } : byRatio.shouldSample(context, traceId),
    toString: () => `EdgeDecidedRoot{${byRatio.toString()}}`,
  };
  return {
    sampler: new trace.ParentBasedSampler({ root, remoteParentSampled: byRatio }),
    dropAtEdge: (request) => {
      const caller = callerContext(request.headers);
      return !(caller && api.isSpanContextValid(caller)) && random() >= ratio;
    },
  };
}

function startTracing(env: NodeJS.ProcessEnv): Sdk.NodeSDK {
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { ExpressInstrumentation, ExpressLayerType } =
    require('@opentelemetry/instrumentation-express') as typeof import('@opentelemetry/instrumentation-express');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const { RedisInstrumentation } = require('@opentelemetry/instrumentation-redis') as typeof import('@opentelemetry/instrumentation-redis');
  const { AwsInstrumentation } =
    require('@opentelemetry/instrumentation-aws-sdk') as typeof import('@opentelemetry/instrumentation-aws-sdk');

  const edge = edgeSampling(env);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ? undefined : DEFAULT_SERVICE_NAME,
    ...(edge && { sampler: edge.sampler }),
    // Traces only: metrics stay on /metrics (Prometheus), logs on stdout.
    metricReaders: [],
    logRecordProcessors: [],
    ...xrayOptions(env),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? '') || (edge?.dropAtEdge(request) ?? false),
        // Outgoing calls (JWKS, KMS) are traced only inside a request or job that is.
        requireParentforOutgoingSpans: true,
      }),
      // Route and request-handler layers only: a span per middleware would cost more than it tells.
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
      new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true, ignoreConnectSpans: true }),
      new RedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
      // The KMS call is one span; its HTTP exchange is not traced again underneath.
      new AwsInstrumentation({ suppressInternalInstrumentation: true }),
    ],
  });
  sdk.start();
  // Nest 12 is ECMAScript modules: its `import 'express'` bypasses the require hook the express
  // instrumentation patches through. Loading express here, once that hook is in place, patches
  // the one CommonJS instance that Nest's import then gets from the module cache.
  require('express');
  // Spans still buffered are sent before the process ends (SIGTERM drains through src/main.ts first).
  process.once('beforeExit', () => void sdk.shutdown());
  return sdk;
}

/** The running SDK, or undefined when tracing is off. */
export const tracing: Sdk.NodeSDK | undefined = tracingEnabled() ? startTracing(process.env) : undefined;

/** Flushes and stops tracing (graceful shutdown); nothing to do when it is off. */
export async function stopTracing(): Promise<void> {
  await tracing?.shutdown();
}
