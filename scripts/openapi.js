#!/usr/bin/env node
/*
 * Writes the OpenAPI document the service serves at /docs-json, without any outside service:
 * the built app (dist/, from `npm run build`) starts on its embedded defaults (PGlite, local key
 * provider, local issuer) in a temporary DATA_DIR, answers one GET /docs-json on a loopback port
 * it picks itself, and stops. `npm run client:generate` turns the document into the client's types.
 * Usage: node scripts/openapi.js [output file, default .build/openapi.json]
 */
const { mkdirSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { dirname, join, resolve } = require('node:path');

const root = join(__dirname, '..');
const output = resolve(process.argv[2] ?? join(root, '.build', 'openapi.json'));

async function main() {
  let createApp;
  try {
    ({ createApp } = require(join(root, 'dist', 'app.factory')));
  } catch (error) {
    throw new Error(`dist/app.factory.js is missing or broken; run npm run build first`, { cause: error });
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'pii-api-openapi-'));
  const app = await createApp({
    NODE_ENV: 'development',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    SWAGGER_ENABLED: 'true',
    ROTATION_ENABLED: 'false',
  });
  try {
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address();
    const response = await fetch(`http://127.0.0.1:${port}/docs-json`);
    if (!response.ok) throw new Error(`GET /docs-json answered ${response.status}`);
    const document = await response.json();
    mkdirSync(dirname(output), { recursive: true });
    writeFileSync(output, `${JSON.stringify(document, null, 2)}\n`);
    console.log(`OpenAPI ${document.openapi} document with ${Object.keys(document.paths).length} paths written to ${output}`);
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
