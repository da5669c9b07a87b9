import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { sealEvent, GENESIS_HASH, SealedAuditEvent } from '../src/audit/audit-chain';
import { load } from './load';
import { ROOT, ServiceUnderTest } from './service';

/**
 * `npm run bench:scale`: what key reads, the rotation claim and the audit trail cost as the tables
 * grow (docs/performance.md, "Scale"). Fills the service's PostgreSQL database in bulk with rows
 * shaped like production's — people with a current key and one retired version, audit events in
 * valid hash chains spread over a year — and measures at each size, as far as SCALE_MINUTES
 * (default 20) allows; it says where it stopped.
 *
 * SCALE_PEOPLE   comma-separated sizes (default 1000,100000,1000000)
 * SCALE_EVENTS   comma-separated sizes, one per people size (default 100000,1000000,10000000)
 */
const PEOPLE = (process.env.SCALE_PEOPLE ?? '1000,100000,1000000').split(',').map(Number);
const EVENTS = (process.env.SCALE_EVENTS ?? '100000,1000000,10000000').split(',').map(Number);
const BUDGET_MS = Number(process.env.SCALE_MINUTES ?? 20) * 60_000;
/** Bulk people's ids start here, far from the ids the bench's own requests use. */
const FIRST_ID = 1_000_000_000;
const CHAINS = 20;
const INSERT_BATCH = 5_000;
const SAMPLES = 400;
/** How long /audit/verify may take at one size before the bench stops waiting for it. */
const VERIFY_LIMIT_MS = 90_000;
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Timing {
  p50: number;
  p99: number;
}
type Step = { people: number; events: number; fillSeconds: number; load: number } & Record<string, Timing | number | string>;

/** The same SQL as UserKeyRepository.sealedKeysOnPrimary (the decrypt's key-material read, caches cold). */
const SEALED_KEYS_SQL = `SELECT key_version, sealed_private_key AS sealed, key_provider AS provider, kms_key_id AS key_id
     FROM user_keys WHERE user_id = $1 AND is_active
   UNION ALL
   SELECT h.key_version, h.sealed_private_key, h.key_provider, h.kms_key_id
     FROM user_key_history h JOIN user_keys k ON k.user_id = h.user_id AND k.is_active
    WHERE h.user_id = $1 AND h.key_version = ANY($2::int[]) AND h.sealed_private_key IS NOT NULL`;
/** The same SQL as RotationRepository.rotateNextDue's claim. */
const CLAIM_SQL = `SELECT user_id, key_version FROM user_keys
    WHERE is_active AND created_at <= $1 AND (rotation_lease_until IS NULL OR rotation_lease_until < now())
    ORDER BY created_at LIMIT 1
    FOR UPDATE SKIP LOCKED`;
/** AuditEventRepository.accessReport's SQL. */
const ACCESS_REPORT_SQL = `SELECT actor_sub, action, purpose, count(*), coalesce(sum(item_count), 0), min(occurred_at), max(occurred_at)
     FROM audit_events WHERE target_user_id = $1 AND action = ANY($2) AND outcome = 'success'
    GROUP BY actor_sub, actor_client_id, actor_username, action, purpose ORDER BY max(occurred_at) DESC LIMIT 100`;
/** What AuditEventRepository.query sends for GET /audit?userId= (TypeORM's builder, same predicates and order). */
const AUDIT_BY_USER_SQL = `SELECT * FROM audit_events WHERE target_user_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT 50`;

