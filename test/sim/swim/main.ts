// `npm run sim:swim`: the SWIM simulation experiments of vxmesh issue 5, printed as tables and
// written as JSON to bench/results/swim-sim-<ISO time>.json (like the other bench commands).
//
//   node dist/test/sim/swim/main.js [--quick] [--only a,b,c,d,e] [--seed S] [--out FILE]
//
// --quick runs every experiment at small sizes (seconds); the default is the full table
// (N = 10/100/1000 crash detection, 10 virtual minutes of false-positive runs, 1000-node
// convergence), which takes minutes on a 2-vCPU machine. Every figure in virtual time replays
// exactly from the printed seeds.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { formatTable } from '../kit/report.js';
import { runConvergence, runCrashDetection, runFalsePositives, runPartitionHeal, type CrashDetectionResult, type FalsePositiveResult } from './experiments.js';

interface Args { quick: boolean; only: Set<string>; seed: number; out: string }

function parseArgs(argv: string[]): Args {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/test/sim/swim -> repo root
  const a: Args = { quick: false, only: new Set(['a', 'b', 'c', 'd', 'e']), seed: 1, out: resolve(here, '../../../../bench/results', `swim-sim-${new Date().toISOString().replace(/[:.]/g, '-')}.json`) };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]!;
    if (v === '--quick') a.quick = true;
    else if (v === '--only') a.only = new Set((argv[++i] ?? '').split(',').filter(Boolean));
    else if (v === '--seed') a.seed = Number(argv[++i]);
    else if (v === '--out') a.out = resolve(argv[++i] ?? '');
    else {
      process.stderr.write(`usage: main.js [--quick] [--only a,b,c,d,e] [--seed S] [--out FILE]; unknown argument ${v}\n`);
      process.exit(2);
    }
  }
  if (!Number.isSafeInteger(a.seed)) {
    process.stderr.write('main.js: --seed needs an integer\n');
    process.exit(2);
  }
  return a;
}

