import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createApp } from '../src/app.factory';
import { LocalIssuer } from '../src/auth/signing-keys';
import { PERMISSIONS } from '../src/common/permissions';
import { urlOf } from '../test/support/stacks';

/**
 * How long the service takes to refuse the most expensive hostile bodies, next to an ordinary
 * 100-item /encrypt, and how long a health probe waits meanwhile. The service runs in this
 * process on its embedded defaults (PGlite, local key provider), over loopback HTTP.
 *
 *   npm run bench:hostile-input        (HOSTILE_RUNS=30 requests per case; results in docs/performance.md)
 */
const RUNS = Number(process.env.HOSTILE_RUNS ?? 30);
const MiB = 1024 * 1024;
/** Just under the default BODY_LIMIT once the envelope around it is added. */
const ROOM = MiB - 64;

interface Case {
  name: string;
  path: string;
  body: () => string | Buffer;
  expect: number;
}

/** A ciphertext of user 1, set once the service runs. */
let sample = '';
const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const filler = (bytes: number) => 'x'.repeat(bytes);

const cases: Case[] = [
  {
    name: 'ordinary: /encrypt of 100 items of 32 bytes',
    path: 'encrypt',
    expect: 200,
    body: () => JSON.stringify({ userId: '1', data: Array.from({ length: 100 }, (_, i) => `item ${i} `.padEnd(32, '.')) }),
  },
  {
    name: '/rotate, data nested 524,000 levels (1 MiB)',
    path: 'rotate',
    expect: 400,
    body: () => `{"userId":"1","data":${deep(ROOM / 2)}}`,
  },
  {
    name: '/rotate, 1 MiB string, unpaired surrogate at its end',
    path: 'rotate',
    expect: 400,
    body: () => `{"userId":"1","data":"${filler(ROOM - 8)}\\ud800"}`,
  },
  {
    name: '/rotate, 1 MiB of escapes, 1e999 at the end',
    path: 'rotate',
    expect: 400,
    body: () => `{"userId":"1","data":["${'\\u00e9'.repeat(ROOM / 6 - 4)}",1e999]}`,
  },
  {
    name: '/rotate, 24,000 keys, the last one repeated',
    path: 'rotate',
    expect: 400,
    body: () =>
      `{"userId":"1","data":{${Array.from({ length: 24_000 }, (_, i) => `"field-${i}-${filler(16)}":${i}`).join(',')},"field-0-${filler(16)}":0}}`,
  },
  {
    name: '/rotate, 50,001 values and keys (1 over MAX_JSON_NODES)',
    path: 'rotate',
    expect: 400,
    body: () => `{"userId":"1","data":[${Array.from({ length: 49_997 }, () => '0').join(',')}]}`,
  },
  {
    name: '/encrypt, 49,000 tiny items (parsed, validated, refused by MAX_BATCH_ITEMS)',
    path: 'encrypt',
    expect: 400,
    body: () => JSON.stringify({ userId: '1', data: Array.from({ length: 49_000 }, () => '') }),
  },
  {
    name: '/encrypt, 24,000 unknown fields (refused by validation)',
    path: 'encrypt',
    expect: 400,
    body: () =>
      JSON.stringify({ userId: '1', data: ['a'], ...Object.fromEntries(Array.from({ length: 24_000 }, (_, i) => [`unknown${i}`, 0])) }),
  },
  {
    name: '/rotate, 1,001 ciphertexts among 40,000 look-alikes (walked, refused by MAX_BATCH_ITEMS)',
    path: 'rotate',
    expect: 400,
    body: () =>
      JSON.stringify({
        userId: '1',
        data: [...Array.from({ length: 40_000 }, (_, i) => `ek1:${i}:x`), ...Array.from({ length: 1001 }, () => sample)],
      }),
  },
  {
    name: '/grants, 1 MiB notBefore (IsISO8601 on caller text)',
    path: 'grants',
    expect: 400,
    body: () => JSON.stringify({ fromUserId: '1', toUserId: '2', reason: 'estate', notBefore: `2026-01-01T${'0'.repeat(ROOM - 120)}` }),
  },
  {
    name: '/tokens/revoke, 1 MiB token (IsJWT, MaxLength)',
    path: 'tokens/revoke',
    expect: 400,
    body: () => JSON.stringify({ token: `${'a'.repeat(ROOM / 3)}.${'b'.repeat(ROOM / 3)}.c` }),
  },
];

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pii-hostile-'));
  const app = await createApp({ NODE_ENV: 'test', LOG_LEVEL: 'error', DATA_DIR: dataDir, RATE_LIMIT_PER_MINUTE: '1000000' });
  try {
    await app.listen(0, '127.0.0.1');
    const base = urlOf(app);
    const token = await (await LocalIssuer.open(dataDir)).mint(3600, { scope: PERMISSIONS.join(' ') });
    const post = (path: string, body: string | Buffer) =>
      fetch(`${base}/api/v1/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
    await post('keys', JSON.stringify({ userId: '1' }));
    await post('keys', JSON.stringify({ userId: '2' }));
    sample = ((await (await post('encrypt', JSON.stringify({ userId: '1', data: ['046 454 286'] }))).json()) as { encryptedData: string[] })
      .encryptedData[0];
    // Not hostile, but the most CPU a valid request can ask for: 1,000 items under 1,000 data keys.
    const separately: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const response = await post('encrypt', JSON.stringify({ userId: '1', data: [`item ${i}`] }));
      separately.push(((await response.json()) as { encryptedData: string[] }).encryptedData[0]);
    }
    cases.push({
      name: 'valid: /decrypt of 1,000 items encrypted one by one (1,000 RSA unwraps)',
      path: 'decrypt',
      expect: 200,
      body: () => JSON.stringify({ userId: '1', data: separately }),
    });

    console.log(`${'case'.padEnd(84)} ${'bytes'.padStart(9)}  status  median ms  p95 ms  probe max ms`);
    for (const spec of cases) {
      const body = spec.body();
      const durations: number[] = [];
      const probes: number[] = [];
      let status = 0;
      for (let run = 0; run < RUNS + 3; run++) {
        const started = performance.now();
        const answer = post(spec.path, body).then(async (response) => {
          await response.arrayBuffer();
          return { status: response.status, ms: performance.now() - started };
        });
        // A health probe sent while the request is in flight.
        const probeStarted = performance.now();
        const probe = fetch(`${base}/health/live`).then(async (response) => {
          await response.arrayBuffer();
          if (response.status !== 200) throw new Error(`probe answered ${response.status}`);
          return performance.now() - probeStarted;
        });
        const [result, probeMs] = await Promise.all([answer, probe]);
        status = result.status;
        if (run >= 3) {
          durations.push(result.ms);
          probes.push(probeMs);
        }
      }
      if (status !== spec.expect) throw new Error(`${spec.name}: answered ${status}, expected ${spec.expect}`);
      durations.sort((a, b) => a - b);
      const at = (q: number) => durations[Math.min(durations.length - 1, Math.floor(q * durations.length))].toFixed(1);
      const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      console.log(
        `${spec.name.padEnd(84)} ${String(size).padStart(9)}  ${status}     ${at(0.5).padStart(9)}  ${at(0.95).padStart(6)}  ${Math.max(
          ...probes,
        )
          .toFixed(1)
          .padStart(12)}`,
      );
    }
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
