// Scheduler micro-benchmark (not a test): Maglev table build time and pick() cost of every
// scheduler. Pure CPU, no privileges, no network.
//
//   npx tsc -p . && node dist/bench/maglev.js [--table-size 65537]
//
// Build: M = 65537 slots with 3, 10, 100 and 1000 equal-weight backends, and 100 backends with
// weights 1..10; 5 warm-up builds, then the median of 20 with [min–max]. Target: <= 5 ms.
// pick(): ns per call over 5 runs of 2,000,000 picks with well-mixed hashes (median [min–max]),
// for 10 and 100 backends, each kind in its own worker thread (a fresh isolate): one timing
// loop shared by five classes would turn megamorphic and bill the later kinds for it.
// Prints a table and writes bench/results/maglev-<ISO time>.json.
//
// Hand-timed with performance.now rather than tinybench/mitata (DESIGN.md section 7): those
// are not installed here and the numbers wanted (median/min/max of whole builds, ns/op of a
// tight loop) need nothing more.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  DEFAULT_MAGLEV_TABLE_SIZE,
  SCHEDULER_KINDS,
  buildMaglevTable,
  createScheduler,
  validateMaglevTableSize,
  type Backend,
  type Scheduler,
} from '../src/dataplane/lb/schedulers/index.js';

const BUILD_WARMUP = 5;
const BUILD_RUNS = 20;
const PICK_RUNS = 5;
const PICKS_PER_RUN = 2_000_000;

interface Stat {
  median: number;
  min: number;
  max: number;
}

function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]! };
}

function makeBackends(n: number, weighted: boolean): Backend[] {
  return Array.from({ length: n }, (_, i) => ({ name: `10.0.${i >> 8}.${i & 255}:8080`, weight: weighted ? 1 + (i % 10) : 1, state: 'active' as const }));
}

function timeBuild(set: readonly Backend[], m: number): Stat {
  for (let i = 0; i < BUILD_WARMUP; i++) buildMaglevTable(set, m);
  const ms: number[] = [];
  for (let i = 0; i < BUILD_RUNS; i++) {
    const t0 = performance.now();
    buildMaglevTable(set, m);
    ms.push(performance.now() - t0);
  }
  return stat(ms);
}

function spin(s: Scheduler, n: number): number {
  let sink = 0;
  let h = 0x12345678;
  for (let i = 0; i < n; i++) {
    h = (Math.imul(h, 1664525) + 1013904223) | 0; // cheap well-spread hashes, same for all kinds
    sink += s.pick(h);
  }
  return sink;
}

function timePick(kind: Kind, n: number, m: number): Stat {
  const s = createScheduler(kind, { tableSize: m });
  s.setBackends(makeBackends(n, false));
  spin(s, PICKS_PER_RUN); // warm-up
  const ns: number[] = [];
  for (let r = 0; r < PICK_RUNS; r++) {
    const t0 = performance.now();
    spin(s, PICKS_PER_RUN);
    ns.push(((performance.now() - t0) * 1e6) / PICKS_PER_RUN);
  }
  return stat(ns);
}

type Kind = (typeof SCHEDULER_KINDS)[number];

/** Runs timePick in a fresh worker (own isolate, own JIT feedback). */
function timePickIsolated(kind: Kind, n: number, m: number): Promise<Stat> {
  return new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { kind, n, m } });
    w.once('message', (st: Stat) => resolve(st));
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`bench worker for ${kind} exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--table-size');
  const m = at >= 0 ? Number(argv[at + 1]) : DEFAULT_MAGLEV_TABLE_SIZE;
  validateMaglevTableSize(m);

  const builds: { backends: number; weighted: boolean; ms: Stat }[] = [];
  for (const [n, weighted] of [[3, false], [10, false], [100, false], [1000, false], [100, true]] as const) {
    builds.push({ backends: n, weighted, ms: timeBuild(makeBackends(n, weighted), m) });
  }
  const picks: { kind: string; backends: number; nsPerPick: Stat }[] = [];
  for (const kind of SCHEDULER_KINDS) {
    for (const n of [10, 100]) picks.push({ kind, backends: n, nsPerPick: await timePickIsolated(kind, n, m) });
  }

  const f = (x: number, d: number) => x.toFixed(d);
  console.log(`Maglev table build, M = ${m} (median of ${BUILD_RUNS} after ${BUILD_WARMUP} warm-up, [min–max])`);
  console.log('backends  weights   build ms');
  for (const b of builds) {
    console.log(`${String(b.backends).padStart(8)}  ${(b.weighted ? '1..10' : 'equal').padEnd(8)}  ${f(b.ms.median, 2)} [${f(b.ms.min, 2)}–${f(b.ms.max, 2)}]`);
  }
  console.log(`\npick(), ns per call (median of ${PICK_RUNS} × ${PICKS_PER_RUN}, [min–max])`);
  console.log('kind     backends  ns/pick');
  for (const p of picks) {
    console.log(`${p.kind.padEnd(8)} ${String(p.backends).padStart(8)}  ${f(p.nsPerPick.median, 1)} [${f(p.nsPerPick.min, 1)}–${f(p.nsPerPick.max, 1)}]`);
  }

  // Other work on the machine shows up as wide [min–max]; the load average says how much.
  const load = loadavg().map((x) => Number(x.toFixed(2)));
  console.log(`\nload average (1, 5, 15 min): ${load.join(', ')} on ${cpus().length} CPUs`);
  const when = new Date().toISOString();
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `maglev-${when.replace(/[:.]/g, '-')}.json`);
  const machine = { node: process.version, kernel: release(), cpu: cpus()[0]?.model ?? 'unknown', cpus: cpus().length, loadavg: load };
  writeFileSync(file, JSON.stringify({ when, machine, tableSize: m, builds, picks }, null, 2) + '\n');
  console.log(`\nwrote ${file}`);
}

if (isMainThread) {
  await main();
} else {
  const { kind, n, m } = workerData as { kind: Kind; n: number; m: number };
  parentPort!.postMessage(timePick(kind, n, m));
}
