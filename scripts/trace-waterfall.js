#!/usr/bin/env node
/*
 * Draws one trace as an SVG waterfall: a row per span in parent/child order, its bar placed on
 * the trace's time axis. Input: the spans test/observability/tracing.e2e-spec.ts captured with
 * its OTLP receiver (<build dir>/traces/decrypt-<stack>.json). docs/observability.md shows the result.
 * Usage: node scripts/trace-waterfall.js <spans.json> <out.svg>
 */
const { readFileSync, writeFileSync } = require('node:fs');

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/trace-waterfall.js <spans.json> <out.svg>');
  process.exit(2);
}
const spans = JSON.parse(readFileSync(input, 'utf8')).map((s) => ({ ...s, start: BigInt(s.startNs), end: BigInt(s.endNs) }));
const ids = new Set(spans.map((s) => s.spanId));
const roots = spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
const children = (span) => spans.filter((s) => s.parentSpanId === span.spanId).sort((a, b) => (a.start < b.start ? -1 : 1));
const rows = [];
const walk = (span, depth) => {
  rows.push({ span, depth });
  for (const child of children(span)) walk(child, depth + 1);
};
for (const root of roots.sort((a, b) => (a.start < b.start ? -1 : 1))) walk(root, 0);

const t0 = spans.reduce((min, s) => (s.start < min ? s.start : min), spans[0].start);
const t1 = spans.reduce((max, s) => (s.end > max ? s.end : max), spans[0].end);
const totalMs = Number(t1 - t0) / 1e6;
const ms = (ns) => Number(ns - t0) / 1e6;

const COLORS = { http: '#4e79a7', express: '#76b7b2', crypto: '#e15759', pg: '#59a14f', redis: '#f28e2b', 'aws-sdk': '#edc948' };
const colorOf = (scope) => Object.entries(COLORS).find(([key]) => scope.includes(key))?.[1] ?? '#9c9c9c';
const escapeXml = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** What the row says besides the span's name: facts from its attributes, never a value of the request. */
function detail(span) {
  const a = span.attributes;
  if (a['pii.batch.items'] !== undefined) return `${a['pii.batch.items']} items, key versions ${JSON.stringify(a['pii.key.versions'])}`;
  if (a['db.query.text']) return String(a['db.query.text']).replace(/\s+/g, ' ').slice(0, 48) + '…';
  if (a['rpc.service']) return `${a['rpc.service']}.${a['rpc.method']}`;
  if (a['http.route']) return a['http.route'];
  return '';
}

const LABEL_W = 430,
  BAR_W = 520,
  ROW_H = 22,
  TOP = 46,
  PAD = 12;
const width = LABEL_W + BAR_W + PAD * 2;
const height = TOP + rows.length * ROW_H + 34;
const scale = BAR_W / totalMs;
const parts = [];
parts.push(
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
);
parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
const service = spans[0].service;
parts.push(
  `<text x="${PAD}" y="18" font-size="13" font-weight="bold">${escapeXml(`Trace ${spans[0].traceId} — ${service}, ${rows.length} spans, ${totalMs.toFixed(1)} ms`)}</text>`,
);
const ticks = 5;
for (let i = 0; i <= ticks; i++) {
  const x = PAD + LABEL_W + (BAR_W * i) / ticks;
  parts.push(`<line x1="${x}" y1="${TOP - 10}" x2="${x}" y2="${height - 26}" stroke="#e5e5e5"/>`);
  parts.push(`<text x="${x}" y="${TOP - 14}" text-anchor="middle" fill="#666">${((totalMs * i) / ticks).toFixed(1)} ms</text>`);
}
rows.forEach(({ span, depth }, index) => {
  const y = TOP + index * ROW_H;
  if (index % 2 === 0) parts.push(`<rect x="0" y="${y - 2}" width="${width}" height="${ROW_H}" fill="#f7f7f7"/>`);
  const label = `${span.name}${detail(span) ? `  ·  ${detail(span)}` : ''}`;
  parts.push(
    `<text x="${PAD + depth * 12}" y="${y + 13}">${escapeXml(label.length > 70 - depth * 2 ? `${label.slice(0, 68 - depth * 2)}…` : label)}</text>`,
  );
  const x = PAD + LABEL_W + ms(span.start) * scale;
  const w = Math.max(1.5, (Number(span.end - span.start) / 1e6) * scale);
  parts.push(`<rect x="${x.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW_H - 8}" rx="2" fill="${colorOf(span.scope)}"/>`);
  const duration = `${(Number(span.end - span.start) / 1e6).toFixed(2)} ms`;
  const textX = x + w + 4 + 60 > PAD + LABEL_W + BAR_W ? x - 4 : x + w + 4;
  parts.push(`<text x="${textX.toFixed(1)}" y="${y + 13}" fill="#333" text-anchor="${textX < x ? 'end' : 'start'}">${duration}</text>`);
});
const legendY = height - 10;
let lx = PAD;
for (const [name, color] of Object.entries(COLORS)) {
  parts.push(
    `<rect x="${lx}" y="${legendY - 9}" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="${legendY}">${name}</text>`,
  );
  lx += 90;
}
parts.push('</svg>');
writeFileSync(output, parts.join('\n') + '\n');
console.log(`${output}: ${rows.length} spans over ${totalMs.toFixed(1)} ms`);
