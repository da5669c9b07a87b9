import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { embeddedStack, Stack } from '../support/stacks';

const ROOT = join(__dirname, '..', '..', '..', '..');
const CLIENT = join(ROOT, 'clients', 'typescript');
const COMMITTED = join(CLIENT, 'src', 'generated', 'schema.d.ts');

/**
 * The client's types are generated from the OpenAPI document and committed. This is the check
 * that they still describe what the service serves: the client's `generate` script (what
 * `npm run client:generate` runs), on the live /docs-json, must give the committed file.
 */
describe('typed client: generated types', () => {
  let stack: Stack;
  let workDir: string;
  before(async () => {
    stack = await embeddedStack.start();
    workDir = mkdtempSync(join(tmpdir(), 'pii-api-client-types-'));
  });
  after(async () => {
    await stack?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('match the OpenAPI document the service serves (else: run npm run client:generate)', async () => {
    const served = await fetch(`${stack.url}/docs-json`);
    assert.equal(served.status, 200);
    const document = join(workDir, 'openapi.json');
    writeFileSync(document, await served.text());
    // The client's own `generate` script, on this document and into a scratch file.
    const [command, , ...flags] = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8')).scripts.generate.split(/\s+/);
    assert.equal(command, 'openapi-typescript');
    const output = join(workDir, 'schema.d.ts');
    flags[flags.indexOf('--output') + 1] = output;
    const manifest = require.resolve('openapi-typescript/package.json', { paths: [CLIENT] });
    const cli = join(manifest, '..', JSON.parse(readFileSync(manifest, 'utf8')).bin['openapi-typescript']);
    const run = spawnSync(process.execPath, [cli, document, ...flags], { cwd: CLIENT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, `openapi-typescript failed:\n${run.stdout}${run.stderr}`);
    const generated = readFileSync(output, 'utf8');
    const committed = readFileSync(COMMITTED, 'utf8');
    if (generated !== committed) {
      const servedLines = generated.split('\n');
      const committedLines = committed.split('\n');
      const line = servedLines.findIndex((text, index) => text !== committedLines[index]);
      assert.fail(
        'clients/typescript/src/generated/schema.d.ts differs from the document the service serves: run npm run client:generate ' +
          `and commit the result. First difference at line ${line + 1}:\n` +
          `  committed: ${committedLines[line] ?? '(end of file)'}\n  served:    ${servedLines[line] ?? '(end of file)'}`,
      );
    }
  });
});
