// Conntrack microbenchmark: `node dist/bench/conntrack.js [--flows N] [--runs R]`.
// Fills a table with N IPv4 flows (default 1M), then measures forward lookups (hits and misses
// in random order), reverse lookups, inserts, the expiry sweep (scan cost when nothing is due,
// reclaim cost when everything is) and removeBackend, and reports bytes per flow. Prints a
// table and writes bench/results/conntrack-<ISO time>.json. Not a test: numbers vary per run;
// each figure is the median of R runs.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Conntrack } from '../src/dataplane/lb/conntrack/conntrack.js';
import { PROTO_TCP, TCP_ACK } from '../src/dataplane/lb/conntrack/state.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const N = arg('--flows', 1 << 20);
const RUNS = arg('--runs', 5);
const BACKENDS = 64;

// Flow i: client 100.64.0.0/10 + (i >> 4), port 10000 + (i & 15), VIP 10.255.0.(i & 7):80,
// backend i % 64 at 10.0.1.b:8080. Misses use clients in 198.18.0.0/15 (never inserted).
const saddr = (i: number) => (0x64400000 | (i >>> 4)) >>> 0;
const sport = (i: number) => 10000 + (i & 15);
const vip = (i: number) => (0x0aff0000 | (i & 7)) >>> 0;
const backendOf = (i: number) => i % BACKENDS;
const natOf = (b: number) => (0x0a000100 | b) >>> 0;

// Deterministic shuffle (xorshift32) so every run probes the same random order.
function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let x = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const j = x % (i + 1);
    const t = p[i]!; p[i] = p[j]!; p[j] = t;
  }
  return p;
}

function fill(ct: Conntrack, n: number, now: number): void {
  for (let i = 0; i < n; i++) {
    const b = backendOf(i);
    const e = ct.insert4(PROTO_TCP, saddr(i), sport(i), vip(i), 80, b, natOf(b), 8080, now);
    if (e < 0) throw new Error(`bench: insert ${i} failed (${e})`);
    ct.observeTcp(e, TCP_ACK, true, now);
  }
}

const ns = (t0: bigint) => Number(process.hrtime.bigint() - t0);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;

interface Row { metric: string; unit: string; values: number[] }
const rows: Row[] = [];
const record = (metric: string, unit: string, v: number) => {
  let r = rows.find((x) => x.metric === metric);
  if (!r) rows.push((r = { metric, unit, values: [] }));
  r.values.push(v);
};

const startedAt = new Date();
const perm = permutation(N, 0x9e3779b9);
let sink = 0;
let memory: ReturnType<Conntrack['memory']> | undefined;
let memory6: ReturnType<Conntrack['memory']> | undefined;

