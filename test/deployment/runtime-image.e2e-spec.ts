import assert from 'node:assert/strict';
import { ChildProcess, spawnSync, SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CognitoPool, Moto, MOTO_REGION } from '../support/moto';
import { ApiContract, checkedFetch } from '../support/openapi-contract';
import { TestDatabase } from '../support/postgres';
import { freePort, spawnLogged, stopProcess, waitFor } from '../support/processes';
import { env, only, PRODUCTION_VALUES, render, ROOT } from './chart';

/**
 * The Dockerfile replayed without a container engine. Build stage: only the files it copies, the
 * repository's node_modules standing in for its `npm ci` (same lockfile), and its `npm run build`.
 * Runtime stage: a fresh directory with that dist, package.json, the lockfile and exactly the
 * stage's commands (`npm ci --omit=dev`, the SBOM), but for `npm cache clean`, which would empty
 * this machine's cache; then the migration Job's and the Deployment's commands, in the chart's
 * production configuration, against PostgreSQL and moto's KMS and Cognito. A runtime import of a
 * dev dependency, or a file the build needs but the Dockerfile does not copy, fails here.
 */

/** Where the SBOM the runtime stage wrote is copied for CI to show: `<test build dir>/sbom.cdx.json`. */
const SBOM_COPY = join(__dirname, '..', '..', 'sbom.cdx.json');

type LockEntry = {
  name?: string;
  dev?: boolean;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};
type Lockfile = { packages: Record<string, LockEntry> };

/** `name@version` of the lockfile entry at this node_modules path. */
function packageId(path: string, entry: LockEntry): string {
  return `${entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)}@${entry.version}`;
}

/**
 * `name@version` of every package the lockfile installs for the root package's production
 * dependencies, found as Node and npm find them (nearest node_modules up the tree). Workspaces and
 * what only they need are not in the image (the Dockerfile copies none), nor are dev-only packages.
 */
function lockedProductionPackages(lock: Lockfile, installed: (path: string) => boolean): Set<string> {
  const found = new Set<string>();
  const visited = new Set<string>();
  const enter = (path: string): void => {
    if (visited.has(path)) return;
    visited.add(path);
    const entry = lock.packages[path];
    if (path) found.add(packageId(path, entry));
    const required = Object.keys({ ...entry.dependencies, ...entry.peerDependencies }).filter(
      (name) => !entry.peerDependenciesMeta?.[name]?.optional,
    );
    for (const name of required) enter(resolve(path, name, true)!);
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      const optional = resolve(path, name, false);
      // An optional package npm skipped on this platform is not in the image either.
      if (optional && installed(optional)) enter(optional);
    }
  };
  const resolve = (from: string, name: string, required: boolean): string | undefined => {
    for (let base = from; ; base = base.includes('/node_modules/') ? base.slice(0, base.lastIndexOf('/node_modules/')) : '') {
      const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
      if (lock.packages[candidate]) return candidate;
      if (!base) break;
    }
    assert.ok(!required, `package-lock.json has no ${name} for ${from || 'the root package'}`);
    return undefined;
  };
  enter('');
  return found;
}
type CycloneDx = {
  bomFormat: string;
  specVersion: string;
  metadata: { component: { 'bom-ref': string } };
  components: { name: string; version: string; purl: string }[];
};

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

/** `node:<version>-<distribution>-slim`: the exact Node version of the base image. */
function baseImageVersion(dockerfile: string): string | undefined {
  return /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)-[a-z]+-slim$/m.exec(dockerfile)?.[1];
}

