import { request } from 'node:http';
import { Cluster, KMS_OPERATIONS } from './cluster';

export interface FaultWindow {
  name: string;
  what: string;
  /** Soak seconds: the fault begins, and it is fully over (dependency back, process ready again). */
  start: number;
  end: number;
}

export interface Fault {
  name: string;
  what: string;
  /** How long the fault is held, in seconds, for a 10-minute soak (shorter soaks scale it down). */
  seconds: number;
  run(cluster: Cluster, seconds: number, userId: string): Promise<unknown>;
}

const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/** A fault held for its seconds: `begin`, wait, `end`. */
const held =
  (begin: (cluster: Cluster) => unknown, end: (cluster: Cluster) => unknown) =>
  async (cluster: Cluster, seconds: number): Promise<void> => {
    await begin(cluster);
    await sleep(seconds);
    await end(cluster);
  };

/** Rounds of the rolling restart: every service restarted once per round. */
export const ROLLING_RESTART_ROUNDS = 3;

export const FAULTS: Fault[] = [
  {
    name: 'redis-kill',
    what: 'Redis killed (SIGKILL), then restarted empty',
    seconds: 10,
    run: held(
      (cluster) => cluster.redis.kill(),
      (cluster) => cluster.redis.restart(),
    ),
  },
  {
    name: 'redis-freeze',
    what: 'Redis frozen (SIGSTOP), then thawed (SIGCONT)',
    seconds: 10,
    run: held(
      (cluster) => cluster.redis.freeze(),
      (cluster) => cluster.redis.thaw(),
    ),
  },
  {
    name: 'kms-freeze',
    what: 'every KMS call held unanswered by the fault proxy, then released',
    seconds: 20,
    run: held(
      (cluster) => KMS_OPERATIONS.forEach((operation) => cluster.kms.hold(operation)),
      (cluster) => cluster.kms.release(),
    ),
  },
  {
    name: 'kms-5xx',
    what: 'every KMS call answered 500 KMSInternalException by the fault proxy',
    seconds: 15,
    run: held(
      (cluster) => KMS_OPERATIONS.forEach((operation) => cluster.kms.failing.add(operation)),
      (cluster) => cluster.kms.failing.clear(),
    ),
  },
  {
    name: 'pg-restart',
    what: 'PostgreSQL "restarted": every connection through the TCP proxy dropped and new ones refused, then accepted again',
    seconds: 8,
    run: held(
      (cluster) => cluster.postgresProxy.restart(),
      (cluster) => cluster.postgresProxy.restore(),
    ),
  },
  {
    name: 'pg-cut',
    what: 'PostgreSQL cut at the TCP proxy: no byte passes either way on any connection, then the link heals',
    seconds: 10,
    run: held(
      (cluster) => cluster.postgresProxy.partition(),
      (cluster) => cluster.postgresProxy.restore(),
    ),
  },
  {
    name: 'sigterm',
    what: 'service-b sent SIGTERM, drained and exited, then started again',
    seconds: 0,
    async run(cluster) {
      await cluster.services[1].restart();
    },
  },
  {
    name: 'rolling-restart',
    what: `each service in turn sent SIGTERM (not ready, serving with Connection: close for SHUTDOWN_DELAY_MS, then draining), started again and routed to once ready; ${ROLLING_RESTART_ROUNDS} rounds`,
    seconds: 0,
    async run(cluster) {
      return rollingRestart(cluster, ROLLING_RESTART_ROUNDS);
    },
  },
  {
    name: 'burst',
    what: '1,000 connections at once through the round-robin proxy, one encrypt each',
    seconds: 0,
    async run(cluster, _seconds, userId) {
      return burst(cluster, 1000, userId);
    },
  },
];

/**
 * A rolling restart as a Deployment does it with maxUnavailable 0: each service in turn is sent
 * SIGTERM and awaited (it drains), started again, and the next is stopped only once the front
 * proxy's health check routes to the restarted one.
 */
export async function rollingRestart(
  cluster: Cluster,
  rounds: number,
): Promise<{ restarts: number; exits: Record<string, number>; graceExceeded: number }> {
  const exits: Record<string, number> = {};
  let graceExceeded = 0;
  for (let round = 0; round < rounds; round++)
    for (const service of cluster.services) {
      const { exitCode, signal, forcedClose } = await service.restart();
      const how = signal ?? `exit ${exitCode}`;
      exits[how] = (exits[how] ?? 0) + 1;
      if (forcedClose) graceExceeded++;
      await cluster.readiness.routed(service.url);
    }
  return { restarts: rounds * cluster.services.length, exits, graceExceeded };
}

/** `connections` requests at once, each on a connection of its own (no keep-alive). */
export async function burst(cluster: Cluster, connections: number, userId: string): Promise<Record<string, number>> {
  const token = cluster.token('soak-burst');
  const body = JSON.stringify({ userId, data: ['burst'] });
  const statuses: Record<string, number> = {};
  await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<void>((resolve) => {
          const req = request(
            `${cluster.url}/api/v1/encrypt`,
            {
              method: 'POST',
              agent: false,
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              timeout: 30_000,
            },
            (res) => {
              statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
              res.resume();
              res.on('end', resolve);
            },
          );
          req.on('error', () => {
            statuses.error = (statuses.error ?? 0) + 1;
            resolve();
          });
          req.end(body);
        }),
    ),
  );
  return statuses;
}
