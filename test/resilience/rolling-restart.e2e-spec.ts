import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PiiApiClient, PiiApiError } from '../../clients/typescript/src';
import { TcpProxy } from '../../soak/tcp-proxy';
import { waitFor } from '../support/processes';
import { ServiceProcess, spawnService } from '../support/service-process';
import { awsStack, Environment, Stack } from '../support/stacks';
import { ReadinessWatch, readyPorts, terminate } from './support/readiness-watch';

/** Each replica keeps serving this long after SIGTERM (not ready, Connection: close on every answer). */
const SHUTDOWN_DELAY_MS = 3000;
const SHUTDOWN_GRACE_MS = 10_000;
/** How often the front proxy's health check polls /health/ready: well within SHUTDOWN_DELAY_MS. */
const HEALTH_CHECK_MS = 200;
/** The steady load: requests a second, and the most it lets wait at once. */
const RATE = 40;
const MAX_IN_FLIGHT = 100;
const ROUNDS = 3;
const PEOPLE = 30;
/** /rotate makes at most 10 versions of one person a day (then 429 KEY003): the load stays below. */
const ROTATIONS_PER_PERSON = 9;

interface Person {
  id: string;
  /** Ciphertexts the service returned, with their plaintexts. */
  items: Array<[string, string]>;
  rotating: boolean;
  rotations: number;
}

/** What the calls got: answers by outcome, as a caller using the typed client sees them. */
interface Tally {
  sent: number;
  ok: number;
  rotations: number;
  /** No answer: the connection failed and the client's retry policy did not (or could not) repeat the call. */
  failed: string[];
  /** Non-2xx answers by "status code", and how many of them were 429/503 with Retry-After. */
  non2xx: Record<string, number>;
  withRetryAfter: number;
}

/**
 * A rolling restart under load, as a Deployment does it with maxUnavailable 0: two replicas
 * (node dist/main, PostgreSQL, KMS and Cognito on moto) behind a round-robin TCP proxy whose
 * health check routes new connections to the replicas that answer ready; each replica in turn is
 * sent SIGTERM, awaited, started again and routed to before the next one stops. The load is the
 * typed client (clients/typescript) with its own retry policy, and nothing else repeats a request.
 */
