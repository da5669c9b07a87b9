import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { waitFor } from '../../support/processes';

/** One span as the receiver got it, with its attributes as a plain object. */
export interface CapturedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  /** The instrumentation scope that made it (e.g. @opentelemetry/instrumentation-pg). */
  scope: string;
  service: string;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
}

type OtlpValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
};
type OtlpAttribute = { key: string; value: OtlpValue };

function valueOf(value: OtlpValue): unknown {
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(valueOf);
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.stringValue ?? value.doubleValue ?? value.boolValue;
}

const attributesOf = (list: OtlpAttribute[] = []) => Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/**
 * A real OTLP/HTTP trace receiver on loopback (`POST /v1/traces`, JSON encoding: the service
 * runs with OTEL_EXPORTER_OTLP_PROTOCOL=http/json). It keeps every span and every raw body, so a
 * test can check the shape of a trace and search everything that left the service.
 */
export class OtlpReceiver {
  readonly spans: CapturedSpan[] = [];
  /** Every request body as received: what a collector would see. */
  readonly bodies: string[] = [];

  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const receiver = new OtlpReceiver(server, `http://127.0.0.1:${port}`);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void receiver.handle(request, response));
    return receiver;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    if (request.method !== 'POST' || request.url !== '/v1/traces' || !String(request.headers['content-type']).includes('json')) {
      response.writeHead(415).end();
      return;
    }
    this.bodies.push(body);
    const payload = JSON.parse(body) as {
      resourceSpans?: Array<{
        resource?: { attributes?: OtlpAttribute[] };
        scopeSpans?: Array<{ scope?: { name?: string }; spans?: Array<Record<string, any>> }>;
      }>;
    };
    for (const resourceSpans of payload.resourceSpans ?? []) {
      const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name']);
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          this.spans.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind,
            scope: scopeSpans.scope?.name ?? '',
            service,
            startNs: BigInt(span.startTimeUnixNano),
            endNs: BigInt(span.endTimeUnixNano),
            attributes: attributesOf(span.attributes),
            status: span.status ?? {},
          });
        }
      }
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }

  trace(traceId: string): CapturedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  /** Waits until the trace's spans stop arriving and `ready` holds for them. */
  async waitForTrace(traceId: string, ready: (spans: CapturedSpan[]) => boolean, timeoutMs = 20_000): Promise<CapturedSpan[]> {
    await waitFor(
      `trace ${traceId}`,
      async () => {
        if (!ready(this.trace(traceId))) throw new Error(`${this.trace(traceId).length} spans so far`);
      },
      timeoutMs,
    );
    return this.trace(traceId);
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The ancestors of a span within its trace, nearest first. */
export function ancestors(spans: CapturedSpan[], span: CapturedSpan): CapturedSpan[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const found: CapturedSpan[] = [];
  for (
    let parent = span.parentSpanId && byId.get(span.parentSpanId);
    parent;
    parent = parent.parentSpanId && byId.get(parent.parentSpanId)
  ) {
    found.push(parent);
  }
  return found;
}

/** The spans as JSON that survives bigint times (for docs/observability.md's waterfall). */
export function spansToJson(spans: CapturedSpan[]): string {
  return JSON.stringify(
    spans.map((span) => ({ ...span, startNs: span.startNs.toString(), endNs: span.endNs.toString() })),
    null,
    2,
  );
}
