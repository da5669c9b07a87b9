import { S3Client } from '@aws-sdk/client-s3';
import type { JSONWebKeySet } from 'jose';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { BrokenLink, brokenAt, ChainAnchor, ChainVerifier, SealedAuditEvent } from '../audit/audit-chain';
import { CheckpointDigest, cutPoints, digestId, digestName, verifyDigest } from '../audit/checkpoint-anchor';
import { DirectoryDocuments, S3Documents, WriteOnceDocuments } from '../shred-log/write-once-documents';
import { loadKeySet } from './key-set';

const DEFAULT_JWKS = 'http://localhost:3000/.well-known/receipt-keys.json';
const USAGE = `usage: npm run verify-audit-offline -- --events <export.jsonl> --anchors <directory | s3://bucket/prefix/checkpoints/>
         [--jwks <url or file>] (default ${DEFAULT_JWKS}) [--endpoint <S3 endpoint URL>] [--region <AWS region>]`;

class UsageError extends Error {}

/** The anchored digests' place: a directory (`<SHRED_LOG_DIR>/checkpoints`) or an S3 prefix (`s3://<SHRED_LOG_BUCKET>/<SHRED_LOG_PREFIX>checkpoints/`). */
function anchorStore(location: string, endpoint: string | undefined, region: string | undefined): WriteOnceDocuments {
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (!s3) return new DirectoryDocuments(location);
  const client = new S3Client({ region: region ?? process.env.AWS_REGION ?? 'us-east-1', endpoint, forcePathStyle: Boolean(endpoint) });
  return new S3Documents(client, s3[1], s3[2] && !s3[2].endsWith('/') ? `${s3[2]}/` : s3[2]);
}

/**
 * The export's events: JSON lines, each an event as GET /api/v1/audit answers it (the items of
 * `events`), a whole page of GET /api/v1/audit (`{"events": […], "nextCursor"}`), or an audit log
 * line (`{"context":"Audit","audit":{…}}`, the SIEM copy). Any order; blank lines are skipped.
 */
async function readExport(file: string): Promise<Map<string, SealedAuditEvent[]>> {
  const chains = new Map<string, SealedAuditEvent[]>();
  let number = 0;
  for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
    number++;
    if (!line.trim()) continue;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new UsageError(`${file}:${number} is not a line of JSON`);
    }
    const events = json.audit ? [json.audit] : Array.isArray(json.events) ? json.events : [json];
    for (const event of events as SealedAuditEvent[]) {
      if (typeof event?.chainId !== 'string' || !Number.isSafeInteger(event.seq) || typeof event.hash !== 'string') {
        throw new UsageError(`${file}:${number} holds something that is not an audit event (chainId, seq, hash)`);
      }
      const chain = chains.get(event.chainId) ?? [];
      chain.push({ ...event, traceId: event.traceId ?? null });
      chains.set(event.chainId, chain);
    }
  }
  for (const chain of chains.values()) chain.sort((a, b) => a.seq - b.seq);
  return chains;
}

/** Every digest, 1 to the newest, each signed by a published key and naming the one before it. */
async function readDigests(store: WriteOnceDocuments, keys: JSONWebKeySet): Promise<{ digests: CheckpointDigest[]; problem?: string }> {
  const digests: CheckpointDigest[] = [];
  let previous: string | undefined;
  for (let number = 1; ; number++) {
    const jws = await store.read(digestName(number));
    if (jws === undefined) return { digests };
    let digest: CheckpointDigest;
    try {
      digest = await verifyDigest(jws, number, keys);
    } catch (error) {
      return { digests, problem: `digest ${number} (${digestName(number)}) does not verify: ${(error as Error).message}` };
    }
    if (previous !== undefined && digest.previous !== digestId(previous)) {
      return { digests, problem: `digest ${number} does not name digest ${number - 1} as the one before it` };
    }
    digests.push(digest);
    previous = jws.trim();
  }
}

/** Walks every chain of the export from its start, against the newest digest's checkpoints, then every older anchored checkpoint. */
function verifyExport(chains: Map<string, SealedAuditEvent[]>, digests: CheckpointDigest[]) {
  const all = [...chains.values()].flat();
  const anchors = all.flatMap((event) =>
    event.action === 'audit.purge' && Array.isArray(event.details?.anchors) ? (event.details.anchors as ChainAnchor[]) : [],
  );
  const verifier = new ChainVerifier(anchors, digests.at(-1)?.checkpoints ?? [], 'full');
  const walk = (): BrokenLink | undefined => {
    for (const chainId of [...chains.keys()].sort()) {
      for (const event of chains.get(chainId)!) {
        const broken = verifier.accept(event);
        if (broken) return broken;
      }
      const broken = verifier.endChain(chainId);
      if (broken) return broken;
    }
    return verifier.endTrail();
  };
  const olderCheckpoints = (): BrokenLink | undefined => {
    const cutAt = cutPoints(anchors);
    const bySeq = new Map(all.map((event) => [`${event.chainId}/${event.seq}`, event]));
    for (const digest of digests) {
      for (const checkpoint of digest.checkpoints) {
        if (checkpoint.seq < (cutAt.get(checkpoint.chainId) ?? 1)) continue;
        const event = bySeq.get(`${checkpoint.chainId}/${checkpoint.seq}`);
        if (event?.id !== checkpoint.eventId || event.hash !== checkpoint.hash) {
          return brokenAt({ chainId: checkpoint.chainId, seq: checkpoint.seq, id: checkpoint.eventId }, 'checkpoint-anchor-mismatch');
        }
      }
    }
    return undefined;
  };
  const brokenLink = walk() ?? olderCheckpoints();
  return { ok: !brokenLink, chains: verifier.chains, events: verifier.events, digests: digests.length, ...(brokenLink && { brokenLink }) };
}

/**
 * `npm run verify-audit-offline -- --events <export> --anchors <dir|s3://…> [--jwks <url|file>]`:
 * checks an export of the audit trail (docs/audit.md, "Offline verification") without the
 * service: every chain from its start, every signed checkpoint digest in the anchor store (its
 * signature by a published receipt-signing key, its link to the digest before it), and every
 * anchored checkpoint against the export's event at its place. Exit 0 when all hold, 1 with the
 * first broken link or digest, 2 on a usage or read error.
 */
async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const events = option('events');
  const anchors = option('anchors');
  if (!events || !anchors) throw new UsageError(USAGE);
  const keys = await loadKeySet(option('jwks') ?? DEFAULT_JWKS);
  const { digests, problem } = await readDigests(anchorStore(anchors, option('endpoint'), option('region')), keys);
  if (problem) {
    process.stdout.write(`${JSON.stringify({ ok: false, digests: digests.length, anchorProblem: problem })}\n`);
    return 1;
  }
  const result = verifyExport(await readExport(events), digests);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return result.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error)?.message ?? error}\n`);
    process.exit(2);
  },
);