async function main(): Promise<void> {
  const started = Date.now();
  const timeLeft = () => BUDGET_MS - (Date.now() - started);
  log('starting the service (PostgreSQL, moto KMS, Redis, token issuer)...');
  const service = await ServiceUnderTest.start({ env: { ROTATION_ENABLED: 'false' } });
  const pool = new Pool({ connectionString: service.databaseUrl, max: 4 });
  const steps: Step[] = [];
  const plans: Record<string, string> = {};
  let stoppedBecause = '';
  try {
    const token = service.token('bench-scale');
    const owner = '4242';
    const created = await fetch(`${service.url}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: owner }),
    });
    if (!created.ok) throw new Error(`POST /keys answered ${created.status}`);
    const chains = Array.from({ length: CHAINS }, () => ({ id: randomUUID(), seq: 0, prevHash: GENESIS_HASH }));
    let people = 0;
    let events = 0;
    for (let i = 0; i < PEOPLE.length; i++) {
      const fillStarted = Date.now();
      log(`filling to ${PEOPLE[i].toLocaleString('en-US')} people and ${EVENTS[i].toLocaleString('en-US')} audit events...`);
      const filled = await fillPeople(pool, people, PEOPLE[i], timeLeft);
      people = filled;
      if (filled < PEOPLE[i]) {
        stoppedBecause = `the ${SCALE_BUDGET()} budget ran out while filling people (${filled.toLocaleString('en-US')} of ${PEOPLE[i].toLocaleString('en-US')})`;
        break;
      }
      events = await fillEvents(pool, chains, events, EVENTS[i], people, timeLeft);
      if (events < EVENTS[i]) {
        stoppedBecause = `the ${SCALE_BUDGET()} budget ran out while filling audit events (${events.toLocaleString('en-US')} of ${EVENTS[i].toLocaleString('en-US')})`;
        break;
      }
      await pool.query('VACUUM ANALYZE user_keys, user_key_history, audit_events');
      const fillSeconds = (Date.now() - fillStarted) / 1000;
      log(`measuring at ${people.toLocaleString('en-US')} people, ${events.toLocaleString('en-US')} events...`);
      steps.push({ people, events, fillSeconds, load: loadavg()[0], ...(await measure(service, pool, token, owner, people, timeLeft)) });
      if (i === PEOPLE.length - 1 || timeLeft() < 60_000) {
        for (const [name, sql, params] of [
          ['key material read', SEALED_KEYS_SQL, [String(FIRST_ID + 1), [1]]],
          ['rotation claim', CLAIM_SQL, [new Date(Date.now() - 90 * 86_400_000)]],
          ['audit by person', AUDIT_BY_USER_SQL, [String(FIRST_ID + 1)]],
          ['access report', ACCESS_REPORT_SQL, [String(FIRST_ID + 1), ['encrypt', 'decrypt']]],
        ] as const) {
          const { rows } = await pool.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${sql}`, [...params] as unknown[]);
          plans[name] = rows.map((row) => row['QUERY PLAN']).join('\n');
        }
        if (i < PEOPLE.length - 1) stoppedBecause = `the ${SCALE_BUDGET()} budget left too little for the next size`;
        if (stoppedBecause) break;
      }
    }
  } finally {
    await pool.end();
    await service.stop();
  }
  const results = {
    date: new Date().toISOString(),
    budgetMinutes: BUDGET_MS / 60_000,
    stoppedBecause: stoppedBecause || null,
    steps,
    plans,
  };
  writeFileSync(join(ROOT, 'bench/scale-results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\n${render(results)}\n`);
}

const SCALE_BUDGET = () => `${BUDGET_MS / 60_000}-minute`;

/** A real RSA-2048 public key (PEM, ~450 characters): every bulk person's, as GET /keys serves it. */
const PUBLIC_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** People FIRST_ID+from … FIRST_ID+to-1: version 2 current, version 1 retired, created over two years. */
async function fillPeople(pool: Pool, from: number, to: number, timeLeft: () => number): Promise<number> {
  const BATCH = 100_000;
  let done = from;
  while (done < to && timeLeft() > 120_000) {
    const end = Math.min(to, done + BATCH);
    const ids = [FIRST_ID + done, FIRST_ID + end - 1];
    // A PEM public key is ~450 characters; a KMS-sealed PKCS#8 RSA-2048 key ~1,400 bytes.
    await pool.query(
      `INSERT INTO user_keys (user_id, key, key_version, sealed_private_key, key_provider, kms_key_id, created_at, updated_at)
       SELECT g, $3, 2, decode(repeat(md5(g::text), 44), 'hex'), 'kms', 'bench-scale-key',
              now() - ((g % 730) || ' days')::interval, now()
         FROM generate_series($1::bigint, $2::bigint) g`,
      [...ids, PUBLIC_KEY],
    );
    await pool.query(
      `INSERT INTO user_key_history (user_id, key_version, key_value, sealed_private_key, key_provider, kms_key_id, created_at, rotation_date, rotation_reason)
       SELECT g, 1, $3, decode(repeat(md5(g::text), 44), 'hex'), 'kms', 'bench-scale-key',
              now() - ((g % 730 + 90) || ' days')::interval, now() - ((g % 730) || ' days')::interval, 'scheduled'
         FROM generate_series($1::bigint, $2::bigint) g`,
      [...ids, PUBLIC_KEY],
    );
    done = end;
  }
  return done;
}

/** Audit events in CHAINS valid hash chains, about bulk people, spread over the last year in order. */
async function fillEvents(
  pool: Pool,
  chains: Array<{ id: string; seq: number; prevHash: string }>,
  from: number,
  to: number,
  people: number,
  timeLeft: () => number,
): Promise<number> {
  const yearMs = 365 * 86_400_000;
  const start = Date.now() - yearMs;
  let done = from;
  const inFlight = new Set<Promise<unknown>>();
  while (done < to && timeLeft() > 120_000) {
    const count = Math.min(INSERT_BATCH, to - done);
    const rows: SealedAuditEvent[] = [];
    for (let k = 0; k < count; k++) {
      const n = done + k;
      const chain = chains[n % CHAINS];
      // Time grows with n within the fill; later fills go on where the previous stopped, in the last year.
      const time = new Date(start + Math.floor(((n % 10_000_000) / 10_000_000) * yearMs)).toISOString();
      const event = sealEvent(
        {
          id: randomUUID(),
          time,
          requestId: randomUUID(),
          actor: { sub: `service-${n % 50}`, clientId: `client-${n % 50}`, username: null },
          action: n % 3 === 0 ? 'encrypt' : 'decrypt',
          userId: String(FIRST_ID + ((n * 7919) % people)),
          keyVersions: [2],
          itemCount: 1 + (n % 20),
          outcome: 'success',
          errorCode: null,
          sourceIp: '10.0.0.1',
          purpose: null,
          details: null,
        },
        { chainId: chain.id, seq: chain.seq + 1, prevHash: chain.prevHash },
      );
      chain.seq += 1;
      chain.prevHash = event.hash;
      rows.push(event);
    }
    const insert = insertEvents(pool, rows).finally(() => inFlight.delete(insert));
    inFlight.add(insert);
    if (inFlight.size >= 2) await Promise.race(inFlight);
    done += count;
    if (done % 1_000_000 < INSERT_BATCH) log(`  ${done.toLocaleString('en-US')} events`);
  }
  await Promise.all(inFlight);
  return done;
}

function insertEvents(pool: Pool, rows: SealedAuditEvent[]): Promise<unknown> {
  const column = <T>(value: (row: SealedAuditEvent) => T) => rows.map(value);
  return pool.query(
    `INSERT INTO audit_events (id, chain_id, seq, occurred_at, request_id, actor_sub, actor_client_id, actor_username, action,
                               target_user_id, key_versions, item_count, outcome, source_ip, prev_hash, hash)
     SELECT id, chain_id, seq, occurred_at, request_id, actor_sub, actor_client_id, actor_username, action,
            target_user_id, key_versions::integer[], item_count, outcome, source_ip, prev_hash, hash
       FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::varchar[], $6::varchar[], $7::varchar[],
                   $8::varchar[], $9::varchar[], $10::bigint[], $11::text[], $12::integer[], $13::varchar[], $14::varchar[],
                   $15::text[], $16::text[])
         AS e (id, chain_id, seq, occurred_at, request_id, actor_sub, actor_client_id, actor_username, action,
               target_user_id, key_versions, item_count, outcome, source_ip, prev_hash, hash)`,
    [
      column((r) => r.id),
      column((r) => r.chainId),
      column((r) => r.seq),
      column((r) => r.time),
      column((r) => r.requestId),
      column((r) => r.actor.sub),
      column((r) => r.actor.clientId),
      column((r) => r.actor.username),
      column((r) => r.action),
      column((r) => r.userId),
      column((r) => `{${r.keyVersions.join(',')}}`),
      column((r) => r.itemCount),
      column((r) => r.outcome),
      column((r) => r.sourceIp),
      column((r) => r.prevHash),
      column((r) => r.hash),
    ],
  );
}

async function measure(service: ServiceUnderTest, pool: Pool, token: string, owner: string, people: number, timeLeft: () => number) {
  const someone = () => String(FIRST_ID + Math.floor(Math.random() * people));
  const get = (path: string) => fetch(`${service.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const http = (path: () => string, samples = SAMPLES) =>
    timed(samples, async () => {
      const response = await get(path());
      if (!response.ok) throw new Error(`GET ${path()} answered ${response.status}`);
      await response.arrayBuffer();
    });

  const keyRead = await http(() => `/api/v1/keys/${someone()}`);
  const keyMaterialRead = await timed(SAMPLES, () => pool.query(SEALED_KEYS_SQL, [someone(), [1]]));
  const claim = await timed(50, async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(CLAIM_SQL, [new Date(Date.now() - 90 * 86_400_000)]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
  // POST /encrypt of one item at 500 requests/s: one audit insert each, into the grown table.
  const inserts = await load({
    url: service.url,
    path: '/api/v1/encrypt',
    token,
    connections: 20,
    seconds: 5,
    overallRate: 500,
    body: { userId: owner, data: ['scale'] },
  });
  const auditByPerson = await http(() => `/api/v1/audit?userId=${someone()}&limit=50`, 100);
  const accessReport = await http(() => `/api/v1/keys/${someone()}/access-report`, 100);
  // The retention purge of the oldest day, rolled back so each size purges the same.
  const purgeStarted = performance.now();
  const client = await pool.connect();
  let purged: number;
  try {
    await client.query('BEGIN');
    const {
      rows: [{ oldest }],
    } = await client.query('SELECT min(occurred_at) AS oldest FROM audit_events');
    const cutoff = new Date(new Date(oldest).getTime() + 86_400_000);
    const { rows: cuts } = await client.query(
      `SELECT DISTINCT ON (chain_id) chain_id, seq FROM audit_events WHERE occurred_at < $1 ORDER BY chain_id, seq DESC`,
      [cutoff],
    );
    await client.query(`SET LOCAL pii_api.audit_purge = 'on'`);
    purged = 0;
    // As AuditEventRepository.purgeBefore: one range of the (chain_id, seq) index per chain.
    for (const cut of cuts) {
      const deleted = await client.query(`DELETE FROM audit_events WHERE chain_id = $1 AND seq <= $2`, [cut.chain_id, cut.seq]);
      purged += deleted.rowCount ?? 0;
    }
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
  const purgeMs = performance.now() - purgeStarted;
  // /audit/verify: the full walk of every chain (given at most VERIFY_LIMIT_MS), then, once it
  // has stored its checkpoints, an incremental one after about 1,000 more events (docs/audit.md).
  const verify = async (query: string): Promise<number | string> => {
    const started = performance.now();
    try {
      const response = await fetch(`${service.url}/api/v1/audit/verify${query}`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(VERIFY_LIMIT_MS),
      });
      const body = (await response.json()) as { ok: boolean };
      if (!body.ok) throw new Error(`/audit/verify${query} found a broken chain: ${JSON.stringify(body)}`);
      return performance.now() - started;
    } catch (error) {
      if ((error as Error).name !== 'TimeoutError') throw error;
      return `not done in ${VERIFY_LIMIT_MS / 1000} s`;
    }
  };
  let verifyMs: number | string = 'skipped (budget)';
  let incrementalVerifyMs: number | string = 'skipped';
  if (timeLeft() > VERIFY_LIMIT_MS + 60_000) {
    verifyMs = await verify('?full=true');
    if (typeof verifyMs === 'number') {
      await load({
        url: service.url,
        path: '/api/v1/encrypt',
        token,
        connections: 10,
        seconds: 2,
        overallRate: 500,
        body: { userId: owner, data: ['scale'] },
      });
      incrementalVerifyMs = await verify('');
    }
  }
  return {
    keyRead,
    keyMaterialRead,
    claim,
    auditInsertAt500: { p50: inserts.p50Ms, p99: inserts.p99Ms },
    auditInsertRate: inserts.requestsPerSecond,
    auditByPerson,
    accessReport,
    purgeDayMs: purgeMs,
    purgedEvents: purged,
    verifyMs,
    incrementalVerifyMs,
  };
}

/** `samples` calls, 4 at a time: p50 and p99 in ms. */
async function timed(samples: number, call: () => Promise<unknown>): Promise<Timing> {
  const durations: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next++ < samples) {
        const start = performance.now();
        await call();
        durations.push(performance.now() - start);
      }
    }),
  );
  durations.sort((a, b) => a - b);
  const at = (q: number) => durations[Math.min(durations.length - 1, Math.floor(q * durations.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

function render(results: { stoppedBecause: string | null; steps: Step[]; plans: Record<string, string> }): string {
  const { steps } = results;
  if (!steps.length) return `No size was measured: ${results.stoppedBecause}`;
  const first = steps[0];
  const f = (value: number) => (value >= 100 ? Math.round(value).toString() : value.toFixed(1));
  const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}×`;
  const timing = (name: string) => (s: Step) => s[name] as Timing;
  const rows: Array<[string, (s: Step) => number]> = [
    ['GET /keys/{id} p50 ms', (s) => timing('keyRead')(s).p50],
    ['GET /keys/{id} p99 ms', (s) => timing('keyRead')(s).p99],
    ['key material read (SQL, cold) p50 ms', (s) => timing('keyMaterialRead')(s).p50],
    ['key material read (SQL, cold) p99 ms', (s) => timing('keyMaterialRead')(s).p99],
    ['rotation claim of a due key p50 ms', (s) => timing('claim')(s).p50],
    ['rotation claim of a due key p99 ms', (s) => timing('claim')(s).p99],
    ['encrypt with its audit insert at 500/s p50 ms', (s) => timing('auditInsertAt500')(s).p50],
    ['encrypt with its audit insert at 500/s p99 ms', (s) => timing('auditInsertAt500')(s).p99],
    ['GET /audit?userId= p50 ms', (s) => timing('auditByPerson')(s).p50],
    ['GET /audit?userId= p99 ms', (s) => timing('auditByPerson')(s).p99],
    ['access report p50 ms', (s) => timing('accessReport')(s).p50],
    ['access report p99 ms', (s) => timing('accessReport')(s).p99],
    ['retention purge of the oldest day ms', (s) => s.purgeDayMs as number],
  ];
  const header = steps.map((s) => `${s.people.toLocaleString('en-US')} people, ${s.events.toLocaleString('en-US')} events`);
  const lines = [
    `| measured (load average ${steps.map((s) => s.load.toFixed(1)).join(', ')}) | ${header.join(' | ')} | largest ÷ smallest |`,
    `|---|${steps.map(() => '--:').join('|')}|--:|`,
  ];
  const last = steps[steps.length - 1];
  for (const [name, value] of rows) {
    lines.push(`| ${name} | ${steps.map((s) => f(value(s))).join(' | ')} | ${ratio(value(last), value(first))} |`);
  }
  lines.push(
    `| /audit/verify?full=true, every chain, ms | ${steps.map((s) => (typeof s.verifyMs === 'number' ? f(s.verifyMs) : s.verifyMs)).join(' | ')} | – |`,
    `| /audit/verify from the checkpoints, about 1,000 new events, ms | ${steps.map((s) => (typeof s.incrementalVerifyMs === 'number' ? f(s.incrementalVerifyMs) : s.incrementalVerifyMs)).join(' | ')} | – |`,
    `| events purged with the oldest day | ${steps.map((s) => String(s.purgedEvents)).join(' | ')} | – |`,
    `| fill time s | ${steps.map((s) => f(s.fillSeconds)).join(' | ')} | – |`,
  );
  if (results.stoppedBecause) lines.push('', `Stopped early: ${results.stoppedBecause}.`);
  for (const [name, plan] of Object.entries(results.plans)) lines.push('', `Plan of the ${name} at the largest size:`, '```', plan, '```');
  return lines.join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
