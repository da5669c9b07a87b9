#!/usr/bin/env node
/*
 * A static picture of the Grafana dashboard (helm/pii-encryption-api/dashboards) where no Grafana
 * runs: nine of its panels drawn as SVG line charts from /metrics snapshots taken once a second
 * during one benchmark run (`npm run bench:tracing` writes .build/bench-metrics.json). Each
 * panel computes what its PromQL query computes (rates over 5 s, histogram quantiles by linear
 * interpolation within the bucket, ratios), in plain JavaScript.
 * Usage: node scripts/dashboard-svg.js .build/bench-metrics.json docs/observability/dashboard.svg
 */
const { readFileSync, writeFileSync } = require('node:fs');

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/dashboard-svg.js <bench-metrics.json> <out.svg>');
  process.exit(2);
}
const WINDOW = 5;

/** Exposition text → [{ name, labels, value }]. */
function parse(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: match[1], labels, value: Number(match[4]) });
  }
  return samples;
}

const snapshots = JSON.parse(readFileSync(input, 'utf8')).map((s) => ({ t: s.t / 1000, samples: parse(s.text) }));
const start = snapshots[0].t;

const sumBy = (samples, name, by, filter = () => true) => {
  const out = {};
  for (const s of samples)
    if (s.name === name && filter(s.labels)) {
      const key = by.map((label) => s.labels[label]).join(' ');
      out[key] = (out[key] ?? 0) + s.value;
    }
  return out;
};
/** Per-second increase of a counter summed by labels, over the WINDOW snapshots before i. */
const rate = (i, name, by, filter) => {
  const j = Math.max(0, i - WINDOW);
  if (i === j) return {};
  const now = sumBy(snapshots[i].samples, name, by, filter);
  const then = sumBy(snapshots[j].samples, name, by, filter);
  const dt = snapshots[i].t - snapshots[j].t;
  return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, Math.max(0, v - (then[k] ?? 0)) / dt]));
};
const quantile = (q, i, name, by, filter) => {
  const buckets = rate(i, `${name}_bucket`, [...by, 'le'], filter);
  const groups = {};
  for (const [key, value] of Object.entries(buckets)) {
    const parts = key.split(' ');
    const le = parts.pop();
    (groups[parts.join(' ')] ??= []).push({ le: le === '+Inf' ? Infinity : Number(le), value });
  }
  const out = {};
  for (const [key, list] of Object.entries(groups)) {
    list.sort((a, b) => a.le - b.le);
    const total = list.at(-1).value;
    if (!total) continue;
    const rank = q * total;
    let prevLe = 0,
      prevCount = 0;
    for (const { le, value } of list) {
      if (value >= rank) {
        out[key] = le === Infinity ? prevLe : prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-9, value - prevCount);
        break;
      }
      prevLe = le;
      prevCount = value;
    }
  }
  return out;
};
const gauge = (i, name, by) => sumBy(snapshots[i].samples, name, by);
const api = (labels) => labels.route?.startsWith('/api/');

const PANELS = [
  { title: 'Request rate by route (req/s)', f: (i) => rate(i, 'pii_api_http_requests_total', ['route'], api) },
  {
    title: 'Latency p99 by route (ms)',
    f: (i) => scaled(quantile(0.99, i, 'pii_api_http_request_duration_seconds', ['route'], api), 1000),
  },
  { title: 'Items encrypted and decrypted per second', f: (i) => rate(i, 'pii_api_crypto_items_total', ['operation']) },
  { title: 'Latency p50 by route (ms)', f: (i) => scaled(quantile(0.5, i, 'pii_api_http_request_duration_seconds', ['route'], api), 1000) },
  {
    title: 'Cache hit ratio',
    f: (i) =>
      ratio(
        rate(i, 'pii_api_cache_lookups_total', ['cache'], (l) => l.result === 'hit'),
        rate(i, 'pii_api_cache_lookups_total', ['cache']),
      ),
  },
  { title: 'KMS calls by outcome (per second)', f: (i) => rate(i, 'pii_api_kms_requests_total', ['outcome']) },
  { title: 'Event-loop lag p99 (ms)', f: (i) => scaled(gauge(i, 'nodejs_eventloop_lag_p99_seconds', []), 1000, 'p99') },
  {
    title: 'Memory (MiB)',
    f: (i) => ({
      resident: gauge(i, 'process_resident_memory_bytes', [])[''] / 2 ** 20,
      'heap used': gauge(i, 'nodejs_heap_size_used_bytes', [])[''] / 2 ** 20,
    }),
  },
  { title: 'GC time per second by kind', f: (i) => rate(i, 'nodejs_gc_duration_seconds_sum', ['kind']) },
];
function scaled(values, factor, rename) {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [rename ?? k, v * factor]));
}
function ratio(a, b) {
  return Object.fromEntries(
    Object.entries(b)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => [k, (a[k] ?? 0) / v]),
  );
}

