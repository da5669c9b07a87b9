import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dump } from 'js-yaml';
import { CHART, EVALUATION, find, K8sObject, render, ROOT } from '../deployment/chart';
import { requireOnPath } from '../support/missing-tool';

const RUNBOOK = 'https://runbooks.example.org/pii/slo.md';
const SLO_DOC = join(ROOT, 'docs', 'slo.md');

/** promtool from Debian's `prometheus` package (.ci/run installs it); missing, the tests that need it are skipped (MissingTool). */
function promtool(args: string[], cwd: string) {
  requireOnPath('promtool');
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (run.error) throw new Error(`promtool could not be run: ${run.error.message}`);
  return run;
}

/** GitHub's anchor for a Markdown heading. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');

describe(
  'Dashboard and alert rules in the chart: rendered when enabled, rules checked and unit-tested with promtool',
  { timeout: 120_000 },
  () => {
    const work = mkdtempSync(join(tmpdir(), 'pii-api-rules-'));
    after(() => rmSync(work, { recursive: true, force: true }));

    const enabled = () =>
      render(
        [],
        [
          EVALUATION,
          'dashboards.enabled=true',
          'alerts.enabled=true',
          'alerts.labels.release=kube-prometheus-stack',
          `alerts.runbookUrl=${RUNBOOK}`,
        ],
      );

    it('renders neither by default', () => {
      const objects = render([], [EVALUATION]);
      assert.equal(find(objects, 'PrometheusRule').length, 0);
      assert.equal(objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard).length, 0);
    });

    it('ships the dashboard as a ConfigMap with the label the Grafana sidecar watches', () => {
      const [configMap] = enabled().filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
      assert.ok(configMap, 'a ConfigMap labelled grafana_dashboard: "1"');
      const dashboard = JSON.parse(configMap.data['pii-encryption-api.json']);
      assert.equal(dashboard.uid, 'pii-encryption-api');
      assert.deepEqual(dashboard, JSON.parse(readFileSync(join(CHART, 'dashboards', 'pii-encryption-api.json'), 'utf8')));
    });

    describe('the PrometheusRule', () => {
      let rule: K8sObject;
      const rulesFile = join(work, 'pii-encryption-api.rules.yaml');

      it('renders with the ruleSelector labels and every runbook_url pointing at its section of docs/slo.md', () => {
        [rule] = find(enabled(), 'PrometheusRule');
        assert.ok(rule);
        assert.equal(rule.metadata.labels?.release, 'kube-prometheus-stack');
        const sections = new Set([...readFileSync(SLO_DOC, 'utf8').matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchor(m[1])));
        const alerts = rule.spec.groups.flatMap((group: { rules: Array<Record<string, any>> }) => group.rules.filter((r) => r.alert));
        assert.ok(alerts.length >= 10);
        for (const alert of alerts) {
          const url = String(alert.annotations?.runbook_url);
          assert.ok(url.startsWith(`${RUNBOOK}#`), `${alert.alert}: ${url}`);
          assert.ok(sections.has(url.slice(RUNBOOK.length + 1)), `${alert.alert}: no section ${url} in docs/slo.md`);
          assert.ok(['critical', 'warning'].includes(alert.labels?.severity), `${alert.alert}: severity`);
        }
        // Exactly what the PrometheusRule holds, as promtool reads it.
        writeFileSync(rulesFile, dump({ groups: rule.spec.groups }, { lineWidth: -1 }));
        copyFileSync(join(CHART, 'alerts', 'pii-encryption-api.rules.test.yaml'), join(work, 'rules.test.yaml'));
      });

      it('passes promtool check rules', () => {
        const run = promtool(['check', 'rules', rulesFile], work);
        assert.equal(run.status, 0, run.stdout + run.stderr);
        assert.match(run.stdout, /SUCCESS: \d+ rules found/);
      });

      it('passes promtool test rules: the alerts fire on the synthetic series, and stay quiet within budget', () => {
        const tests = readFileSync(join(work, 'rules.test.yaml'), 'utf8').replaceAll('RUNBOOK_URL', RUNBOOK);
        writeFileSync(join(work, 'rules.test.yaml'), tests);
        const run = promtool(['test', 'rules', 'rules.test.yaml'], work);
        assert.equal(run.status, 0, run.stdout + run.stderr);
        assert.match(run.stdout, /SUCCESS/);
      });

      it('fails promtool test rules when an alert would not fire (the check can fail)', () => {
        const broken = readFileSync(rulesFile, 'utf8').replace(
          'pii_api_audit_write_failures_total[5m])) > 0',
          'pii_api_audit_write_failures_total[5m])) > 100',
        );
        writeFileSync(join(work, 'pii-encryption-api.rules.yaml'), broken);
        const run = promtool(['test', 'rules', 'rules.test.yaml'], work);
        assert.notEqual(run.status, 0);
        assert.match(run.stdout + run.stderr, /PiiApiAuditWritesFailing/);
      });
    });
  },
);
