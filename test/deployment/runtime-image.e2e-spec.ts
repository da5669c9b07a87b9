import assert from 'node:assert/strict';
import { ChildProcess, spawnSync, SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CognitoPool, Moto, MOTO_REGION } from '../support/moto';
import { TestDatabase } from '../support/postgres';
import { freePort, spawnLogged, stopProcess, waitFor } from '../support/processes';
import { env, only, PRODUCTION_VALUES, render, ROOT } from './chart';

/**
 * The Dockerfile's runtime stage, replayed without a container engine: a fresh directory with
 * the built dist, package.json, the lockfile and exactly the stage's `npm ci --omit=dev`, then
 * the migration Job's and the Deployment's commands, in the chart's production configuration,
 * against PostgreSQL and moto's KMS and Cognito. A runtime import of a dev dependency fails here.
 */

interface RuntimeStage {
  env: Record<string, string>;
  install: string;
  user: string;
  cmd: string[];
  copiesDist: boolean;
}

/** The last stage of the Dockerfile: its ENV, npm ci, USER and CMD. */
function readRuntimeStage(): RuntimeStage {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
  const stageStart = lines.map((line) => /^FROM\s/i.test(line)).lastIndexOf(true);
  const stage = lines.slice(stageStart);
  const instructions = (name: string) => stage.filter((line) => line.toUpperCase().startsWith(`${name} `)).map((line) => line.slice(name.length).trim());
  const stageEnv: Record<string, string> = {};
  for (const pair of instructions('ENV').flatMap((line) => line.split(/\s+/))) {
    const [key, ...value] = pair.split('=');
    stageEnv[key] = value.join('=');
  }
  const install = instructions('RUN')
    .flatMap((line) => line.split('&&').map((part) => part.trim()))
    .find((command) => command.startsWith('npm ci'));
  assert.ok(install, 'the runtime stage has no npm ci');
  const cmd = instructions('CMD');
  assert.equal(cmd.length, 1, 'the runtime stage needs one CMD');
  return {
    env: stageEnv,
    install,
    user: instructions('USER').at(-1) ?? '',
    cmd: JSON.parse(cmd[0]),
    copiesDist: instructions('COPY').some((line) => /--from=build\s+\/app\/dist\s+\.\/dist/.test(line)),
  };
}

function run(command: string, args: string[], options: SpawnSyncOptions): void {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error) throw result.error;
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
}