describe('Docker image stages, replayed without a container engine', () => {
  let work: string;
  let app: string;
  let build: string[];
  let runtime: string[];
  let sbomFile: string;

  before(() => {
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

    // Runtime stage: the manifests, then its commands (npm ci from the npm cache when it can). The
    // last RUN's `rm` of npm and the shell is the image's alone: run here, it would strip this machine.
    const commands = shellCommands(runtime).filter((command) => !command.startsWith('npm cache clean') && !/^rm\s/.test(command));
    assert.ok(
      commands.some((command) => command.startsWith('npm ci')),
      'the runtime stage has no npm ci',
    );
    copyFileSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    copyFileSync(join(ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
    for (const command of commands) run('sh', ['-c', command.startsWith('npm ci') ? `${command} --prefer-offline` : command], { cwd: app });
    cpSync(join(buildDir, 'dist'), join(app, 'dist'), { recursive: true });

    const sbomCommand = commands.find((command) => command.startsWith('npm sbom '));
    assert.ok(sbomCommand, 'the runtime stage writes no SBOM');
    sbomFile = /\s>\s*(\S+)$/.exec(sbomCommand)?.[1] ?? '';
    assert.ok(sbomFile, `${sbomCommand} does not write to a file`);
    copyFileSync(join(app, sbomFile), SBOM_COPY);
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('matches the Dockerfile: pinned Node base, production env, dist from the build stage, non-root user, node dist/main', () => {
    assert.ok(baseImageVersion(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')), 'the base image must be pinned to a full Node version');
    for (const stage of [build, runtime]) assert.match(stage[0], /^FROM \$\{NODE_IMAGE\} AS /);
    assert.match(instructions(runtime, 'ENV').join(' '), /\bNODE_ENV=production\b/);
    assert.ok(shellCommands(runtime).some((command) => /^npm ci\b.*--omit=dev/.test(command)));
    assert.deepEqual(
      instructions(runtime, 'COPY').filter((line) => line.startsWith('--from=')),
      ['--from=build /app/dist ./dist'],
    );
    assert.match(instructions(runtime, 'USER').at(-1) ?? '', /^[1-9]\d*(:\d+)?$/, 'USER must be a non-root numeric uid');
    assert.deepEqual(
      instructions(runtime, 'CMD').map((cmd) => JSON.parse(cmd)),
      [['node', 'dist/main']],
    );
  });

  it('leaves no package manager and no shell in the runtime image: its last RUN deletes them, after the SBOM', () => {
    const runs = instructions(runtime, 'RUN');
    const last = runs.at(-1)!;
    assert.ok(runtime.indexOf(`RUN ${last}`) > runtime.findIndex((line) => line.startsWith('COPY --from=build')), 'not after the code');
    const removed = last
      .split('&&')
      .map((part) => part.trim())
      .filter((part) => /^rm\s/.test(part))
      .flatMap((part) => part.split(/\s+/).filter((word) => word.startsWith('/')));
    assert.ok(
      last.split('&&').every((part) => /^rm\s/.test(part.trim())),
      'the last RUN only deletes',
    );
    for (const path of [
      '/usr/local/bin/npm',
      '/usr/local/bin/npx',
      '/usr/local/bin/corepack',
      '/usr/local/lib/node_modules/npm',
      '/bin/sh',
      '/usr/bin/bash',
      '/usr/bin/dash',
    ])
      assert.ok(removed.includes(path), `${path} stays in the image`);
    assert.ok(
      !removed.some((path) => path === '/app' || path.startsWith('/app/') || path.startsWith('/usr/local/bin/node')),
      'deletes what the service needs',
    );
    // Nothing after it needs a shell or npm: only metadata instructions follow.
    const after = runtime.slice(runtime.indexOf(`RUN ${last}`) + 1).map((line) => line.split(/\s+/)[0].toUpperCase());
    assert.deepEqual(
      after.filter((keyword) => !['USER', 'EXPOSE', 'CMD'].includes(keyword)),
      [],
    );
  });

  it('names one Node version everywhere: .nvmrc, the base image, engines, @types/node, and every image the docs name', () => {
    const nvmrc = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim();
    const [major, minor] = nvmrc.split('.');
    assert.match(nvmrc, /^\d+\.\d+\.\d+$/, '.nvmrc must name an exact version (CI and the benchmark install it)');
    assert.equal(baseImageVersion(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')), nvmrc, 'the Dockerfile base image');
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    // The line, not only a floor: a newer major (27, not LTS) is another line.
    assert.equal(manifest.engines.node, `^${major}.${minor}.0`, 'engines.node');
    assert.match(manifest.devDependencies['@types/node'], new RegExp(`^\\^${major}\\.`), '@types/node');
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
    assert.deepEqual(lock.packages[''].engines, manifest.engines, 'package-lock.json is stale');
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))![1];
    const docs = [
      'README.md',
      'helm/pii-encryption-api/README.md',
      ...readdirSync(join(ROOT, 'docs'))
        .filter((name) => name.endsWith('.md'))
        .map((name) => `docs/${name}`),
    ];
    for (const doc of docs) {
      for (const [named] of readFileSync(join(ROOT, doc), 'utf8').matchAll(/\bnode:\d[\w.-]*/g))
        assert.equal(named, image, `${doc} names ${named}`);
    }
  });

  it('keeps secrets, local data, tests and node_modules out of the build context, but not what the build copies', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim());
    for (const entry of ['.env', 'data/', 'test/', 'node_modules/', '.git/'])
      assert.ok(ignored.includes(entry), `.dockerignore lacks ${entry}`);
    const copied = instructions(build, 'COPY').flatMap((line) => line.split(/\s+/).slice(0, -1));
    for (const source of copied) assert.ok(!ignored.includes(source) && !ignored.includes(`${source}/`), `${source} is copied but ignored`);
  });

  it('installs the production dependency tree and nothing marked dev-only in the lockfile', () => {
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8'));
    const packages = Object.entries<{ dev?: boolean }>(lock.packages).filter(([path]) => path.startsWith('node_modules/'));
    const devOnly = packages.filter(([, meta]) => meta.dev).map(([path]) => path);
    assert.ok(devOnly.includes('node_modules/@nestjs/cli'));
    assert.deepEqual(
      devOnly.filter((path) => existsSync(join(app, path))),
      [],
    );
    const { dependencies } = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    for (const name of Object.keys(dependencies)) assert.ok(existsSync(join(app, 'node_modules', name)), `${name} not installed`);
  });

  it('writes a CycloneDX SBOM into the image that names every production dependency at its locked version, and no dev-only package', () => {
    const sbom: CycloneDx = JSON.parse(readFileSync(join(app, sbomFile), 'utf8'));
    assert.equal(sbom.bomFormat, 'CycloneDX');
    const { name, version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(sbom.metadata.component['bom-ref'], `${name}@${version}`);
    const named = new Set(sbom.components.map((component) => `${component.name}@${component.version}`));
    const lock: Lockfile = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
    const production = [...lockedProductionPackages(lock, (path) => existsSync(join(app, path)))];
    assert.ok(production.includes(`@aws-sdk/client-kms@${lock.packages['node_modules/@aws-sdk/client-kms'].version}`));
    assert.deepEqual(
      production.filter((pkg) => !named.has(pkg)),
      [],
      'production packages the SBOM does not name',
    );
    // Beyond those, only what npm ci --omit=dev keeps may appear (e.g. typescript, dev and also an
    // optional peer of @nestjs/swagger, so "devOptional"); never a dev-only package.
    const installable = Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/'));
    const kept = new Set(installable.filter(([, entry]) => !entry.dev).map(([path, entry]) => packageId(path, entry)));
    const devOnly = new Set(installable.map(([path, entry]) => packageId(path, entry)).filter((id) => !kept.has(id)));
    assert.deepEqual(
      [...named].filter((pkg) => devOnly.has(pkg)),
      [],
      'dev-only packages in the SBOM',
    );
    assert.ok(sbom.components.every((component) => component.purl.startsWith('pkg:npm/')));
  });

  it('labels the image with its source, version and revision (OCI annotations), from build arguments', () => {
    const labels = Object.fromEntries(
      instructions(runtime, 'LABEL').flatMap((line) => [...line.matchAll(/(\S+?)="([^"]*)"/g)].map(([, key, value]) => [key, value])),
    );
    const args = instructions(runtime, 'ARG').map((arg) => arg.split('=')[0]);
    for (const [label, arg] of [
      ['source', 'SOURCE'],
      ['version', 'VERSION'],
      ['revision', 'REVISION'],
    ]) {
      assert.equal(labels[`org.opencontainers.image.${label}`], `\${${arg}}`, `org.opencontainers.image.${label}`);
      assert.ok(args.includes(arg), `the runtime stage does not declare ARG ${arg}`);
    }
  });

  describe("in the chart's production configuration", () => {
    let moto: Moto;
    let database: TestDatabase;
    let pool: CognitoPool;
    let productionEnv: Record<string, string>;
    let server: { child: ChildProcess; output: () => string } | undefined;
    let url: string;
    /** The document the service serves, or the default one when it serves none (SWAGGER_ENABLED=false in production). */
    let contract: ApiContract;
    /** fetch to the service, every answer checked against `contract`. */
    const checked = (input: string, init?: RequestInit) => checkedFetch(contract)(input, init);

    before(async () => {
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
          // Loopback: no certificate Secret here, so plain HTTP as behind a mesh (listeners.e2e-spec.ts serves HTTPS).
          'tls.enabled=false',
          'config.ALLOW_PLAIN_HTTP=true',
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
        METRICS_PORT: String(await freePort()),
        // IRSA in the cluster; moto takes any credentials.
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        PATH: process.env.PATH ?? '',
        HOME: work,
      };
      // No collector here: tracing off.
      delete productionEnv.OTEL_EXPORTER_OTLP_ENDPOINT;
      url = `http://127.0.0.1:${productionEnv.PORT}`;
    });

    after(async () => {
      if (server) await stopProcess(server.child);
      await moto?.stop();
      await database?.drop();
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
      assert.equal(productionEnv.NODE_ENV, 'production');
      assert.equal(productionEnv.MIGRATIONS_RUN, 'false');
      server = spawnLogged(process.execPath, ['dist/main'], { cwd: app, env: productionEnv });
      const exited = new Promise<never>((_, reject) =>
        server!.child.once('exit', (code, signal) => reject(new Error(`node dist/main exited (${code ?? signal}):\n${server!.output()}`))),
      );
      exited.catch(() => undefined);
      // The document is known once the service is up: the answers of the start-up poll are kept, and checked against it then.
      const polled: Response[] = [];
      await Promise.race([
        exited,
        waitFor(
          'node dist/main',
          async () => {
            const response = await fetch(`${url}/health/ready`);
            polled.push(response.clone());
            if (response.status !== 200) throw new Error(`/health/ready answered ${response.status}: ${await response.text()}`);
          },
          60_000,
        ),
      ]);
      contract = await ApiContract.of(url);
      for (const response of polled) await contract.checkFetched('GET', `${url}/health/ready`, response);
      const ready = (await (await checked(`${url}/health/ready`)).json()) as {
        status: string;
        info: { keyProvider: { status: string } };
      };
      assert.equal(ready.status, 'ok');
      // Readiness names no provider (status and numbers only); the next test sees KMS seal a key.
      assert.equal(ready.info.keyProvider.status, 'up');
      const live = await checked(`${url}/health/live`);
      assert.equal(live.status, 200);
    });

    it('creates a key for a Cognito-authenticated caller, sealed by KMS', async () => {
      assert.ok(server, 'the service is not running');
      const token = await pool.accessToken(['keys:write']);
      const response = await checked(`${url}/api/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: '4242' }),
      });
      assert.equal(response.status, 201, await response.text());
      const [row] = await database.query<{ key_provider: string }>(`SELECT key_provider FROM user_keys WHERE user_id = 4242`);
      assert.equal(row.key_provider, 'kms');
    });
  });
});