describe('rolling restart under load — PostgreSQL + KMS and Cognito on moto_server', { timeout: 600_000 }, () => {
  let stack: Stack;
  let env: Environment;
  let token: string;
  const replicas: ServiceProcess[] = [];
  let watch: ReadinessWatch;
  let front: TcpProxy;
  let client: PiiApiClient;
  const people: Person[] = [];

  before(async () => {
    stack = await awsStack.start({ RATE_LIMIT_PER_MINUTE: '1000000', DECRYPT_SUBJECT_BUDGET: '0' });
    token = await stack.token();
    env = {
      ...stack.env,
      MIGRATIONS_RUN: 'false',
      SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
      SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
    };
    for (const name of ['replica-a', 'replica-b']) replicas.push(await spawnService(env, stack.contract, name));
    watch = new ReadinessWatch(() => replicas.map((r) => r.url), HEALTH_CHECK_MS).start();
    front = await new TcpProxy(() => readyPorts(watch, replicas)).start();
    for (const replica of replicas) await watch.routed(replica.url);
    client = new PiiApiClient({ baseUrl: `http://127.0.0.1:${front.port}`, token });
    for (let i = 0; i < PEOPLE; i++) {
      const id = String(910_000 + i);
      await client.createKey(id);
      const plaintexts = [`rolling ${randomUUID()}`, `rolling ${randomUUID()}`];
      const ciphertexts = await client.encrypt(id, plaintexts);
      people.push({ id, items: ciphertexts.map((ct, j) => [ct, plaintexts[j]]), rotating: false, rotations: 0 });
    }
  });

  after(async () => {
    await watch?.stop();
    await front?.stop();
    await Promise.allSettled(replicas.map((r) => terminate(r.child, SHUTDOWN_DELAY_MS + SHUTDOWN_GRACE_MS)));
    await stack?.close();
  });

  /** One call of the mix: encrypt 45 %, decrypt 40 %, rotate 15 % (one rotation per person at a time, 9 at most). */
  async function call(tally: Tally): Promise<void> {
    const r = Math.random();
    const person = people[randomInt(people.length)];
    tally.sent++;
    try {
      if (r < 0.45) {
        const plaintext = `rolling ${randomUUID()}`;
        const [ciphertext] = await client.encrypt(person.id, [plaintext]);
        person.items.push([ciphertext, plaintext]);
      } else if (r < 0.85 || person.rotating || person.rotations >= ROTATIONS_PER_PERSON) {
        const pairs = Array.from({ length: 3 }, () => person.items[randomInt(person.items.length)]);
        const plaintexts = await client.decrypt(
          person.id,
          pairs.map(([ct]) => ct),
        );
        assert.deepEqual(
          plaintexts,
          pairs.map(([, pt]) => pt),
          'decrypt answers the plaintexts',
        );
      } else {
        person.rotating = true;
        person.rotations++;
        try {
          const pairs = person.items.slice(-2);
          const { rotatedData } = (await client.rotate(
            person.id,
            pairs.map(([ct]) => ct),
            { reason: 'manual' },
          )) as { rotatedData: string[] };
          rotatedData.forEach((ct, i) => person.items.push([ct, pairs[i][1]]));
          tally.rotations++;
        } finally {
          person.rotating = false;
        }
      }
      tally.ok++;
    } catch (error) {
      if (!(error instanceof PiiApiError)) return void tally.failed.push(String((error as Error)?.cause ?? error));
      const key = `${error.status} ${error.code}`;
      tally.non2xx[key] = (tally.non2xx[key] ?? 0) + 1;
      if ((error.status === 429 || error.status === 503) && error.retryAfterSeconds !== undefined) tally.withRetryAfter++;
    }
  }

  it(`loses no request through ${ROUNDS} rolling restarts of two replicas under a steady encrypt/decrypt/rotate load`, async (t) => {
    const tally: Tally = { sent: 0, ok: 0, rotations: 0, failed: [], non2xx: {}, withRetryAfter: 0 };
    const inFlight = new Set<Promise<void>>();
    let skipped = 0;
    const driver = setInterval(() => {
      if (inFlight.size >= MAX_IN_FLIGHT) return void skipped++;
      const running = call(tally).finally(() => inFlight.delete(running));
      inFlight.add(running);
    }, 1000 / RATE);
    const exits: Array<{ exitCode: number | null; signal: NodeJS.Signals | null }> = [];
    try {
      await sleep(1000);
      for (let round = 0; round < ROUNDS; round++)
        for (let i = 0; i < replicas.length; i++) {
          exits.push(await terminate(replicas[i].child, SHUTDOWN_DELAY_MS + SHUTDOWN_GRACE_MS + 5000));
          replicas[i] = await spawnService(env, stack.contract, `replica-${'ab'[i]}-${round + 1}`);
          await watch.routed(replicas[i].url);
        }
      await sleep(1000);
    } finally {
      clearInterval(driver);
      await Promise.all(inFlight);
    }
    const report = JSON.stringify({ ...tally, failed: tally.failed.slice(0, 5), skipped, exits });
    t.diagnostic(`figures: ${report}`);
    assert.deepEqual(
      exits,
      Array.from({ length: ROUNDS * replicas.length }, () => ({ exitCode: 0, signal: null })),
      `every replica drained and exited 0: ${report}`,
    );
    assert.ok(tally.sent >= 200 && tally.rotations >= 10, `the load ran through the restarts: ${report}`);
    assert.deepEqual(tally.failed, [], `no call failed: ${report}`);
    const non2xx = Object.values(tally.non2xx).reduce((a, b) => a + b, 0);
    assert.equal(non2xx, tally.withRetryAfter, `no non-2xx answer but 429/503 with Retry-After: ${report}`);
    assert.equal(tally.ok + non2xx, tally.sent, report);
  });

  it('keeps serving after SIGTERM, not ready and with Connection: close on every answer, then exits 0', async () => {
    const replica = replicas[0];
    const person = people[0];
    const body = JSON.stringify({ userId: person.id, data: ['draining'] });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const exited = terminate(replica.child, SHUTDOWN_DELAY_MS + SHUTDOWN_GRACE_MS + 5000);
    await waitFor('readiness to turn 503', async () => assert.equal((await fetch(`${replica.url}/health/ready`)).status, 503));
    const answer = await fetch(`${replica.url}/api/v1/encrypt`, { method: 'POST', headers, body });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('connection'), 'close');
    assert.equal(((await answer.json()) as { encryptedData: string[] }).encryptedData.length, 1);
    assert.deepEqual(await exited, { exitCode: 0, signal: null });
  });
});
