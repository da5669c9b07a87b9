import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ApiContract, checkedAgent } from '../../support/openapi-contract';
import { freePort, stopProcess, waitFor } from '../../support/processes';

/** The compiled service, as the container runs it. */
const MAIN = join(__dirname, '..', '..', '..', 'src', 'main.js');

/**
 * Every line any service process of the suite wrote, on stdout or stderr. The suite ends by
 * checking that none holds a plaintext, a ciphertext, a key or a token.
 */
export class LogCapture {
  readonly lines: string[] = [];
  private readonly secrets = new Set<string>();

  /** Plaintext markers, tokens, keys: text that must never appear in a log line. */
  forbid(...values: string[]): void {
    for (const value of values) this.secrets.add(value);
  }

  /** Request lines, to show that the capture really saw the service's logs. */
  requestLines(): Array<Record<string, unknown>> {
    return this.lines.filter((line) => line.includes('"msg":"request')).map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  assertNothingSecret(): void {
    const pem = /-----BEGIN [A-Z ]*KEY-----/;
    const jwt = /eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}/;
    const ciphertext = /ek[12]:\d+:[\w-]{20,}/;
    for (const line of this.lines) {
      assert.doesNotMatch(line, pem, 'a key in a log line');
      assert.doesNotMatch(line, jwt, 'a token in a log line');
      assert.doesNotMatch(line, ciphertext, 'a ciphertext in a log line');
      for (const secret of this.secrets) assert.ok(!line.includes(secret), `a forbidden value in a log line: ${line.slice(0, 200)}`);
    }
  }
}

/** The service running as its own process (`node main.js`), with its logs captured. */
export class AppProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly dataDir: string,
    readonly exited: Promise<number | null>,
    private readonly contract: ApiContract,
  ) {}

  static async start(env: Record<string, string>, logs: LogCapture): Promise<AppProcess> {
    const port = await freePort();
    const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'pii-api-resilience-'));
    const child = spawn(process.execPath, [MAIN], {
      cwd: dataDir,
      env: {
        PATH: process.env.PATH!,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        NODE_ENV: 'test',
        LOG_LEVEL: 'trace',
        ...env,
        DATA_DIR: dataDir,
        PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = '';
      stream.on('data', (chunk) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop()!;
        logs.lines.push(...lines.filter(Boolean));
      });
    }
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    const died = exited.then((code) => {
      throw new Error(`the service exited with ${code} while starting:\n${logs.lines.slice(-20).join('\n')}`);
    });
    // The document is served once the service is up: the answers of the start-up poll are kept, and checked against it then.
    const polled: request.Response[] = [];
    const live = async () => {
      const response = await request(url).get('/health/live');
      polled.push(response);
      assert.equal(response.status, 200, `/health/live answered ${response.status}`);
    };
    await Promise.race([died, waitFor('the service', live, 60_000)]);
    died.catch(() => undefined);
    const contract = await ApiContract.of(url);
    try {
      for (const response of polled) contract.check('get', '/health/live', response);
    } catch (error) {
      await stopProcess(child);
      throw error;
    }
    return new AppProcess(child, url, dataDir, exited, contract);
  }

  /** Requests as anyone; every response is checked against the OpenAPI document, as stacks' are. */
  http(): request.Agent {
    return checkedAgent(request.agent(this.url), this.contract);
  }

  /** Requests made as the caller holding `token`, checked as http() is. */
  as(token: string): request.Agent {
    return checkedAgent(request.agent(this.url).auth(token, { type: 'bearer' }), this.contract);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  async stop(): Promise<void> {
    await stopProcess(this.child);
  }
}
