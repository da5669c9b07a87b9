import { readFileSync } from 'node:fs';

/**
 * Summarises a V8 .cpuprofile (from `npm run bench` with BENCH_CPU_PROF=1): self time by
 * package or source file, and the hottest functions, each with total (inclusive) time.
 * Usage: node .build/bench-run/bench/profile-summary.js <file.cpuprofile> [top] [skip seconds]
 * (skip the first seconds of the profile, i.e. the service's start-up).
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg, skipArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary <file.cpuprofile> [top]');
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const selfTime = new Map<number, number>();
const skipMicroseconds = Number(skipArg ?? 0) * 1e6;
let elapsed = 0;
profile.samples.forEach((id, index) => {
  elapsed += profile.timeDeltas[index] ?? 0;
  if (elapsed >= skipMicroseconds) selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
});
// Shares are of the time the process was busy: idle time (waiting for I/O) is left out.
const idle = profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((node) => node.id);
for (const id of idle) selfTime.delete(id);
const totalTime = [...selfTime.values()].reduce((a, b) => a + b, 0);

function where(url: string): string {
  if (!url) return '(native or V8)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1) : url;
}

const frameKey = (node: ProfileNode) =>
  `${node.callFrame.functionName || '(anonymous)'} ${where(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;

// Self time by place, and self plus inclusive time by function (inclusive counted once per stack).
const byPlace = new Map<string, number>();
const selfByFunction = new Map<string, number>();
const inclusiveByFunction = new Map<string, number>();
for (const [id, time] of selfTime) {
  const node = byId.get(id)!;
  const place = where(node.callFrame.url);
  byPlace.set(place, (byPlace.get(place) ?? 0) + time);
  selfByFunction.set(frameKey(node), (selfByFunction.get(frameKey(node)) ?? 0) + time);
  const seen = new Set<string>();
  for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
    const key = frameKey(byId.get(current)!);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusiveByFunction.set(key, (inclusiveByFunction.get(key) ?? 0) + time);
  }
}

/** Where the service's time goes, by concern: the first pattern matching `function place` of the self time. */
const CONCERNS: Array<[string, RegExp]> = [
  ['garbage collection', /^\(garbage collector\) /],
  ['envelope (the ceiling’s own work)', /crypto\/(envelope|ciphertext-format)\.js|node:internal\/crypto\/(cipher|random)/],
  ['token check (passport, jws, RSA verify)', /passport|jws|jwa|jsonwebtoken|dist\/auth\/|node:internal\/crypto\/sig/],
  ['audit trail (audit, typeorm, canonicalize, pg)', /dist\/audit\/|typeorm|canonicalize| pg|pg-protocol|pg-pool/],
  ['logging (pino, pino-http, nestjs-pino, async context)', /pino|redact|async_hooks/],
  [
    'Redis and its policy (node-redis, cockatiel, keyv, abort signals)',
    /@redis|cockatiel|keyv|cache-manager|abort_controller|domexception|event_target|dist\/redis\/|dist\/rate-limit\/|@nestjs\/throttler/,
  ],
  ['validation (class-validator, class-transformer)', /class-validator|class-transformer|dist\/common\/validation/],
  [
    'Nest pipeline and promises (core, rxjs, metadata, microtasks)',
    /@nestjs\/(core|common|platform-express)|rxjs|reflect-metadata|^runMicrotasks |task_queues/,
  ],
  [
    'HTTP and JSON (node http, express, body-parser, helmet, sockets)',
    /node:(_http|net|internal\/streams|internal\/stream_base|events)|express|router|body-parser|raw-body|helmet|type-is|parseurl|content-type|on-finished|^writev /,
  ],
];
const byConcern = new Map<string, number>();
const otherFunctions = new Map<string, number>();
for (const [id, time] of selfTime) {
  const node = byId.get(id)!;
  const described = `${node.callFrame.functionName} ${where(node.callFrame.url)}`;
  const concern = CONCERNS.find(([, pattern]) => pattern.test(described))?.[0] ?? 'other';
  if (concern === 'other') otherFunctions.set(frameKey(node), (otherFunctions.get(frameKey(node)) ?? 0) + time);
  byConcern.set(concern, (byConcern.get(concern) ?? 0) + time);
}

const share = (time: number) => `${((100 * time) / totalTime).toFixed(1).padStart(5)} %`;
const print = (title: string, entries: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [name, time] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${share(time)}  ${name}`);
};
console.log(`${file}: ${(totalTime / 1e6).toFixed(1)} s busy (shares below are of busy time)`);
print('self time by concern', byConcern);
print('“other” by function', otherFunctions);
print('self time by package / file', byPlace);
print('self time by function', selfByFunction);
print('inclusive time by function', inclusiveByFunction);
