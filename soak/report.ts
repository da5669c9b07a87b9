import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../bench/service';
import { renderTimeline, TimelineInput } from './chart';

interface Results extends TimelineInput {
  startedAt: string;
  minutes: number;
  rate: number;
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
  }>;
  checks: Array<{ name: string; pass: boolean; detail: string }>;
}

/** docs/reliability.md and its chart, from one soak's results. */
export function writeReport(results: Results): void {
  writeFileSync(join(ROOT, 'docs', 'reliability-timeline.svg'), renderTimeline(results));
  const passed = results.checks.filter((c) => c.pass).length;
  const lines = [
    '# Reliability: the soak',
    '',
    '`npm run soak` (never part of `npm test`; `SOAK_MINUTES`, default 10; `SOAK_RATE`, default 60',
    'requests a second) starts two service processes in production configuration (`node dist/main`,',
    '`NODE_ENV=production`) sharing one fresh PostgreSQL database (through a TCP proxy that can cut it),',
    'a Redis of its own and KMS on moto behind `test/support/kms-fault-proxy.ts`, with tokens from',
    '`test/support/test-issuer.ts`, behind a loopback round-robin TCP proxy. It drives a mixed workload',
    '(keys for new people; encrypt and decrypt batches of 1 to 1,000 items, with unicode and empty',
    'strings; nested `/rotate`; `/rewrap`; grants created, approved by two others and translated;',
    'cross-person decrypt probes; crypto-shreds; token revocations), injects the faults below on a',
    'schedule, then checks everything it recorded. The code is in `soak/`; this page and',
    '`soak/results.json` are written by the run; the chart by `soak/chart.ts`.',
    '',
    'Two parts are played rather than real: a PostgreSQL *restart* is every connection through the',
    "proxy dropped and new ones refused for the window (the machine's PostgreSQL is shared and is",
    'never restarted), and the per-caller rate limit and decrypt budget are lifted',
    '(`RATE_LIMIT_PER_MINUTE=1000000`, `DECRYPT_SUBJECT_BUDGET=0`) because the soak is one caller pool.',
    '',
    `## The last run: ${results.startedAt}, ${results.minutes} min at ${results.rate} req/s — ${passed} of ${results.checks.length} checks passed`,
    '',
    `${results.requests} requests (${Object.entries(results.operations)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ')}); ${results.people} people, ${results.ciphertexts} ciphertexts recorded, ${results.shredded} people shredded.`,
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
    '## Limits',
    '',
    '- The front proxy balances TCP connections, not requests, and retries nothing: a request sent on a',
    '  kept-alive connection just as the SIGTERMed process closes it is a connection failure here (the',
    '  `sigterm` row), where an HTTP load balancer with retries might hide it.',
    '- The memory check judges only the process that was never restarted; the other one is reported.',
    '- One machine of 2 cores runs both processes, moto, the proxies and the load, so latencies are',
    '  those of a shared box, not of the sizing in docs/operations.md.',
    '',
  ];
  writeFileSync(join(ROOT, 'docs', 'reliability.md'), lines.join('\n'));
}
