import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../bench/service';
import { renderTimeline, TimelineInput } from './chart';
import type { RestartFigures } from './checks';
import { READINESS_INTERVAL_MS, SHUTDOWN_DELAY_MS } from './cluster';
import { ROLLING_RESTART_ROUNDS } from './faults';

interface Results extends TimelineInput {
  startedAt: string;
  minutes: number;
  rate: number;
  mix: string;
  faults: string[];
  requests: number;
  people: number;
  ciphertexts: number;
  shredded: number;
  operations: Record<string, number>;
  windows: Array<{
    name: string;
    what: string;
    start: number;
    end: number;
    detail?: unknown;
    failedDuring?: number;
    failedAfter?: number;
    recoveredAfterS?: number;
    figures?: RestartFigures;
  }>;
  checks: Array<{ name: string; pass: boolean; detail: string }>;
}

const SECTION_START = '<!-- rolling-restart:start -->';
const SECTION_END = '<!-- rolling-restart:end -->';
const DOC = join(ROOT, 'docs', 'reliability.md');

/** The rolling-restart section of docs/reliability.md, from the run that restarted (markers included). */
function rollingRestartSection(results: Results): string[] {
  const windows = results.windows.filter((w) => w.figures);
  const command =
    results.faults.length === 1
      ? `\`npm run soak -- --minutes ${results.minutes} --rate ${results.rate} --faults ${results.faults[0]} --mix ${results.mix}\``
      : '`npm run soak`';
  return [
    SECTION_START,
    '## Rolling restart',
    '',
    `Each service process in turn is sent SIGTERM, awaited, started again, and the next one is stopped only`,
    `once the front proxy routes to the restarted one (a Deployment's rollout with \`maxUnavailable: 0\`);`,
    `${ROLLING_RESTART_ROUNDS} rounds, so ${ROLLING_RESTART_ROUNDS * 2} restarts under load. The front proxy is a load balancer's`,
    `health check in small: it polls \`/health/ready\` every ${READINESS_INTERVAL_MS} ms and opens new connections only to`,
    `processes that answered 200. A process told to stop turns unready at once, keeps serving for`,
    `\`SHUTDOWN_DELAY_MS\` (${SHUTDOWN_DELAY_MS} ms here) with \`Connection: close\` on every answer, so the callers' kept-alive`,
    'connections move to the other process, then closes its listener and its idle connections and lets the',
    "requests in flight finish (`SHUTDOWN_GRACE_MS`). The callers use the typed client's retry policy",
    '(`clients/typescript/src/retry-policy.ts`): a request whose connection failed is sent again only',
    'when it may run twice (encrypt, decrypt; never a rotation), and a 429 or a 503 with `Retry-After`',
    'is waited out. A request counts as failed when no answer came back in the end.',
    '',
    ...(windows.length
      ? [
          `Measured ${results.startedAt} by ${command}: ${results.rate} requests a second asked for, ${results.mix === 'crypto' ? 'encrypt and decrypt batches of 1 to 10 items, rotations (each makes an RSA key pair) and keys for new people' : 'the full mix'}.`,
          '',
          '| restarts (s) | requests sent during them (a second) | failed, by operation and error | non-2xx by code | of which 429/503 with Retry-After | sent more than once by the client | drains that reached SHUTDOWN_GRACE_MS |',
          '|---|--:|---|---|--:|--:|--:|',
          ...windows.map((w) => {
            const f = w.figures!;
            const codes =
              Object.entries(f.non2xx)
                .map(([code, n]) => `${code}: ${n}`)
                .join(', ') || 'none';
            const failed = Object.entries(f.failedBy ?? {})
              .map(([why, n]) => `${why}: ${n}`)
              .join(', ');
            const graceExceeded = (w.detail as { graceExceeded?: number } | undefined)?.graceExceeded;
            return `| ${w.start.toFixed(1)}–${w.end.toFixed(1)} | ${f.requests} (${f.perSecond}) | ${f.failed}${failed ? ` (${failed})` : ''} | ${codes} | ${f.allowed} | ${f.repeated} | ${graceExceeded ?? '–'} |`;
          }),
        ]
      : ['This run had no rolling restart.']),
    '',
    SECTION_END,
  ];
}

/** A partial run (some faults only): replaces the rolling-restart section of docs/reliability.md, nothing else. */
export function writeRollingRestartSection(results: Results): void {
  if (!results.windows.some((w) => w.figures)) return;
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf(SECTION_START);
  const end = doc.indexOf(SECTION_END);
  const section = rollingRestartSection(results).join('\n');
  writeFileSync(
    DOC,
    start >= 0 && end > start
      ? `${doc.slice(0, start)}${section}${doc.slice(end + SECTION_END.length)}`
      : `${doc.trimEnd()}\n\n${section}\n`,
  );
}

