import assert from 'node:assert/strict';
import { ChildProcess, spawnSync, SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CognitoPool, Moto, MOTO_REGION } from '../support/moto';
import { TestDatabase } from '../support/postgres';
import { freePort, spawnLogged, stopProcess, waitFor } from '../support/processes';
import { env, only, PRODUCTION_VALUES, render, ROOT } from './chart';

/**
 * The Dockerfile replayed without a container engine. Build stage: only the files it copies, the
 * repository's node_modules standing in for its `npm ci` (same lockfile), and its `npm run build`.
 * Runtime stage: a fresh directory with that dist, package.json, the lockfile and exactly the
 * stage's `npm ci --omit=dev`; then the migration Job's and the Deployment's commands, in the
 * chart's production configuration, against PostgreSQL and moto's KMS and Cognito. A runtime
 * import of a dev dependency, or a file the build needs but the Dockerfile does not copy, fails here.
 */

/** The instructions of each stage, by its `AS` name, with continuation lines joined. */
function readDockerfile(): Map<string, string[]> {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#')) continue;
    const from = /^FROM\s+\S+\s+AS\s+(\S+)$/i.exec(line);
    if (from) stages.set(from[1], (current = []));
    current.push(line);
  }
  return stages;
}

/** The arguments of every `keyword` instruction of a stage. */
function instructions(stage: string[], keyword: string): string[] {
  return stage.filter((line) => line.toUpperCase().startsWith(`${keyword} `)).map((line) => line.slice(keyword.length).trim());
}

function shellCommands(stage: string[]): string[] {
  return instructions(stage, 'RUN').flatMap((line) => line.split('&&').map((part) => part.trim()));
}

function run(command: string, args: string[], options: SpawnSyncOptions): void {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error) throw result.error;
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
}

describe('Docker image stages, replayed without a container engine', () => {
  let work: string;
  let app: string;
  let build: string[];
  let runtime: string[];
  let moto: Moto;
  let database: TestDatabase;
  let pool: CognitoPool;
  let productionEnv: Record<string, string>;
  let server: { child: ChildProcess; output: () => string } | undefined;
  let url: string;

  before(async () => {
    const stages = readDockerfile();
    assert.deepEqual([...stages.keys()], ['build', 'runtime']);
    build = stages.get('build')!;
    runtime = stages.get('runtime')!;
    work = mkdtempSync(join(tmpdir(), 'pii-runtime-'));
    const buildDir = join(work, 'build');
    app = join(work, 'app');
    mkdirSync(buildDir);
    mkdirSync(app);

    // Build stage: the files it copies, the repository's node_modules for its npm ci, its build.
    for (const line of instructions(build, 'COPY')) {
      const sources = line.split(/\s+/).slice(0, -1);
      for (const source of sources) cpSync(join(ROOT, source), join(buildDir, source), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(buildDir, 'node_modules'), 'dir');
    for (const command of shellCommands(build).filter((c) => !c.startsWith('npm ci'))) run('sh', ['-c', command], { cwd: buildDir });

    // Runtime stage: the manifests and the stage's own npm ci (from the npm cache when it can).
    const install = shellCommands(runtime).find((command) => command.startsWith('npm ci'));
    assert.ok(install, 'the runtime stage has no npm ci');
    copyFileSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    copyFileSync(join(ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
    run('sh', ['-c', `${install} --prefer-offline`], { cwd: app });
    cpSync(join(buildDir, 'dist'), join(app, 'dist'), { recursive: true });

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

  it('matches the Dockerfile: pinned Node base, production env, dist from the build stage, non-root user, node dist/main', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const [, major, minor] = /^ARG NODE_IMAGE=node:(\d+)\.(\d+)\.\d+-[a-z]+-slim$/m.exec(dockerfile) ?? [];
    assert.ok(major, 'the base image must be pinned to a full Node version');
    const { engines } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const [, minMajor, minMinor] = /^>=(\d+)\.(\d+)$/.exec(engines.node)!;
    assert.ok(Number(major) > Number(minMajor) || (Number(major) === Number(minMajor) && Number(minor) >= Number(minMinor)), `node ${major}.${minor} does not satisfy engines ${engines.node}`);
    for (const stage of [build, runtime]) assert.match(stage[0], /^FROM \$\{NODE_IMAGE\} AS /);
    assert.match(instructions(runtime, 'ENV').join(' '), /\bNODE_ENV=production\b/);
    assert.ok(shellCommands(runtime).some((command) => /^npm ci\b.*--omit=dev/.test(command)));
    assert.deepEqual(instructions(runtime, 'COPY').filter((line) => line.startsWith('--from=')), ['--from=build /app/dist ./dist']);
    assert.match(instructions(runtime, 'USER').at(-1) ?? '', /^[1-9]\d*(:\d+)?$/, 'USER must be a non-root numeric uid');
    assert.deepEqual(instructions(runtime, 'CMD').map((cmd) => JSON.parse(cmd)), [['node', 'dist/main']]);
    assert.equal(productionEnv.NODE_ENV, 'production');
  });

  it('keeps secrets, local data, tests and node_modules out of the build context, but not what the build copies', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim());
    for (const entry of ['.env', 'data/', 'test/', 'node_modules/', '.git/']) assert.ok(ignored.includes(entry), `.dockerignore lacks ${entry}`);
    const copied = instructions(build, 'COPY').flatMap((line) => line.split(/\s+/).slice(0, -1));
    for (const source of copied) assert.ok(!ignored.includes(source) && !ignored.includes(`${source}/`), `${source} is copied but ignored`);
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
    server = spawnLogged(process.execPath, ['dist/main'], { cwd: app, env: productionEnv });
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
