import { loadavg } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { Moto } from '../test/support/moto';
import { embeddedSocketUrl } from '../test/support/service-process';
import { Environment, Stack, STACKS, urlOf } from '../test/support/stacks';

/**
 * `npm run bench:kms-migration`: the pace of the online KMS key migration per 1,000 sealed keys,
 * on both stacks (local provider on embedded PGlite; KMS on moto_server with PostgreSQL), once
 * unpaced (KMS_MIGRATION_RATE_PER_SECOND=10000) and once at the default rate (50 per second per
 * replica), with one replica doing the work. BENCH_MIGRATION_KEYS (default 1000) users get one
 * key each first. Prints one JSON line per run, with the load average beside it, and a table for
 * docs/operations.md §2.5. A measurement, not a test: nothing is asserted.
 */
const KEYS = Number(process.env.BENCH_MIGRATION_KEYS ?? 1000);
const RUNS = [
  { pace: 'unpaced', rate: '10000' },
  { pace: 'default (50/s)', rate: '50' },
];

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const definition of STACKS) {
    const stack: Stack = await definition.start({ RATE_LIMIT_PER_MINUTE: '1000000', DUAL_CONTROL: 'off' });
    const moto = (stack as Stack & { moto?: Moto }).moto;
    try {
      const token = await stack.token();
      const seedStart = performance.now();
      for (let at = 0; at < KEYS; at += 8) {
        await Promise.all(
          Array.from({ length: Math.min(8, KEYS - at) }, (_, i) =>
            stack
              .as(token)
              .post('/api/v1/keys')
              .send({ userId: String(100_000 + at + i) })
              .expect(201),
          ),
        );
      }
      process.stderr.write(`${definition.name}: ${KEYS} keys created in ${((performance.now() - seedStart) / 1000).toFixed(1)} s\n`);
      let previous = moto ? stack.env.KMS_KEY_ID : join(stack.env.DATA_DIR, 'master.key');
      for (const [index, run] of RUNS.entries()) {
        const target = moto ? await moto.createKmsKey() : join(stack.env.DATA_DIR, `master-bench-${index}.key`);
        const settings: Environment = moto
          ? { KMS_KEY_ID: target, KMS_PREVIOUS_KEY_IDS: previous }
          : {
              LOCAL_MASTER_KEY_FILE: target,
              LOCAL_PREVIOUS_MASTER_KEY_FILES: previous,
              DATABASE_URL: embeddedSocketUrl(stack.env.DATA_DIR),
              MIGRATIONS_RUN: 'false',
            };
        const app = await stack.startAnother({ ...settings, KMS_MIGRATION_RATE_PER_SECOND: run.rate });
        const url = urlOf(app);
        const loadBefore = load();
        const began = performance.now();
        await request(url).post('/api/v1/admin/kms-migration').auth(token, { type: 'bearer' }).expect(201);
        let status: { complete: boolean; migration: { resealed: number; outcome: string | null } };
        do {
          await new Promise((resolve) => setTimeout(resolve, 100));
          status = (await request(url).get('/api/v1/admin/kms-migration').auth(token, { type: 'bearer' }).expect(200)).body;
        } while (!status.complete || status.migration.outcome !== 'done');
        const seconds = (performance.now() - began) / 1000;
        // The replica stays up (idle: the next migration targets another key) until stack.close() closes it.
        const result = {
          stack: definition.name,
          pace: run.pace,
          resealed: status.migration.resealed,
          seconds: Number(seconds.toFixed(2)),
          secondsPer1000: Number(((seconds * 1000) / status.migration.resealed).toFixed(2)),
          keysPerSecond: Number((status.migration.resealed / seconds).toFixed(1)),
          loadBefore,
          loadAfter: load(),
        };
        process.stdout.write(`${JSON.stringify(result)}\n`);
        rows.push(
          `| ${result.stack} | ${result.pace} | ${result.resealed} | ${result.secondsPer1000} s | ${result.keysPerSecond} | ${result.loadBefore} → ${result.loadAfter} |`,
        );
        previous = target;
      }
    } finally {
      await stack.close();
    }
  }
  process.stdout.write(
    `\n| stack | pace | keys re-sealed | time per 1,000 keys | keys per second | load average (1, 5, 15 min) before → after |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error)?.stack ?? error}\n`);
    process.exit(1);
  },
);
