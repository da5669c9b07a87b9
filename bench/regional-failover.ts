import { loadavg } from 'node:os';
import request from 'supertest';
import { Moto, MOTO_SECOND_REGION } from '../test/support/moto';
import { awsStack, Stack, urlOf } from '../test/support/stacks';

/**
 * `npm run bench:regional-failover`: what the service's own steps of a regional failover cost
 * (docs/operations.md §3.4), on PostgreSQL and KMS on moto_server: keys sealed under a
 * multi-region primary key, then a deployment in the second region (its replica key, its region)
 * started on the same database — the time until /health/ready answers 200, and the time to
 * decrypt one ciphertext of each of BENCH_FAILOVER_USERS users (default 500) through it, each
 * user's private key unsealed through the replica once. Printed as JSON with the load average.
 * In-process start (node itself not included); the database promotion and the rollout are not
 * measured here.
 */
const USERS = Number(process.env.BENCH_FAILOVER_USERS ?? 500);

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  const stack: Stack = await awsStack.start({ RATE_LIMIT_PER_MINUTE: '1000000' }, { multiRegionKey: true });
  const moto = (stack as Stack & { moto: Moto }).moto;
  try {
    const token = await stack.token();
    const ciphertexts: Array<[string, string]> = [];
    for (let at = 0; at < USERS; at += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, USERS - at) }, async (_, i) => {
          const userId = String(200_000 + at + i);
          await stack.as(token).post('/api/v1/keys').send({ userId }).expect(201);
          const { body } = await stack
            .as(token)
            .post('/api/v1/encrypt')
            .send({ userId, data: ['x'] })
            .expect(200);
          ciphertexts.push([userId, body.encryptedData[0]]);
        }),
      );
    }
    const replicateStart = performance.now();
    const replica = await moto.replicateKey(stack.env.KMS_KEY_ID, MOTO_SECOND_REGION);
    const replicateMs = performance.now() - replicateStart;

    const loadBefore = load();
    const startBegan = performance.now();
    const app = await stack.startAnother({ AWS_REGION: MOTO_SECOND_REGION, KMS_KEY_ID: replica.Arn! });
    const url = urlOf(app);
    await request(url).get('/health/ready').expect(200);
    const readyMs = performance.now() - startBegan;

    const decryptBegan = performance.now();
    for (const [userId, ciphertext] of ciphertexts) {
      await request(url)
        .post('/api/v1/decrypt')
        .auth(token, { type: 'bearer' })
        .send({ userId, data: [ciphertext] })
        .expect(200);
    }
    const decryptMs = performance.now() - decryptBegan;
    process.stdout.write(
      `${JSON.stringify({
        users: USERS,
        replicateKeyMs: Math.round(replicateMs),
        secondRegionReadyMs: Math.round(readyMs),
        firstDecryptsMs: Math.round(decryptMs),
        firstDecryptsPer1000UsersSeconds: Number((((decryptMs / USERS) * 1000) / 1000).toFixed(1)),
        loadBefore,
        loadAfter: load(),
      })}\n`,
    );
  } finally {
    await stack.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error)?.stack ?? error}\n`);
    process.exit(1);
  },
);
