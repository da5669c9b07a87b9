import { Cluster } from './cluster';
import { FaultWindow } from './faults';
import type { ProcessSample } from './main';
import { Ledger, Person, Sample } from './workload';

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

interface Inputs {
  cluster: Cluster;
  ledger: Ledger;
  windows: Array<FaultWindow & { detail?: unknown; figures?: RestartFigures }>;
  processSamples: ProcessSample[];
  openapi: any;
  readme: string;
  boundS: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN;
};
const quantile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
};

/** Requests the workload makes to be refused (a person's data as another's; a revoked token): not counted as non-2xx. */
const REFUSED_BY_DESIGN = new Set(['cross-person', 'revoked-use']);

/**
 * How the service refuses a person whose keys were deleted: 409 KEY005 while they are pending
 * deletion (the DELETE's window, SHRED_PENDING_DAYS), 404 KEY001 once destroyed. The workload asks
 * for both by design (decrypts racing a deletion, and the check of every ciphertext afterwards).
 */
const isDeletedPersonRefusal = (status: number, code?: string) =>
  (status === 404 && code === 'KEY001') || (status === 409 && code === 'KEY005');

/** What the requests sent during a rolling restart got (the figures docs/reliability.md shows). */
export interface RestartFigures {
  requests: number;
  /** Requests sent per second during the restarts (what the driver achieved, not what it asked for). */
  perSecond: number;
  /** No answer: the connection failed and the retry policy did not repeat the request (or the repeats failed too). */
  failed: number;
  /** The failed ones by "operation error" (e.g. "rotate ECONNRESET", "decrypt TimeoutError": the caller's 30 s). */
  failedBy: Record<string, number>;
  /** Non-2xx answers by "status code", those the workload asks for by design excluded. */
  non2xx: Record<string, number>;
  /** Of those, the ones the issue allows: 429 and 503 with Retry-After. */
  allowed: number;
  /** Requests the typed client sent more than once (after a failed connection, or a 429/503 as its policy allows). */
  repeated: number;
}

export function restartFigures(samples: Sample[], window: { start: number; end: number }): RestartFigures {
  const during = samples.filter((s) => s.t >= window.start && s.t <= window.end);
  const non2xx: Record<string, number> = {};
  let allowed = 0;
  for (const s of during) {
    if (s.status === 0 || (s.status >= 200 && s.status < 300)) continue;
    if (REFUSED_BY_DESIGN.has(s.op) || isDeletedPersonRefusal(s.status, s.code)) continue;
    const key = `${s.status} ${s.code ?? ''}`.trim();
    non2xx[key] = (non2xx[key] ?? 0) + 1;
    if ((s.status === 429 || s.status === 503) && s.retryAfter !== undefined) allowed++;
  }
  const failedBy: Record<string, number> = {};
  for (const s of during.filter((s) => s.status === 0)) failedBy[`${s.op} ${s.error}`] = (failedBy[`${s.op} ${s.error}`] ?? 0) + 1;
  return {
    requests: during.length,
    perSecond: Number((during.length / Math.max(1, window.end - window.start)).toFixed(1)),
    failed: during.filter((s) => s.status === 0).length,
    failedBy,
    non2xx,
    allowed,
    repeated: during.filter((s) => s.attempts > 1).length,
  };
}

