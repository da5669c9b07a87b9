#!/usr/bin/env node
/*
 * A newcomer's machine, replayed cheaply (.ci/run runs it after the full test run): Node and npm,
 * no moto_server, redis-server or promtool on PATH, and no PostgreSQL where the tests look for
 * one (TEST_POSTGRES_PORT points at a closed port; the machine's own server is left alone). A
 * small filtered set of end-to-end files runs twice through scripts/run-tests.js:
 *   - as `npm test` would: it must pass on the PostgreSQL it starts from the npm registry, skip the
 *     tests that need the missing tools, and end with the summary naming each of them;
 *   - with CI=true: the same run must fail, naming what is missing.
 * Usage: node scripts/newcomer-check.js   (TEST_BUILD_DIR as for run-tests.js)
 */
const { spawn } = require('node:child_process');
const { accessSync, constants, mkdirSync, readdirSync, rmSync, statSync, symlinkSync } = require('node:fs');
const { createServer } = require('node:net');
const { delimiter, dirname, join } = require('node:path');

const root = join(__dirname, '..');
const MISSING = ['moto_server', 'redis-server', 'promtool'];
/** One file per kind of need: PostgreSQL only (runs), moto, Redis, promtool (their tests skip). */
const FILES = [
  'database/rotation-indexes-upgrade.e2e-spec',
  'private-key-cache.e2e-spec',
  'resilience/redis.e2e-spec',
  'observability/alerts.e2e-spec',
];

/** A directory of links to every program on PATH but the missing tools, this Node's first. */
function strippedPath() {
  const bin = join(root, process.env.TEST_BUILD_DIR || join('.build', 'test'), 'newcomer-path');
  rmSync(bin, { recursive: true, force: true });
  mkdirSync(bin, { recursive: true });
  const dirs = [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  for (const dir of dirs) {
    let names;
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (MISSING.includes(name)) continue;
      const target = join(dir, name);
      try {
        accessSync(target, constants.X_OK);
        if (!statSync(target).isFile()) continue;
        symlinkSync(target, join(bin, name));
      } catch {
        // not a program, or an earlier directory already has one of that name
      }
    }
  }
  return bin;
}

/** A loopback port nothing listens on. */
function closedPort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function runTests(env) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(root, 'scripts', 'run-tests.js'), 'e2e', ...FILES], { cwd: root, env });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => {
        output += chunk;
        process.stdout.write(chunk);
      });
    }
    child.once('exit', (code) => resolve({ code, output, seconds: (Date.now() - started) / 1000 }));
  });
}

async function main() {
  const env = { ...process.env, PATH: strippedPath(), TEST_POSTGRES_PORT: String(await closedPort()) };
  delete env.TEST_DATABASE_URL;
  delete env.CI;
  const problems = [];
  const expect = (condition, what) => condition || problems.push(what);

  console.log(
    `# newcomer check: ${FILES.join(', ')} without ${MISSING.join(', ')} and with no PostgreSQL on 127.0.0.1:${env.TEST_POSTGRES_PORT}`,
  );
  const plain = await runTests(env);
  console.log(`# newcomer check: npm test's run took ${plain.seconds.toFixed(1)} s and exited ${plain.code}`);
  expect(plain.code === 0, `without CI it exited ${plain.code}, not 0`);
  expect(/PostgreSQL: embedded/.test(plain.output), 'it did not start its own PostgreSQL');
  expect(/^ℹ pass [1-9]/m.test(plain.output), 'no test passed (the PostgreSQL tests should run)');
  expect(/^# Not run here: \d+ tests? skipped/m.test(plain.output), 'no closing summary of missing tools');
  for (const tool of MISSING)
    expect(new RegExp(`^  ${tool}: [1-9]\\d* tests? skipped`, 'm').test(plain.output), `the summary does not name ${tool}`);

  const ci = await runTests({ ...env, CI: 'true' });
  console.log(`# newcomer check: the CI=true run took ${ci.seconds.toFixed(1)} s and exited ${ci.code}`);
  expect(ci.code !== 0, 'with CI=true it exited 0');
  expect(
    new RegExp(`CI=true: failing.*missing: .*${MISSING.map((tool) => `(?=.*${tool})`).join('')}`).test(ci.output),
    'with CI=true it did not name what is missing',
  );

  if (problems.length > 0) {
    console.error(`# newcomer check failed:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    process.exit(1);
  }
  console.log('# newcomer check passed');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
