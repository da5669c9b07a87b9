import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TimelineInput {
  timeline: Array<{ t: number; ok: number; errors: number; other: number; p50Ms: number | null; p99Ms: number | null }>;
  windows: Array<{ name: string; start: number; end: number }>;
  recoveryBoundS: number;
  processSamples?: Array<{ t: number; service: string; rssMiB?: number }>;
}

const W = 960;
const PANEL = 150;
const LEFT = 60;
const RIGHT = 20;
const TOP = 30;
const GAP = 40;

/**
 * The soak's timeline as a plain SVG: three panels (answers a second: 2xx and errors; p50 and p99
 * latency, log scale) over the same time axis, each fault window shaded and named, and its
 * recovery bound lighter after it.
 */
export function renderTimeline({ timeline, windows, recoveryBoundS, processSamples = [] }: TimelineInput): string {
  const end = Math.max(1, timeline.length - 1);
  const x = (t: number) => LEFT + (t / end) * (W - LEFT - RIGHT);
  const height = TOP + 4 * PANEL + 3 * GAP + 40;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
  ];
  const panels: Array<{ title: string; values: number[]; extra?: number[]; color: string; log: boolean; from?: number }> = [
    { title: '2xx answers / s', values: timeline.map((b) => b.ok), color: '#1f77b4', log: false },
    { title: 'errors / s (5xx and connection failures)', values: timeline.map((b) => b.errors), color: '#d62728', log: false },
    {
      title: 'latency p50 (grey) and p99 (black), ms, log scale',
      values: timeline.map((b) => b.p99Ms ?? 0),
      extra: timeline.map((b) => b.p50Ms ?? 0),
      color: '#000',
      log: true,
    },
  ];
  // Resident memory per process, one point a second (the last sample of each second).
  const rss = (service: string) => {
    const series: number[] = timeline.map(() => NaN);
    for (const sample of processSamples)
      if (sample.service === service && sample.rssMiB) series[Math.min(end, Math.floor(sample.t))] = sample.rssMiB;
    let last = series.find((v) => !Number.isNaN(v)) ?? 0;
    return series.map((v) => (Number.isNaN(v) ? last : (last = v)));
  };
  if (processSamples.length) {
    const [a, b] = [rss('service-a'), rss('service-b')];
    const floor = Math.floor(Math.min(...a, ...b) / 50) * 50;
    panels.push({
      title: 'resident memory, MiB: service-a (green), service-b (purple)',
      values: a,
      extra: b,
      color: '#2ca02c',
      log: false,
      from: floor,
    });
  }
  panels.forEach((panel, i) => {
    const y0 = TOP + i * (PANEL + GAP);
    const all = [...panel.values, ...(panel.extra ?? [])];
    const max = Math.max(1, ...all);
    const from = panel.from ?? 0;
    const scale = (v: number) =>
      panel.log ? Math.log10(Math.max(1, v)) / Math.log10(Math.max(10, max)) : (v - from) / Math.max(1, max - from);
    const y = (v: number) => y0 + PANEL - scale(v) * PANEL;
    for (const w of windows) {
      out.push(
        `<rect x="${x(w.start).toFixed(1)}" y="${y0}" width="${Math.max(1, x(w.end) - x(w.start)).toFixed(1)}" height="${PANEL}" fill="#f4a261" fill-opacity="0.35"/>`,
      );
      out.push(
        `<rect x="${x(w.end).toFixed(1)}" y="${y0}" width="${(x(Math.min(end, w.end + recoveryBoundS)) - x(w.end)).toFixed(1)}" height="${PANEL}" fill="#f4a261" fill-opacity="0.12"/>`,
      );
      if (i === 0)
        out.push(`<text x="${x(w.start).toFixed(1)}" y="${y0 - 4 - (windows.indexOf(w) % 2) * 10}" fill="#9c4a00">${w.name}</text>`);
    }
    out.push(`<rect x="${LEFT}" y="${y0}" width="${W - LEFT - RIGHT}" height="${PANEL}" fill="none" stroke="#999"/>`);
    out.push(`<text x="${LEFT + 4}" y="${y0 + 12}" font-weight="bold">${panel.title}</text>`);
    out.push(`<text x="${LEFT - 4}" y="${y0 + 10}" text-anchor="end">${Math.round(max)}</text>`);
    out.push(`<text x="${LEFT - 4}" y="${y0 + PANEL}" text-anchor="end">${panel.log ? 1 : Math.round(from)}</text>`);
    const line = (values: number[], color: string) =>
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1" points="${values.map((v, t) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`,
      );
    if (panel.extra) line(panel.extra, panel.log ? '#999' : '#9467bd');
    line(panel.values, panel.color);
  });
  const axisY = TOP + 4 * PANEL + 3 * GAP + 15;
  for (let t = 0; t <= end; t += end > 600 ? 120 : 60)
    out.push(`<text x="${x(t).toFixed(1)}" y="${axisY}" text-anchor="middle">${t} s</text>`);
  out.push(
    `<text x="${W / 2}" y="${axisY + 18}" text-anchor="middle">seconds since the soak started; fault windows shaded, their recovery bound (${recoveryBoundS} s) lighter</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** `node .build/soak-run/soak/chart.js [results.json] [out.svg]`: re-renders the chart from recorded results. */
if (require.main === module) {
  const root = join(__dirname, '../../..');
  const input = process.argv[2] ?? join(root, 'soak/results.json');
  const output = process.argv[3] ?? join(root, 'docs/reliability-timeline.svg');
  writeFileSync(output, renderTimeline(JSON.parse(readFileSync(input, 'utf8'))));
}