/** docs/reliability.md and its chart, from one soak's results. */
export function writeReport(results: Results): void {
  writeFileSync(join(ROOT, 'docs', 'reliability-timeline.svg'), renderTimeline(results));
  const passed = results.checks.filter((c) => c.pass).length;
  const lines = [
    '# Reliability: the soak',
    '',
    '`npm run soak` (never part of `npm test`; `SOAK_MINUTES` or `--minutes`, default 10; `SOAK_RATE` or `--rate`, default 60',
    'requests a second) starts two service processes in production configuration (`node dist/main`,',
    '`NODE_ENV=production`) sharing one fresh PostgreSQL database (through a TCP proxy that can cut it),',
    'a Redis of its own and KMS on moto behind `test/support/kms-fault-proxy.ts`, with tokens from',
    '`test/support/test-issuer.ts`, behind a loopback round-robin TCP proxy that opens new connections',
    'only to the processes its health check last saw ready. It drives a mixed workload through the typed',
    "client's retry policy (keys for new people; encrypt and decrypt batches of 1 to 1,000 items, with",
    'unicode and empty strings; nested `/rotate`; `/rewrap`; grants created, approved by two others and',
    'translated; cross-person decrypt probes; deletions (`DELETE /keys`, which puts the keys into pending',
    'deletion for `SHRED_PENDING_DAYS`: every later use of them must be refused); token revocations), injects the faults below',
    'on a schedule, then checks everything it recorded. The code is in `soak/`; this page and',
    '`soak/results.json` are written by the run (a partial run, `--faults …`, writes only its',
    '`soak/results-<faults>.json` and the rolling-restart section); the chart by `soak/chart.ts`.',
    '',
    'Two parts are played rather than real: a PostgreSQL *restart* is every connection through the',
    "proxy dropped and new ones refused for the window (the machine's PostgreSQL is shared and is",
    'never restarted), and the per-caller rate limit, the decrypt budget and the mass-destruction breaker',
    'are lifted (`RATE_LIMIT_PER_MINUTE=1000000`, `DECRYPT_SUBJECT_BUDGET=0`, `SHRED_MAX_PER_HOUR=1000000`)',
    'because the soak is one caller pool deleting about 70 people a minute.',
    '',
    `## The last run: ${results.startedAt}, ${results.minutes} min at ${results.rate} req/s — ${passed} of ${results.checks.length} checks passed`,
    '',
    `${results.requests} requests (${Object.entries(results.operations)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ')}); ${results.people} people, ${results.ciphertexts} ciphertexts recorded, ${results.shredded} people deleted.`,
    '',
    '![timeline](reliability-timeline.svg)',
    '',
    '| check | result | measured |',
    '|---|---|---|',
    ...results.checks.map((c) => `| ${c.name} | ${c.pass ? 'pass' : '**FAIL**'} | ${c.detail.replace(/\|/g, '\\|')} |`),
    '',
    '## Faults',
    '',
    '| fault | what | window (s) | 503 or connection failure: during / after | last one after the end |',
    '|---|---|---|---|---|',
    ...results.windows.map(
      (w) =>
        `| ${w.name} | ${w.what}${w.detail ? `; answers ${JSON.stringify(w.detail)}` : ''} | ${w.start.toFixed(1)}–${w.end.toFixed(1)} | ${w.failedDuring ?? 0} / ${w.failedAfter ?? 0} | ${w.recoveredAfterS ?? 0} s |`,
    ),
    '',
    `A 503 SYS002 or a connection failure counts as inside a fault when it was sent between a window's`,
    `start and ${results.recoveryBoundS} s after its end: the documented recovery bound (README "Running it reliably": a KMS`,
    'call is bounded by 15 s in all, an open circuit breaker lets a trial call through after',
    "`CIRCUIT_BREAKER_RESET_MS`, 10 s). Event-loop lag is prom-client's `nodejs_eventloop_lag_p99_seconds`",
    'scraped from each process every 2 s (the histogram is reset at each scrape); resident memory is',
    'VmRSS from /proc.',
    '',
    ...rollingRestartSection(results),
    '',
    '## Limits',
    '',
    '- The front proxy balances TCP connections, not requests, and retries nothing; only the typed',
    "  client's policy repeats a request. A request sent on a kept-alive connection just as a process",
    '  closes it is a connection failure unless that policy repeats it.',
    '- The memory check judges only the process that was never restarted; the other one is reported.',
    '- One machine of 2 cores runs both processes, moto, the proxies and the load, so latencies are',
    '  those of a shared box, not of the sizing in docs/operations.md.',
    '',
  ];
  writeFileSync(DOC, lines.join('\n').replace('\n## Limits\n', `${crashConsistencySection()}\n## Limits\n`));
}

/** The crash-consistency section (written by hand from test/failpoints.e2e-spec.ts, not by the soak), kept as it is. */
function crashConsistencySection(): string {
  const doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '';
  const [start, end] = [doc.indexOf('<!-- crash-consistency:start -->'), doc.indexOf('<!-- crash-consistency:end -->')];
  return start >= 0 && end > start ? `\n${doc.slice(start, end + '<!-- crash-consistency:end -->'.length)}\n` : '';
}
