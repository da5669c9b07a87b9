#!/usr/bin/env node
/*
 * `npm test`: compiles sources and tests with tsc (the same compiler as the build, so decorator
 * metadata is exactly what production sees), then runs Node's built-in test runner on the
 * compiled unit specs (src/**\/*.spec.ts) and end-to-end specs (test/**\/*.e2e-spec.ts).
 * Usage: node scripts/run-tests.js [unit|e2e] [name filter]
 */
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
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
  { name: 'unit', files: compiledSpecs('src', '.spec'), concurrency: 2 },
  { name: 'e2e', files: compiledSpecs('test', '.e2e-spec'), concurrency: 1 },
].filter((suite) => !only || suite.name === only);

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
    { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
  );
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