export async function runChecks({ cluster, ledger, windows, processSamples, openapi, readme, boundS }: Inputs): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (name: string, pass: boolean, detail: string) => checks.push({ name, pass, detail });
  const inWindow = (t: number, bound = boundS) => windows.some((w) => t >= w.start - 1 && t <= w.end + bound);

  // 1. Every ciphertext ever returned decrypts to its plaintext; a deleted person's are refused (KEY005 pending, KEY001 destroyed).
  const verifier = cluster.token('soak-verifier');
  let decrypted = 0;
  let shreddedRefused = 0;
  const failures: string[] = [];
  const verifyPerson = async (person: Person) => {
    const items = [...person.items];
    for (let i = 0; i < items.length; i += 1000) {
      const chunk = items.slice(i, i + 1000);
      const response = await fetch(`${cluster.url}/api/v1/decrypt`, {
        method: 'POST',
        headers: { authorization: `Bearer ${verifier}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: person.id, data: chunk.map(([ct]) => ct) }),
      });
      const body: any = await response.json();
      if (person.shreddedAt !== undefined) {
        if (isDeletedPersonRefusal(response.status, body.code)) shreddedRefused += chunk.length;
        else failures.push(`shredded ${person.id}: ${response.status} ${body.code ?? ''}`);
        return;
      }
      if (response.status !== 200) {
        failures.push(`${person.id}: ${response.status} ${body.code ?? ''}`);
        continue;
      }
      chunk.forEach(([, pt], j) => (body.decryptedData[j] === pt ? decrypted++ : failures.push(`${person.id}[${i + j}] wrong plaintext`)));
    }
  };
  const people = [...ledger.people.values()].filter((p) => p.items.size > 0 || p.shreddedAt !== undefined);
  for (let i = 0; i < people.length; i += 4) await Promise.all(people.slice(i, i + 4).map(verifyPerson));
  add(
    'every ciphertext still decrypts to its plaintext; a deleted person’s are refused (409 KEY005 pending deletion, 404 KEY001 destroyed)',
    failures.length === 0,
    `${decrypted} ciphertexts decrypted correctly, ${shreddedRefused} of deleted people refused, ${failures.length} failures${failures.length ? `: ${failures.slice(0, 5).join('; ')}` : ''}`,
  );

  // 2. No plaintext to the wrong person or after a shredding.
  add(
    'no plaintext answered to the wrong person or after a shredding',
    ledger.wrongPlaintexts.length + ledger.afterShred.length + ledger.crossPerson.length === 0,
    `${ledger.counts['cross-person'] ?? 0} cross-person probes, ${ledger.crossPerson.length} answered with plaintext; ${ledger.wrongPlaintexts.length} wrong plaintexts; ${ledger.afterShred.length} decrypts answered after a shred`,
  );
  add(
    'a revoked token is refused on every replica',
    ledger.revokedAccepted.length === 0,
    `${ledger.stateChanges.filter((c) => c.action === 'token.revoke').length} tokens revoked, ${ledger.revokedAccepted.length} accepted afterwards`,
  );

  // 3. Every status is a documented one (the OpenAPI document's responses and README's codes).
  const codes = new Map<string, string>();
  for (const [, code, status] of readme.matchAll(/^\| ([A-Z]+\d{3}) \| (\d{3})/gm)) codes.set(code, status);
  const undocumented = new Map<string, number>();
  for (const s of ledger.samples) {
    if (s.status === 0) continue;
    const responses = openapi.paths?.[s.route]?.[s.method.toLowerCase()]?.responses ?? {};
    const ok = String(s.status) in responses && (!s.code || codes.has(s.code));
    if (!ok) {
      const key = `${s.method} ${s.route} ${s.status} ${s.code ?? ''}`;
      undocumented.set(key, (undocumented.get(key) ?? 0) + 1);
    }
  }
  const burstStatuses = windows.filter((w) => w.name === 'burst').map((w) => w.detail as Record<string, number>);
  for (const statuses of burstStatuses)
    for (const [status, n] of Object.entries(statuses))
      if (!(status in (openapi.paths['/api/v1/encrypt']?.post?.responses ?? {}))) undocumented.set(`burst ${status}`, n);
  const statusCounts: Record<string, number> = {};
  for (const s of ledger.samples) statusCounts[s.status] = (statusCounts[s.status] ?? 0) + 1;
  add(
    'every answer’s status and code is documented',
    undocumented.size === 0,
    `statuses ${JSON.stringify(statusCounts)} (0: transport failure); burst ${JSON.stringify(burstStatuses)}; undocumented: ${undocumented.size ? JSON.stringify(Object.fromEntries(undocumented)) : 'none'}`,
  );

  // 4. 503 SYS002 (and transport failures) only inside a fault window plus the recovery bound.
  const sys002 = ledger.samples.filter((s) => s.status === 503);
  const stray503 = sys002.filter((s) => !inWindow(s.t));
  add(
    `503 SYS002 only inside a fault window + ${boundS} s`,
    stray503.length === 0 && sys002.every((s) => s.code === 'SYS002'),
    `${sys002.length} answers 503 (${sys002.filter((s) => s.code === 'SYS002').length} SYS002), ${stray503.length} outside the windows${
      stray503.length
        ? ` (at t=${stray503
            .slice(0, 5)
            .map((s) => `${s.t.toFixed(1)} s ${s.op}`)
            .join(', ')})`
        : ''
    }`,
  );
  const transport = ledger.samples.filter((s) => s.status === 0 || s.status === 500);
  const strayTransport = transport.filter((s) => !inWindow(s.t));
  add(
    `connection failures and 500s only inside a fault window + ${boundS} s`,
    strayTransport.length === 0,
    `${transport.filter((s) => s.status === 0).length} connection failures and ${transport.filter((s) => s.status === 500).length} 500s; ${strayTransport.length} outside the windows`,
  );

  // 4b. A rolling restart loses nothing: no failed request, no non-2xx but 429/503 with Retry-After.
  for (const w of windows.filter((w) => w.figures)) {
    const f = w.figures!;
    const non2xx = Object.values(f.non2xx).reduce((a, b) => a + b, 0);
    add(
      `${w.name}: 0 failed requests and no non-2xx but 429/503 with Retry-After`,
      f.requests > 0 && f.failed === 0 && non2xx === f.allowed,
      `${f.requests} requests sent during the restarts (${w.start.toFixed(1)}–${w.end.toFixed(1)} s, ${f.perSecond}/s), ${f.failed} failed ${JSON.stringify(f.failedBy)}, non-2xx ${JSON.stringify(f.non2xx)} (${f.allowed} of them 429/503 with Retry-After), ${f.repeated} repeated by the client's retry policy`,
    );
  }

  // 5. Key versions contiguous, one history row each.
  const rows = await cluster.database.query<{ user_id: string; key_version: number; key: string | null; versions: number[] | null }>(
    `SELECT k.user_id::text, k.key_version, k.key, array_agg(h.key_version ORDER BY h.key_version) FILTER (WHERE h.key_version IS NOT NULL) AS versions
       FROM user_keys k LEFT JOIN user_key_history h ON h.user_id = k.user_id GROUP BY k.user_id, k.key_version, k.key`,
  );
  const broken: string[] = [];
  for (const row of rows) {
    const versions = row.versions ?? [];
    const expected = Array.from({ length: row.key_version }, (_, i) => i + 1);
    const without = expected.slice(0, -1);
    const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
    if (!same(versions, expected) && !same(versions, without))
      broken.push(`${row.user_id}: current ${row.key_version}, history [${versions.join(',')}]`);
  }
  const rotated = rows.filter((r) => r.key_version > 1).length;
  add(
    'each person’s key versions are contiguous, one history row each',
    broken.length === 0 && rows.length > 0,
    `${rows.length} people (${rotated} rotated, highest version ${Math.max(0, ...rows.map((r) => r.key_version))}); ${broken.length} broken${broken.length ? `: ${broken.slice(0, 5).join('; ')}` : ''}`,
  );

  // 6. The audit trail is intact (full walk) and every state change has its event.
  const verify = await fetch(`${cluster.url}/api/v1/audit/verify?full=true`, {
    headers: { authorization: `Bearer ${cluster.token('soak-auditor')}` },
  });
  const verified: any = await verify.json();
  add(
    '/audit/verify?full=true is intact',
    verify.status === 200 && verified.ok === true,
    `${verify.status} ${JSON.stringify(verified).slice(0, 300)}`,
  );
  const ids = ledger.stateChanges.map((c) => c.requestId);
  const events = await cluster.database.query<{ request_id: string; action: string }>(
    `SELECT request_id, action FROM audit_events WHERE outcome = 'success' AND request_id = ANY($1)`,
    [ids],
  );
  const recorded = new Set(events.map((e) => `${e.request_id} ${e.action}`));
  const missing = ledger.stateChanges.filter((c) => !recorded.has(`${c.requestId} ${c.action}`));
  const byAction: Record<string, number> = {};
  for (const c of ledger.stateChanges) byAction[c.action] = (byAction[c.action] ?? 0) + 1;
  add(
    'every state change has its audit event',
    missing.length === 0,
    `${ledger.stateChanges.length} state changes answered 2xx ${JSON.stringify(byAction)}; ${missing.length} without a success event${
      missing.length
        ? `: ${missing
            .slice(0, 5)
            .map((m) => m.action)
            .join(', ')}`
        : ''
    }`,
  );

  // 7. Memory after the last fault back within 20 % of before the faults (service-a: never restarted).
  const firstFault = Math.min(...windows.map((w) => w.start));
  const lastFault = Math.max(...windows.map((w) => w.end));
  const end = Math.max(...processSamples.map((s) => s.t));
  for (const service of cluster.services) {
    const rss = (from: number, to: number) =>
      median(processSamples.filter((s) => s.service === service.name && s.t >= from && s.t < to && s.rssMiB).map((s) => s.rssMiB!));
    const heap = (from: number, to: number) =>
      median(
        processSamples.filter((s) => s.service === service.name && s.t >= from && s.t < to && s.heapUsedMiB).map((s) => s.heapUsedMiB!),
      );
    const before = rss(firstFault - 20, firstFault);
    const after = rss(Math.max(lastFault, end - 20), end + 1);
    const heapBefore = heap(firstFault - 20, firstFault);
    const heapAfter = heap(Math.max(lastFault, end - 20), end + 1);
    const change = (after - before) / before;
    const restarted = service.restarts > 0;
    add(
      `resident memory of ${service.name} after the faults within 20 % of before${restarted ? ' (restarted by the SIGTERM fault: reported, not judged)' : ''}`,
      restarted || Math.abs(change) <= 0.2,
      `median RSS ${before.toFixed(0)} MiB in the 20 s before the first fault, ${after.toFixed(0)} MiB in the last 20 s after the last fault (${(change * 100).toFixed(1)} %); V8 heap used ${heapBefore.toFixed(0)} → ${heapAfter.toFixed(0)} MiB`,
    );
  }

  // 8. Event-loop lag p99 under 100 ms outside fault windows (prom-client's per-scrape p99, every 2 s).
  const quiet = processSamples.filter((s) => s.lagP99Ms !== undefined && !inWindow(s.t));
  const lags = quiet.map((s) => s.lagP99Ms!);
  const p99 = quantile(lags, 0.99);
  add(
    'event-loop lag p99 under 100 ms outside fault windows',
    lags.length > 0 && p99 < 100,
    `${lags.length} scrapes outside the windows: p99 ${p99.toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms (per-scrape nodejs_eventloop_lag_p99_seconds)`,
  );
  return checks;
}