describe('runtime image stage, replayed', () => {
  let work: string;
  let app: string;
  let stage: RuntimeStage;
  let moto: Moto;
  let database: TestDatabase;
  let pool: CognitoPool;
  let productionEnv: Record<string, string>;
  let server: { child: ChildProcess; output: () => string } | undefined;
  let url: string;

  before(async () => {
    stage = readRuntimeStage();
    work = mkdtempSync(join(tmpdir(), 'pii-runtime-'));
    app = join(work, 'app');
    mkdirSync(app);

    // Build stage: `npm run build` is `nest build`, i.e. tsc with tsconfig.build.json.
    const tsc = require.resolve('typescript/bin/tsc');
    run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist'), '--tsBuildInfoFile', join(work, 'build.tsbuildinfo')], { cwd: ROOT });

    // Runtime stage: the manifests and the stage's own npm ci (from the npm cache when it can).
    copyFileSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    copyFileSync(join(ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
    run('sh', ['-c', `${stage.install} --prefer-offline`], { cwd: app });

    [moto, database] = await Promise.all([Moto.start(), TestDatabase.create()]);
    const kmsKeyId = await moto.createKmsKey();
    pool = await moto.createCognitoPool();

    // The chart's production configuration, pointed at the emulators (their endpoints are the
    // only settings production does not have).
    const objects = render(
      [PRODUCTION_VALUES],
      [
        `kms.keyId=${kmsKeyId}`,
        `aws.region=${MOTO_REGION}`,
        `cognito.userPoolId=${pool.poolId}`,
        `cognito.clientIds={${pool.clientId}}`,
        `config.KMS_ENDPOINT=${moto.endpoint}`,
        `config.COGNITO_JWKS_URI=${pool.jwksUri}`,
        'existingSecretKeys.redisUrl=',
      ],
    );
    const container = only(objects, 'Deployment').spec.template.spec.containers[0];
    productionEnv = {
      ...only(objects, 'ConfigMap').data,
      AWS_REGION: env(container, 'AWS_REGION')!,
      MIGRATIONS_RUN: env(container, 'MIGRATIONS_RUN')!,
      // From the Secret in the cluster.
      DATABASE_URL: database.url,
      // The emptyDir mounted at /tmp in the pod; the port is free on this machine.
      DATA_DIR: join(work, 'tmp', 'data'),
      PORT: String(await freePort()),
      // IRSA in the cluster; moto takes any credentials.
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      PATH: process.env.PATH ?? '',
      HOME: work,
    };
    url = `http://127.0.0.1:${productionEnv.PORT}`;
  });

  after(async () => {
    if (server) await stopProcess(server.child);
    await moto?.stop();
    await database?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('matches the Dockerfile: production env, dist from the build stage, non-root user, node dist/main', () => {
    assert.equal(stage.env.NODE_ENV, 'production');
    assert.match(stage.install, /^npm ci\b.*--omit=dev/);
    assert.ok(stage.copiesDist, 'the runtime stage does not copy dist from the build stage');
    assert.match(stage.user, /^[1-9]\d*(:\d+)?$/, 'USER must be a non-root numeric uid');
    assert.deepEqual(stage.cmd, ['node', 'dist/main']);
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:20\.\d+\.\d+-[a-z]+-slim$/m, 'base image must be a pinned Node 20');
    assert.equal(productionEnv.NODE_ENV, 'production');
  });

  it('keeps secrets, local data, tests and node_modules out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim());
    for (const entry of ['.env', 'data/', 'test/', 'node_modules/', '.git/']) assert.ok(ignored.includes(entry), `.dockerignore lacks ${entry}`);
  });

  it('installs the production dependency tree and nothing marked dev-only in the lockfile', () => {
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8'));
    const packages = Object.entries<{ dev?: boolean }>(lock.packages).filter(([path]) => path.startsWith('node_modules/'));
    const devOnly = packages.filter(([, meta]) => meta.dev).map(([path]) => path);
    assert.ok(devOnly.includes('node_modules/@nestjs/cli'));
    assert.deepEqual(devOnly.filter((path) => existsSync(join(app, path))), []);
    const { dependencies } = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    for (const name of Object.keys(dependencies)) assert.ok(existsSync(join(app, 'node_modules', name)), `${name} not installed`);
  });

  it('migrates with the Job command (dist/cli/migrate.js), idempotently', async () => {
    for (let attempt = 1; attempt <= 2; attempt++) {
      run(process.execPath, ['dist/cli/migrate.js'], { cwd: app, env: { ...productionEnv, MIGRATIONS_RUN: 'true' } });
    }
    const tables = await database.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    const names = tables.map((row) => row.table_name);
    for (const table of ['schema_migrations', 'user_key_history', 'user_keys']) assert.ok(names.includes(table), `${table} missing`);
  });

  it('starts node dist/main in production with MIGRATIONS_RUN=false and answers /health/ready with 200', async () => {
    assert.equal(productionEnv.MIGRATIONS_RUN, 'false');
    server = spawnLogged(process.execPath, stage.cmd.slice(1), { cwd: app, env: productionEnv });
    const exited = new Promise<never>((_, reject) =>
      server!.child.once('exit', (code, signal) => reject(new Error(`node dist/main exited (${code ?? signal}):\n${server!.output()}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([
      exited,
      waitFor('node dist/main', async () => {
        const response = await fetch(`${url}/health/ready`);
        if (response.status !== 200) throw new Error(`/health/ready answered ${response.status}: ${await response.text()}`);
      }, 60_000),
    ]);
    const ready = (await (await fetch(`${url}/health/ready`)).json()) as { status: string; info: { keyProvider: { provider: string } } };
    assert.equal(ready.status, 'ok');
    assert.equal(ready.info.keyProvider.provider, 'kms');
    const live = await fetch(`${url}/health/live`);
    assert.equal(live.status, 200);
  });

  it('creates a key for a Cognito-authenticated caller, sealed by KMS', async () => {
    assert.ok(server, 'the service is not running');
    const token = await pool.accessToken(['keys:write']);
    const response = await fetch(`${url}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: '4242' }),
    });
    assert.equal(response.status, 201, await response.text());
    const [row] = await database.query<{ key_provider: string }>(`SELECT key_provider FROM user_keys WHERE user_id = 4242`);
    assert.equal(row.key_provider, 'kms');
  });
});
