import { Attributes, Span, SpanStatusCode, trace } from '@opentelemetry/api';

const tracer = trace.getTracer('pii-encryption-api/crypto');

/** Span attributes of a batch: how much work it was, never what it held. */
export const BATCH_ITEMS = 'pii.batch.items';
export const KEY_VERSIONS = 'pii.key.versions';

/**
 * Runs one step of a batch in a span: `crypto.encrypt` / `crypto.decrypt` around the whole
 * operation (key lookup, KMS, envelope), `envelope.encrypt` / `envelope.decrypt` around the
 * envelope's CPU work. Attributes say how much work it was: the item count and the key
 * versions. Nothing else of the batch: never a plaintext, ciphertext, key, nor an error's
 * message (an error is recorded by its code or type). A no-op when tracing is off (src/tracing.ts).
 */
export async function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T> | T): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : (error as Error)?.name });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The distinct key versions of a batch, ascending. */
export function versionsOf(versions: Iterable<number>): number[] {
  return [...new Set(versions)].sort((a, b) => a - b);
}