for (let run = 0; run < RUNS; run++) {
  const ct = new Conntrack({ capacity4: N, capacity6: 0, newFlowsPerSecond: 0 });
  memory = ct.memory();
  let t0 = process.hrtime.bigint();
  fill(ct, N, 0);
  record('insert (fill to 100%, sequential keys)', 'M ops/s', N / ns(t0) * 1e3);

  t0 = process.hrtime.bigint();
  for (let k = 0; k < N; k++) {
    const i = perm[k]!;
    sink += ct.lookup4(PROTO_TCP, saddr(i), sport(i), vip(i), 80, 1);
  }
  record('lookup4 hit (random order)', 'M ops/s', N / ns(t0) * 1e3);

  t0 = process.hrtime.bigint();
  for (let k = 0; k < N; k++) {
    const i = perm[k]!;
    sink += ct.lookup4(PROTO_TCP, (0xc6120000 | (i >>> 4)) >>> 0, sport(i), vip(i), 80, 1);
  }
  record('lookup4 miss (random order)', 'M ops/s', N / ns(t0) * 1e3);

  t0 = process.hrtime.bigint();
  for (let k = 0; k < N; k++) {
    const i = perm[k]!;
    sink += ct.lookupReply4(PROTO_TCP, natOf(backendOf(i)), 8080, saddr(i), sport(i), 1);
  }
  record('lookupReply4 hit (random order)', 'M ops/s', N / ns(t0) * 1e3);

  // Sweep with nothing due: the steady-state cost of the ticker.
  const budget = 65536;
  t0 = process.hrtime.bigint();
  for (let k = 0; k < N; k += budget) sink += ct.expire(2, budget);
  const scanNs = ns(t0);
  record('expire scan, nothing due', 'ns/slot', scanNs / N);
  record(`expire call, budget ${budget}, nothing due`, 'ms/call', (scanNs / Math.ceil(N / budget)) / 1e6);

  // removeBackend: one of 64 backends down (1/64 of the flows).
  t0 = process.hrtime.bigint();
  const removed = ct.removeBackend(7);
  record('removeBackend (1/64 of flows)', 'ms', ns(t0) / 1e6);
  if (removed !== Math.ceil((N - 7) / BACKENDS)) throw new Error(`bench: removeBackend removed ${removed}`);

  // Refill the hole with random-order inserts into a 98%-full table.
  t0 = process.hrtime.bigint();
  let reinserted = 0;
  for (let k = 0; k < N; k++) {
    const i = perm[k]!;
    if (backendOf(i) !== 7) continue;
    sink += ct.insert4(PROTO_TCP, saddr(i), sport(i), vip(i), 80, 7, natOf(7), 8080, 3);
    reinserted++;
  }
  record('insert (random order, table 98% full)', 'M ops/s', reinserted / ns(t0) * 1e3);

  // Everything due: reclaim cost (two backward-shift deletions per flow).
  const later = 3 + 25 * 3600 * 1000;
  // Budget 4096 per call, as a 100 ms ticker would use; the worst single call is what stalls the loop.
  const small = 4096;
  let expired = 0, worst = 0;
  t0 = process.hrtime.bigint();
  for (let k = 0; k < N; k += small) {
    const c0 = process.hrtime.bigint();
    expired += ct.expire(later, small);
    worst = Math.max(worst, ns(c0));
  }
  const reclaimNs = ns(t0);
  if (expired !== N) throw new Error(`bench: expired ${expired} of ${N}`);
  record('expire reclaim, everything due', 'ns/flow', reclaimNs / N);
  record(`expire call, budget ${small}, everything due (worst call)`, 'ms/call', worst / 1e6);
}
memory6 = new Conntrack({ capacity4: 0, capacity6: N }).memory();

const width = Math.max(...rows.map((r) => r.metric.length));
console.log(`conntrack bench: ${N} IPv4 flows, ${RUNS} runs (median, min–max), node ${process.version}\n`);
console.log(`${'metric'.padEnd(width)}  ${'median'.padStart(9)}  ${'min'.padStart(9)}  ${'max'.padStart(9)}  unit`);
for (const r of rows) {
  const f = (v: number) => v.toFixed(v < 10 ? 3 : 1).padStart(9);
  console.log(`${r.metric.padEnd(width)}  ${f(median(r.values))}  ${f(Math.min(...r.values))}  ${f(Math.max(...r.values))}  ${r.unit}`);
}
console.log(`${'bytes per IPv4 flow (all typed arrays / capacity4)'.padEnd(width)}  ${(memory!.totalBytes / N).toFixed(2).padStart(9)}`);
console.log(`${'bytes per IPv6 flow (all typed arrays / capacity6)'.padEnd(width)}  ${(memory6.totalBytes / N).toFixed(2).padStart(9)}`);
console.log(`${'table bytes, IPv4'.padEnd(width)}  ${(memory!.totalBytes / 2 ** 20).toFixed(1).padStart(9)}  MiB`);

const dir = join(REPO_ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `conntrack-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({
  startedAt: startedAt.toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), node: process.version },
  options: { flows: N, runs: RUNS },
  summary: rows.map((r) => ({ metric: r.metric, unit: r.unit, median: median(r.values), min: Math.min(...r.values), max: Math.max(...r.values), values: r.values })),
  memory: { ipv4: memory, ipv6: memory6, bytesPerFlow4: memory!.totalBytes / N, bytesPerFlow6: memory6.totalBytes / N },
  sink,
}, null, 2)}\n`);
console.log(`\nresults: ${file}`);