const fmtS = (ms: number): string => (Number.isNaN(ms) ? 'n/a' : (ms / 1000).toFixed(2) + ' s');
const seedsFrom = (base: number, k: number): number[] => Array.from({ length: k }, (_, i) => base * 1000 + i);

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const w0 = performance.now();
  const results: Record<string, unknown> = {
    seed: args.seed, quick: args.quick, startedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), node: process.version },
  };
  const log = (s: string): void => void process.stdout.write(s + '\n');
  let coreCost: ReturnType<typeof runConvergence>['steady'] | undefined;
  let joinCost: ReturnType<typeof runConvergence>['join'] | undefined;

  if (args.only.has('a')) {
    const sizes = args.quick
      ? [{ n: 10, seeds: 3, crashes: 3 }, { n: 50, seeds: 2, crashes: 2 }]
      : [{ n: 10, seeds: 10, crashes: 5 }, { n: 100, seeds: 5, crashes: 4 }, { n: 1000, seeds: 2, crashes: 3 }];
    // memberlist's published LAN figures (issue 5); N = 100 is its formula (4 log10 N s suspicion + probing), marked *.
    const ref: Record<number, string> = { 10: '~6 s', 100: '~10 s *', 1000: '~15 s' };
    const rows: unknown[][] = [];
    const out: CrashDetectionResult[] = [];
    for (const s of sizes) {
      const r = runCrashDetection({ n: s.n, seeds: seedsFrom(args.seed, s.seeds), crashesPerSeed: s.crashes });
      out.push(r);
      rows.push([r.n, r.trials.length, r.failed, fmtS(r.firstP50), fmtS(r.p50), fmtS(r.p99), fmtS(r.max), ref[r.n] ?? '', r.falseDeaths, (r.wallMs / 1000).toFixed(1) + ' s']);
    }
    log('\na. crash detection: time from crash until EVERY live member marks the node dead (memberlist LAN defaults, Lifeguard on)');
    log(formatTable(['N', 'trials', 'failed', 'first p50', 'all p50', 'all p99', 'all max', 'memberlist', 'false deaths', 'wall'], rows));
    results['crashDetection'] = out;
  }

  if (args.only.has('b')) {
    const base = args.quick
      ? { n: 30, seeds: seedsFrom(args.seed, 1), durationMs: 60_000, loss: 0.1 }
      : { n: 64, seeds: seedsFrom(args.seed, 1), durationMs: 600_000, loss: 0.1 };
    const delays = args.quick ? [2000, 8000] : [500, 2000, 5000, 8000];
    const rows: unknown[][] = [];
    const out = [];
    let offSum = 0;
    let onSum = 0;
    for (const slowMs of delays) {
      const off = runFalsePositives({ ...base, slowMs, lifeguard: false });
      const on = runFalsePositives({ ...base, slowMs, lifeguard: true });
      offSum += off.healthyDeadEvents;
      onSum += on.healthyDeadEvents;
      out.push({ slowMs, off, on });
      const row = (r: FalsePositiveResult): unknown[] => [slowMs, r.lifeguard ? 'on' : 'off', r.healthyDeadEvents, r.healthyDeclared, r.healthyDeadBySlow, r.slowDeadEvents, r.suspectEvents, r.refutes];
      rows.push(row(off), row(on));
    }
    const ratio = onSum === 0 ? (offSum > 0 ? `>= ${offSum}x (${offSum} with Lifeguard off, 0 with it on)` : 'n/a (0 both ways)') : `${(offSum / onSum).toFixed(1)}x (${offSum} off, ${onSum} on)`;
    log(`\nb. false positives: N = ${base.n}, ${base.loss * 100} % packet loss, one node slow to process what it receives, ${base.durationMs / 60_000} virtual min per row, seed(s) ${base.seeds.join(',')}`);
    log(formatTable(['slow ms', 'lifeguard', 'healthy dead events', 'healthy nodes declared', 'declared by slow node', 'slow node dead events', 'suspect events', 'refutes'], rows));
    log(`reduction of dead events about healthy members, Lifeguard off/on: ${ratio} (Lifeguard paper: > 50x)`);
    results['falsePositives'] = { params: base, rows: out, offSum, onSum, ratio };
  }

  if (args.only.has('c') || args.only.has('e')) {
    const p = args.quick ? { n: 100, seed: args.seed, broadcasts: 3, steadyMs: 30_000 } : { n: 1000, seed: args.seed, broadcasts: 5, steadyMs: 180_000 };
    const w = performance.now();
    const r = runConvergence(p);
    const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    if (args.only.has('c')) {
      log(`\nc. convergence of one table write (a user broadcast) over N = ${r.n}, ${p.broadcasts} writes, seed ${p.seed}`);
      log(formatTable(['to 99 %', 'to 99.9 %', 'to 99.99 %', 'to all', 'serf model (99.99 %)', 'join converge'],
        [[fmtS(med(r.p99)), fmtS(med(r.p999)), fmtS(med(r.p9999)), fmtS(med(r.all)), '~2.2 s', fmtS(r.joinConvergeMs)]]));
      log(`per write (to all): ${r.all.map(fmtS).join(', ')}`);
      const s = r.steady;
      log(`steady state over ${s.windowMs / 1000} s: ${s.bytesPerNodePerSec.toFixed(0)} B/node/s (udp ${s.udpBytesPerNodePerSec.toFixed(0)}, tcp push-pull ${s.tcpBytesPerNodePerSec.toFixed(0)}), ${s.packetsPerNodePerSec.toFixed(2)} packets/node/s`);
    }
    coreCost = r.steady;
    joinCost = r.join;
    results['convergence'] = { ...r, wallMs: performance.now() - w };
  }

  if (args.only.has('d')) {
    const sizes = args.quick ? [{ n: 20, seed: args.seed }] : [{ n: 20, seed: args.seed }, { n: 50, seed: args.seed }];
    const rows: unknown[][] = [];
    const out = [];
    for (const s of sizes) {
      const r = runPartitionHeal({ n: s.n, seed: s.seed, writesPerSide: 5 });
      out.push(r);
      rows.push([r.n, r.seed, fmtS(r.splitDetectedMs), fmtS(r.membershipMs), fmtS(r.tablesMs), r.converged ? 'yes' : 'NO', r.digestsEqual ? 'yes' : 'NO', r.entriesPerNode]);
    }
    log('\nd. partition into two halves until each side holds the other dead, table writes on both sides, then heal (rejoin every 30 s, as serf/the driver)');
    log(formatTable(['N', 'seed', 'split detected', 'heal -> one view', 'heal -> equal digests', 'converged', 'digests equal', 'entries/node'], rows));
    results['partitionHeal'] = out;
  }

  if (args.only.has('e') && coreCost !== undefined) {
    const s = coreCost;
    const n = args.quick ? 100 : 1000;
    const j = joinCost!;
    log(`\ne. core cost at N = ${n}: wall time inside step/tick (incl. the tables work), steady state over ${s.windowMs / 1000} s and the join storm (${(j.virtualMs / 1000).toFixed(0)} s from cold start until the join broadcasts drained)`);
    log(formatTable(['phase', 'packets/CPU s', 'SWIM msgs/CPU s', 'CPU per node', 'harness wall per virtual s'], [
      ['steady', Math.round(s.stepsPerCpuSec), Math.round(s.msgsPerCpuSec), `${(s.cpuMsPerNodePerSec * 1000).toFixed(1)} us/s (${(s.cpuMsPerNodePerSec / 10).toFixed(4)} %)`, `${s.wallMsPerVirtualSec.toFixed(0)} ms`],
      ['join storm', Math.round(j.steps / (j.coreMs / 1000)), Math.round(j.msgs / (j.coreMs / 1000)), `${((j.coreMs / n / (j.virtualMs / 1000)) * 1000).toFixed(0)} us/s (${(j.coreMs / n / (j.virtualMs / 1000) / 10).toFixed(3)} %)`, `${(j.wallMs / (j.virtualMs / 1000)).toFixed(0)} ms`],
    ]));
    results['coreCost'] = { n, steady: s, join: j };
  }

  results['wallMs'] = performance.now() - w0;
  results['command'] = `node dist/test/sim/swim/main.js ${process.argv.slice(2).join(' ')}`.trim();
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify(results, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  log(`\nwrote ${args.out} (total wall ${((performance.now() - w0) / 1000).toFixed(1)} s)`);
}

main();
