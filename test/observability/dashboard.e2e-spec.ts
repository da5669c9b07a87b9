import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { load } from 'js-yaml';
import { CHART } from '../deployment/chart';
import { embeddedStack, Stack } from '../support/stacks';

const DASHBOARD = join(CHART, 'dashboards', 'pii-encryption-api.json');
const RULES = join(CHART, 'alerts', 'pii-encryption-api.rules.yaml');

interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
}

/** Metric names a PromQL expression reads: the service's, Node's and the process's families (not recording rules). */
function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\b(?:pii_api|nodejs|process)_[a-z0-9_]+\b/g) ?? [])];
}

/** The metric families /metrics exports, with their types. */
function exportedFamilies(exposition: string): Map<string, string> {
  return new Map(
    exposition
      .split('\n')
      .filter((line) => line.startsWith('# TYPE '))
      .map((line) => line.split(' ').slice(2, 4) as [string, string]),
  );
}

/** Whether `name` is exported: a family itself, or a histogram's _bucket, _sum or _count series. */
function isExported(name: string, families: Map<string, string>): boolean {
  if (families.has(name)) return true;
  const series = /^(.*)_(bucket|sum|count)$/.exec(name);
  return Boolean(
    series &&
    ['histogram', 'summary'].includes(families.get(series[1]) ?? '') &&
    (series[2] !== 'bucket' || families.get(series[1]) === 'histogram'),
  );
}

describe('Grafana dashboard and alert rules: every metric they read is one the service exports', { timeout: 120_000 }, () => {
  let stack: Stack;
  let families: Map<string, string>;
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const panels = dashboard.panels.filter((panel) => panel.type !== 'row');

  before(async () => {
    stack = await embeddedStack.start();
    families = exportedFamilies((await stack.http().get('/metrics').expect(200)).text);
  });

  after(async () => {
    await stack?.close();
  });

  it('has the panels the people on call asked for, each with a query', () => {
    const titles = panels.map((panel) => panel.title).join('\n');
    for (const wanted of [
      /request rate/i,
      /error ratio/i,
      /p50 and p99 by route/i,
      /items encrypted and decrypted/i,
      /KMS latency/i,
      /retries/i,
      /circuit breaker/i,
      /cache hit ratio/i,
      /redis fallbacks/i,
      /rate-limit refusals/i,
      /audit write failures/i,
      /rotation job runs/i,
      /keys rotated/i,
      /event-loop lag/i,
      /memory/i,
      /GC/,
    ]) {
      assert.match(titles, wanted);
    }
    for (const panel of panels) assert.ok(panel.targets?.length, `${panel.title} has no query`);
  });

  it('finds no panel whose query names a metric /metrics does not export', () => {
    const missing = panels.flatMap((panel) =>
      (panel.targets ?? []).flatMap((target) => {
        const names = metricNames(target.expr);
        assert.ok(names.length > 0, `${panel.title}: no metric in ${target.expr}`);
        return names.filter((name) => !isExported(name, families)).map((name) => `${panel.title}: ${name}`);
      }),
    );
    assert.deepEqual(missing, []);
  });

  it('finds no alert or recording rule that reads a metric /metrics does not export', () => {
    const { groups } = load(readFileSync(RULES, 'utf8')) as {
      groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>;
    };
    const rules = groups.flatMap((group) => group.rules);
    assert.ok(rules.length > 10);
    const missing = rules.flatMap((rule) =>
      metricNames(rule.expr)
        .filter((name) => !isExported(name, families))
        .map((name) => `${rule.alert ?? rule.record}: ${name}`),
    );
    assert.deepEqual(missing, []);
  });

  it('notices a metric that is not exported (the check itself can fail)', () => {
    assert.equal(isExported('pii_api_http_request_duration_seconds_bucket', families), true);
    assert.equal(isExported('pii_api_http_requests_total_bucket', families), false);
    assert.equal(isExported('pii_api_no_such_metric_total', families), false);
  });
});
