import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadAll } from 'js-yaml';
import { MissingTool } from '../support/missing-tool';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
};

// Compiled to .build/test/test/deployment: the repository is four levels up.
export const ROOT = resolve(__dirname, '..', '..', '..', '..');
export const CHART = join(ROOT, 'helm', 'pii-encryption-api');
export const PRODUCTION_VALUES = join(CHART, 'examples', 'values-production.yaml');
export const RELEASE = 'pii';
export const NAMESPACE = 'pii';

// The Helm binary scripts/helm.js finds (helm on PATH, else the packaged one on Linux x64), or why
// there is none: then helm() throws MissingTool, and `npm test` skips the tests that render the
// chart and names Helm in its closing summary (a failure with CI=true).
const located = spawnSync(process.execPath, [join(ROOT, 'scripts', 'helm.js')], { encoding: 'utf8' });
if (located.status !== 0 && located.status !== 2) throw new Error(`scripts/helm.js failed:\n${located.stderr}`);
const helmBinary = located.status === 0 ? located.stdout.trim() : undefined;

/** Runs Helm with these arguments. */
export function helm(args: string[]) {
  if (!helmBinary) throw new MissingTool('helm', located.stderr.trim());
  const run = spawnSync(helmBinary, args, { encoding: 'utf8' });
  if (run.error) throw run.error;
  return run;
}

/** `production` has no default (a release must choose): evaluation mode, said explicitly. */
export const EVALUATION = 'production=false';

export interface RenderOptions {
  /** The cluster's version as Helm sees it (`--kube-version`); Helm's own default otherwise. */
  kubeVersion?: string;
  /** Another chart directory (e.g. a copy with extra templates). */
  chart?: string;
}

function templateArgs(valueFiles: string[], set: string[], options: RenderOptions = {}): string[] {
  const args = ['template', RELEASE, options.chart ?? CHART, '--namespace', NAMESPACE];
  if (options.kubeVersion) args.push('--kube-version', options.kubeVersion);
  for (const file of valueFiles) args.push('--values', file);
  for (const pair of set) args.push('--set', pair);
  return args;
}

/** `helm template` with these values; every rendered document, parsed. */
export function render(valueFiles: string[] = [], set: string[] = [], options: RenderOptions = {}): K8sObject[] {
  const args = templateArgs(valueFiles, set, options);
  const run = helm(args);
  assert.equal(run.status, 0, `helm ${args.join(' ')} failed:\n${run.stderr}`);
  return (loadAll(run.stdout) as (K8sObject | null)[]).filter((doc): doc is K8sObject => doc !== null);
}

/** `helm template` that must fail; its error output. */
export function renderFails(valueFiles: string[], set: string[] = []): string {
  const run = helm(templateArgs(valueFiles, set));
  assert.notEqual(run.status, 0, `helm template succeeded with ${[...valueFiles, ...set].join(', ')}`);
  return run.stderr;
}

export function find(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((object) => object.kind === kind);
}

export function only(objects: K8sObject[], kind: string): K8sObject {
  const found = find(objects, kind);
  assert.equal(found.length, 1, `expected one ${kind}, found ${found.length}`);
  return found[0];
}

/** The literal value of a container's environment variable. */
export function env(container: any, name: string): string | undefined {
  return container.env?.find((variable: { name: string }) => variable.name === name)?.value;
}

/**
 * The text NOTES.txt prints after `helm install` with these values (as `helm template` renders
 * it: no cluster, so `lookup` finds nothing). Helm renders NOTES only on install; here a copy of
 * the chart renders the same template text with tpl into a ConfigMap.
 */
export function renderNotes(valueFiles: string[] = [], set: string[] = []): string {
  const copy = mkdtempSync(join(tmpdir(), 'pii-chart-notes-'));
  try {
    cpSync(CHART, copy, { recursive: true });
    writeFileSync(join(copy, 'notes-under-test.txt'), readFileSync(join(CHART, 'templates', 'NOTES.txt')));
    writeFileSync(
      join(copy, 'templates', 'zz-notes-under-test.yaml'),
      [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        '  name: notes-under-test',
        'data:',
        '  notes: |',
        '{{ tpl (.Files.Get "notes-under-test.txt") . | indent 4 }}',
        '',
      ].join('\n'),
    );
    const notes = render(valueFiles, set, { chart: copy }).find((object) => object.metadata.name === 'notes-under-test');
    assert.ok(notes, 'NOTES.txt did not render');
    return notes.data.notes;
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}