const COLORS = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#b07aa1', '#76b7b2', '#edc948', '#9c755f'];
const PW = 380,
  PH = 200,
  GAP = 16,
  COLS = 3,
  M = { l: 46, r: 10, t: 26, b: 40 };
const rows = Math.ceil(PANELS.length / COLS);
const W = COLS * PW + (COLS + 1) * GAP,
  H = rows * PH + (rows + 1) * GAP + 30;
const escapeXml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const svg = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="10">`,
  `<rect width="100%" height="100%" fill="#111217"/>`,
  `<text x="${GAP}" y="22" fill="#d8d9da" font-size="14" font-weight="bold">PII Encryption API — panels of the dashboard, drawn from /metrics of one benchmark run (${Math.round(snapshots.at(-1).t - start)} s)</text>`,
];
PANELS.forEach((panel, index) => {
  const x0 = GAP + (index % COLS) * (PW + GAP),
    y0 = 30 + GAP + Math.floor(index / COLS) * (PH + GAP);
  const series = {};
  snapshots.forEach((s, i) => {
    for (const [key, value] of Object.entries(panel.f(i)))
      if (Number.isFinite(value)) (series[key || 'all'] ??= []).push([s.t - start, value]);
  });
  const all = Object.values(series).flat();
  const maxY = Math.max(1e-9, ...all.map(([, v]) => v)) * 1.1;
  const maxX = snapshots.at(-1).t - start;
  const px = (t) => x0 + M.l + (t / maxX) * (PW - M.l - M.r);
  const py = (v) => y0 + PH - M.b - (v / maxY) * (PH - M.t - M.b);
  svg.push(`<rect x="${x0}" y="${y0}" width="${PW}" height="${PH}" fill="#181b1f" stroke="#2c3235"/>`);
  svg.push(`<text x="${x0 + 8}" y="${y0 + 16}" fill="#d8d9da" font-size="11" font-weight="bold">${escapeXml(panel.title)}</text>`);
  for (let k = 0; k <= 4; k++) {
    const v = (maxY * k) / 4,
      y = py(v);
    svg.push(`<line x1="${px(0)}" y1="${y}" x2="${px(maxX)}" y2="${y}" stroke="#2c3235"/>`);
    svg.push(
      `<text x="${px(0) - 4}" y="${y + 3}" fill="#8e8e8e" text-anchor="end">${v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(3)}</text>`,
    );
  }
  svg.push(`<text x="${px(maxX)}" y="${py(0) + 12}" fill="#8e8e8e" text-anchor="end">${Math.round(maxX)} s</text>`);
  Object.entries(series)
    .slice(0, 8)
    .forEach(([key, points], s) => {
      const color = COLORS[s % COLORS.length];
      svg.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points.map(([t, v]) => `${px(t).toFixed(1)},${py(v).toFixed(1)}`).join(' ')}"/>`,
      );
      const lx = x0 + 8 + (s % 3) * 124,
        ly = y0 + PH - 22 + Math.floor(s / 3) * 11;
      svg.push(
        `<rect x="${lx}" y="${ly - 7}" width="8" height="3" fill="${color}"/><text x="${lx + 11}" y="${ly}" fill="#bdbdbd">${escapeXml(key.length > 20 ? key.slice(-20) : key)}</text>`,
      );
    });
});
svg.push('</svg>');
writeFileSync(output, svg.join('\n') + '\n');
console.log(`${output}: ${PANELS.length} panels from ${snapshots.length} snapshots`);
