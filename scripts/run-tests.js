#!/usr/bin/env node
/*
 * `npm test`: compiles sources and tests with tsc (the same compiler as the build, so decorator
 * metadata is exactly what production sees), then runs Node's built-in test runner on the
 * compiled unit specs (src/**\/*.spec.ts, clients/**\/*.spec.ts) and end-to-end specs (test/**\/*.e2e-spec.ts).
 * Usage: node scripts/run-tests.js [unit|e2e] [name filter]
 */
const { spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');

const root = join(__dirname, '..');
// TEST_BUILD_DIR lets several working copies' runs compile side by side.
const outDir = process.env.TEST_BUILD_DIR ? join(root, process.env.TEST_BUILD_DIR) : join(root, '.build', 'test');
const [only, filter] = process.argv.slice(2);

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
        if (existsSync(source) && (!filter || relative(outDir, path).includes(filter))) found.push(path);
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

let failed = false;
for (const suite of suites) {
  if (suite.files.length === 0) {
    console.error(`No ${suite.name} tests found`);
    failed = true;
    continue;
  }
  console.log(`\n# ${suite.name} tests (${suite.files.length} files)`);
  const run = spawnSync(
    process.execPath,
    ['--enable-source-maps', '--test', `--test-concurrency=${suite.concurrency}`, '--test-reporter=spec', ...suite.files],
    { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test', TEST_LOG_DIR: logDir } },
  );
  if (run.status !== 0) failed = true;
}
if (failed) showServiceLogs();

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
process.exit(failed ? 1 : 0);
