import { createServer, IncomingMessage, Server } from 'node:http';

/** moto's ciphertext blob starts with the 36 bytes of the id of the key that sealed it (moto/kms/utils.py). */
const MOTO_KEY_ID_BYTES = 36;

/** One call that reached the proxy: the operation, the region it was signed for, and the KeyId it named. */
export interface KmsCall {
  operation: string;
  region: string | null;
  keyId: string | null;
  /** ReEncrypt's SourceKeyId (null for other operations, or when not named). */
  sourceKeyId?: string | null;
}

/**
 * An HTTP proxy in front of a real KMS endpoint (moto) that can fail chosen KMS operations
 * (by X-Amz-Target, e.g. "TrentService.Encrypt") with a 500 KMSInternalException or a 400
 * ThrottlingException, or hold them unanswered until released, so a test can break or stall KMS
 * in the middle of an operation deterministically. It also plays one thing moto leaves out:
 * moto records DisableKey but still decrypts under a disabled key; for the keys given to
 * `disable`, Decrypt and ReEncrypt of their ciphertexts answer DisabledException, as KMS does.
 */
export class KmsFaultProxy {
  readonly failing = new Set<string>();
  readonly throttling = new Set<string>();
  /** Operations refused as AWS refuses a call the role may not make: an AccessDeniedException naming the role and the key's ARN. */
  readonly denying = new Set<string>();
  readonly calls: string[] = [];
  readonly log: KmsCall[] = [];
  /** Raw key ids (not ARNs) whose ciphertexts are refused as KMS refuses a disabled key's. */
  readonly disabled = new Set<string>();
  /**
   * When set, a KeyId, SourceKeyId or DestinationKeyId naming a key ARN of another region than the
   * one the call was signed for is refused as KMS refuses it (NotFoundException "Invalid arn"):
   * moto looks keys up by their bare id and would accept it.
   */
  refuseOtherRegions = false;
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
      const params = parse(body);
      const region = /Credential=[^/]+\/\d{8}\/([^/]+)\/kms\//.exec(String(request.headers.authorization ?? ''))?.[1] ?? null;
      this.log.push({
        operation,
        region,
        keyId: typeof params.KeyId === 'string' ? params.KeyId : null,
        sourceKeyId: typeof params.SourceKeyId === 'string' ? params.SourceKeyId : null,
      });
      if (this.holding.has(operation)) await new Promise<void>((release) => this.held.push(release));
      const refuse = (status: number, type: string, message: string) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify({ __type: type, message }));
      };
      if (this.refuseOtherRegions) {
        const elsewhere = [params.KeyId, params.SourceKeyId, params.DestinationKeyId]
          .map((id) => (typeof id === 'string' ? /^arn:aws[\w-]*:kms:([^:]+):/.exec(id)?.[1] : undefined))
          .find((keyRegion) => keyRegion !== undefined && keyRegion !== region);
        if (elsewhere) return refuse(400, 'NotFoundException', `Invalid arn ${elsewhere}`);
      }
      if (this.failing.has(operation)) return refuse(500, 'KMSInternalException', 'injected fault');
      if (this.throttling.has(operation)) return refuse(400, 'ThrottlingException', 'Rate exceeded (injected)');
      if (this.denying.has(operation)) return refuse(400, 'AccessDeniedException', accessDenied(operation, params.KeyId));
      const sealedUnder =
        typeof params.CiphertextBlob === 'string'
          ? Buffer.from(params.CiphertextBlob, 'base64').subarray(0, MOTO_KEY_ID_BYTES).toString('utf8')
          : null;
      if (sealedUnder && this.disabled.has(sealedUnder) && ['Decrypt', 'ReEncrypt'].includes(operation)) {
        return refuse(400, 'DisabledException', `${sealedUnder} is disabled.`);
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

/** The account of the role and key in `accessDenied`'s message. */
export const DENIED_ACCOUNT = '123456789012';

/** KMS's AccessDeniedException message, as AWS words it: the caller's role and the key, by ARN. */
function accessDenied(operation: string, keyId: unknown): string {
  const key = typeof keyId === 'string' && keyId.startsWith('arn:') ? keyId : `arn:aws:kms:us-east-1:${DENIED_ACCOUNT}:key/${keyId}`;
  return (
    `User: arn:aws:sts::${DENIED_ACCOUNT}:assumed-role/pii-encryption-api/botocore-session-1 is not authorized to perform: ` +
    `kms:${operation} on resource: ${key} because no identity-based policy allows the kms:${operation} action`
  );
}

function parse(body: Buffer): Record<string, unknown> {
  try {
    return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
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
