import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

/*
 * The security evidence pack (docs/security/) maps each threat and control to the test, file or
 * document section that proves it. This check keeps those links true: a link to a file that no
 * longer exists, a section whose heading was renamed, or a test name («…» after a link to a test
 * file) that the file no longer has, fails it.
 */
/** The repository: the nearest folder up from here (source or compiled) with the README. */
const ROOT = (function up(dir: string): string {
  return existsSync(join(dir, 'README.md')) && existsSync(join(dir, 'docs')) ? dir : up(dirname(dir));
})(__dirname);
const PACK = join(ROOT, 'docs', 'security');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const anchorsOf = (markdown: string) =>
  new Set([...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((match) => slug(match[1].replace(/`/g, ''))));

interface Evidence {
  doc: string;
  target: string;
  anchor?: string;
  testName?: string;
}

/** Every relative link of a pack document, with the «test name» that follows a link to a test file. */
function evidenceOf(doc: string): Evidence[] {
  const text = readFileSync(doc, 'utf8');
  return [...text.matchAll(/\]\((?!https?:|mailto:|#)([^)\s]+)\)((?:[,;\s]*›\s*«[^»]+»)*)/g)].flatMap((match) => {
    const [path, anchor] = match[1].split('#');
    const target = resolve(dirname(doc), path);
    const names = [...match[2].matchAll(/«([^»]+)»/g)].map((name) => name[1]);
    return names.length ? names.map((testName) => ({ doc, target, anchor, testName })) : [{ doc, target, anchor }];
  });
}

const packDocs = () => (existsSync(PACK) ? readdirSync(PACK).filter((name) => name.endsWith('.md')) : []).map((name) => join(PACK, name));

/** The broken links of `docs`, and how many links were checked. */
function brokenLinks(docs: string[]): { broken: string[]; checked: number } {
  const broken: string[] = [];
  let checked = 0;
  for (const doc of docs) {
    for (const evidence of evidenceOf(doc)) {
      checked++;
      const where = `${relative(ROOT, doc)} → ${relative(ROOT, evidence.target)}`;
      if (!existsSync(evidence.target)) {
        broken.push(`${where}: no such file`);
        continue;
      }
      if (evidence.anchor && evidence.target.endsWith('.md') && !anchorsOf(readFileSync(evidence.target, 'utf8')).has(evidence.anchor)) {
        broken.push(`${where}#${evidence.anchor}: no such section`);
      }
      if (evidence.testName && !readFileSync(evidence.target, 'utf8').includes(evidence.testName)) {
        broken.push(`${where}: no test named «${evidence.testName}»`);
      }
    }
  }
  return { broken, checked };
}

describe('security evidence pack (docs/security)', () => {
  it('exists, with the threat model', () => {
    assert.ok(
      packDocs().some((doc) => doc.endsWith('threat-model.md')),
      'docs/security/threat-model.md',
    );
  });

  it('links only to files, sections and test names that exist', () => {
    const { broken, checked } = brokenLinks(packDocs());
    assert.ok(checked > 10, `only ${checked} evidence links found`);
    assert.deepEqual(broken, []);
  });

  it('reports a missing file, a renamed section and a renamed test', () => {
    const dir = mkdtempSync(join(tmpdir(), 'evidence-'));
    try {
      const doc = join(dir, 'pack.md');
      const here = relative(dir, join(ROOT, 'src', 'security-evidence.spec.ts'));
      const readme = relative(dir, join(ROOT, 'README.md'));
      writeFileSync(
        doc,
        [
          `[gone](${here}.old)`,
          `[readme](${readme}#no-such-heading)`,
          `[readme](${readme}) › «a test nobody wrote»`,
          `[spec](${here}) › «reports a missing file, a renamed section and a renamed test»`,
          `[readme](${readme}#tests)`,
        ].join('\n'),
      );
      const { broken, checked } = brokenLinks([doc]);
      assert.equal(checked, 5);
      assert.equal(broken.length, 3, broken.join('\n'));
      assert.match(broken.join('\n'), /no such file[\s\S]*no such section[\s\S]*no test named «a test nobody wrote»/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
