import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { type ApiContract, checkedFetch } from './openapi-contract';
import { freePort, spawnLogged, stopProcess, waitUntilReady } from './processes';
import type { Environment } from './stacks';

/** The compiled service entry (node dist/main, as the container runs it) of this test build. */
export const SERVICE_MAIN = join(__dirname, '..', '..', 'src', 'main.js');

/** The URL of the embedded database's socket in DATA_DIR, for other processes while the service runs. */
export const embeddedSocketUrl = (dataDir: string) => `postgresql://postgres@localhost/postgres?host=${dataDir}`;

/** A service replica in a process of its own (so that a test can SIGKILL it), listening on loopback. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
  /** SIGKILL: no shutdown hooks, no last batch, no goodbye to the database. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

let count = 0;

/**
 * Starts `node src/main.js` with `env` (PORT chosen here; its log lines in a file of their own
 * under TEST_LOG_DIR when set) and waits until it answers /health/ready with 200; each answer to
 * that poll is checked against `contract` (the document the replica serves).
 */
export async function spawnService(env: Environment, contract: ApiContract, name = 'replica'): Promise<ServiceProcess> {
  const port = await freePort();
  const logDir = process.env.TEST_LOG_DIR;
  const { LOG_FILE: _shared, ...rest } = env;
  const { child, output } = spawnLogged(process.execPath, ['--enable-source-maps', SERVICE_MAIN], {
    env: {
      PATH: process.env.PATH!,
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'testing',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'testing',
      ...rest,
      ...(logDir && { LOG_FILE: join(logDir, `process-${process.pid}-${++count}-${name}.log`) }),
      PORT: String(port),
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady(name, child, output, url, { get: checkedFetch(contract) });
  return {
    child,
    url,
    output,
    kill: () => stopProcess(child, 'SIGKILL'),
    stop: () => stopProcess(child),
  };
}

/** The value of an unlabelled metric (or of the series with exactly `labels`) in a /metrics text; 0 when absent. */
export function metricValue(text: string, name: string, labels = ''): number {
  const series = labels ? `${name}{${labels}}` : name;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
