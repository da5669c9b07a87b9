import { createServer, IncomingMessage, Server } from 'node:http';

/**
 * An HTTP proxy in front of a real KMS endpoint (moto) that can fail chosen KMS operations
 * (by X-Amz-Target, e.g. "TrentService.Encrypt") with a 500 KMSInternalException, or hold them
 * unanswered until released, so a test can break or stall KMS in the middle of an operation
 * deterministically.
 */
export class KmsFaultProxy {
  readonly failing = new Set<string>();
  readonly calls: string[] = [];
  private readonly holding = new Set<string>();
  private held: Array<() => void> = [];
  private server?: Server;
  endpoint = '';

  constructor(private readonly upstream: string) {}

  async start(): Promise<this> {
    this.server = createServer(async (request, response) => {
      const body = await readBody(request);
      const operation = String(request.headers['x-amz-target'] ?? '').replace('TrentService.', '');
      this.calls.push(operation);
      if (this.holding.has(operation)) await new Promise<void>((release) => this.held.push(release));
      if (this.failing.has(operation)) {
        response.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify({ __type: 'KMSInternalException', message: 'injected fault' }));
        return;
      }
      const headers = Object.fromEntries(
        Object.entries(request.headers).filter(([name]) => !['host', 'content-length', 'connection'].includes(name)),
      ) as Record<string, string>;
      const upstream = await fetch(`${this.upstream}${request.url}`, { method: request.method, headers, body });
      response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      response.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  /** Calls of `operation` wait unanswered until `release`. */
  hold(operation: string): void {
    this.holding.add(operation);
  }

  /** Lets every held call through, and holds no more. */
  release(): void {
    this.holding.clear();
    for (const release of this.held.splice(0)) release();
  }

  async stop(): Promise<void> {
    this.release();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
