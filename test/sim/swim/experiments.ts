// The SWIM experiments of vxmesh issue 5 ("What it must show" 2 and 4), as functions of their
// parameters so that main.ts runs them at full size and test/unit/sim/swim/ at small sizes.
// Every result carries the seeds it came from; rerunning with the same parameters gives the
// same virtual-time figures (wall-time figures vary with the machine).

import { performance } from 'node:perf_hooks';
import type { SwimConfig } from '../../../src/control/swim/config.js';
import type { MemberEvent } from '../../../src/control/swim/core.js';
import { Rng } from '../kit/rng.js';
import { summarize } from '../kit/report.js';
import { SwimSim, type SwimSimOptions } from './harness.js';

const LAN = { delayMs: { min: 0.2, max: 2 } };

function joinSpread(n: number): number {
  return n >= 500 ? 5000 : 1000;
}

function convergeLimit(n: number): number {
  return n >= 500 ? 180_000 : 60_000;
}

// ---------------------------------------------------------------- a. crash detection

export interface CrashDetectionParams {
  n: number;
  seeds: number[];
  /** Crashes per seed, one after the other (each waits for the previous one's detection). */
  crashesPerSeed: number;
  swim?: Partial<SwimConfig>;
  /** Give up a trial after this long (counted as a failure). Default 180 s. */
  trialLimitMs?: number;
}

export interface CrashTrial {
  seed: number;
  victim: string;
  crashedAt: number;
  /** ms from the crash until every live member marked the victim dead; NaN if not within the limit. */
  allDeadMs: number;
  /** ms from the crash until the first member marked it dead. */
  firstDeadMs: number;
  /** Members that marked it dead / members that had to. */
  marked: number;
  needed: number;
}

export interface CrashDetectionResult {
  n: number;
  trials: CrashTrial[];
  failed: number;
  p50: number;
  p99: number;
  max: number;
  firstP50: number;
  /** Healthy members declared dead by anyone during the run (should be 0 on a clean LAN). */
  falseDeaths: number;
  wallMs: number;
  coreMs: number;
  virtualMs: number;
}

export function runCrashDetection(p: CrashDetectionParams): CrashDetectionResult {
  const w0 = performance.now();
  const trials: CrashTrial[] = [];
  let falseDeaths = 0;
  let coreMs = 0;
  let virtualMs = 0;
  for (const seed of p.seeds) {
    let victim = -1;
    let marked = new Uint8Array(p.n);
    let count = 0;
    let firstAt = NaN;
    let lastAt = NaN;
    let sim: SwimSim;
    const onMemberEvent = (node: number, e: MemberEvent): void => {
      if (e.type !== 'dead') return;
      const idx = Number(e.member.name.slice(1));
      if (!sim.nodes[idx]!.up) {
        if (idx === victim && marked[node] === 0) {
          marked[node] = 1;
          count++;
          if (Number.isNaN(firstAt)) firstAt = e.at;
          lastAt = e.at;
        }
      } else {
        falseDeaths++;
      }
    };
    sim = new SwimSim({ seed, n: p.n, swim: p.swim ?? {}, faults: LAN, joinSpreadMs: joinSpread(p.n), onMemberEvent });
    sim.converge(convergeLimit(p.n));
    sim.runUntil(sim.now + 2000);
    const pick = new Rng(seed).fork('victims');
    const seedSet = new Set(sim.seeds());
    for (let k = 0; k < p.crashesPerSeed; k++) {
      do victim = pick.int(p.n); while (seedSet.has(victim) || !sim.nodes[victim]!.up);
      marked = new Uint8Array(p.n);
      count = 0;
      firstAt = NaN;
      lastAt = NaN;
      const at = sim.now;
      sim.crash(victim);
      let needed = 0;
      for (const nd of sim.nodes) if (nd.up) needed++;
      const ok = sim.runUntilTrue(() => count >= needed, at + (p.trialLimitMs ?? 180_000), 50);
      trials.push({
        seed, victim: sim.nodes[victim]!.name, crashedAt: at, allDeadMs: ok ? lastAt - at : NaN,
        firstDeadMs: firstAt - at, marked: count, needed,
      });
      // Let the dead broadcasts drain before the next crash.
      sim.runUntil(sim.now + 3000);
    }
    coreMs += sim.stats.coreMs;
    virtualMs += sim.now;
  }
  const ok = trials.filter((t) => !Number.isNaN(t.allDeadMs));
  const s = summarize(ok.map((t) => t.allDeadMs));
  const f = summarize(trials.filter((t) => !Number.isNaN(t.firstDeadMs)).map((t) => t.firstDeadMs));
  return {
    n: p.n, trials, failed: trials.length - ok.length, p50: s.p50, p99: s.p99, max: s.max, firstP50: f.p50,
    falseDeaths, wallMs: performance.now() - w0, coreMs, virtualMs,
  };
}

// ---------------------------------------------------------------- b. false positives

export interface FalsePositiveParams {
  n: number;
  seeds: number[];
  durationMs: number;
  loss: number;
  /** Processing delay of the one slow node, ms. */
  slowMs: number;
  lifeguard: boolean;
  swim?: Partial<SwimConfig>;
}

export interface FalsePositiveResult {
  n: number;
  lifeguard: boolean;
  /** 'dead' events (observer, target) about healthy (not slow) members. */
  healthyDeadEvents: number;
  /** Distinct healthy members declared dead at least once by someone. */
  healthyDeclared: number;
  /** 'dead' events about the slow member (it is alive but late; arguably not a false positive). */
  slowDeadEvents: number;
  /** Dead events whose accuser was the slow node, about healthy members. */
  healthyDeadBySlow: number;
  suspectEvents: number;
  refutes: number;
  virtualMs: number;
  wallMs: number;
}

export function runFalsePositives(p: FalsePositiveParams): FalsePositiveResult {
  const w0 = performance.now();
  const r: FalsePositiveResult = {
    n: p.n, lifeguard: p.lifeguard, healthyDeadEvents: 0, healthyDeclared: 0, slowDeadEvents: 0, healthyDeadBySlow: 0,
    suspectEvents: 0, refutes: 0, virtualMs: 0, wallMs: 0,
  };
  for (const seed of p.seeds) {
    let slow = -1;
    let measuring = false;
    const declared = new Set<string>();
    const slowName = (): string => `n${slow}`;
    const onMemberEvent = (node: number, e: MemberEvent): void => {
      if (!measuring) return;
      if (e.type === 'suspect') r.suspectEvents++;
      if (e.type !== 'dead') return;
      if (e.member.name === slowName()) {
        r.slowDeadEvents++;
        return;
      }
      r.healthyDeadEvents++;
      declared.add(e.member.name);
      if (node === slow) r.healthyDeadBySlow++;
    };
    const sim = new SwimSim({ seed, n: p.n, swim: { ...p.swim, lifeguard: p.lifeguard }, faults: LAN, joinSpreadMs: joinSpread(p.n), onMemberEvent });
    sim.converge(convergeLimit(p.n));
    const refutes0 = sim.counter('refutes');
    slow = new Rng(seed).fork('slow').int(p.n);
    sim.net.setDefaults({ ...LAN, loss: p.loss });
    sim.setSlow(slow, p.slowMs);
    measuring = true;
    const t0 = sim.now;
    sim.runUntil(t0 + p.durationMs);
    r.healthyDeclared += declared.size;
    r.refutes += sim.counter('refutes') - refutes0;
    r.virtualMs += sim.now - t0;
  }
  r.wallMs = performance.now() - w0;
  return r;
}

// ---------------------------------------------------------------- c. convergence of a broadcast

export interface ConvergenceParams {
  n: number;
  seed: number;
  /** Table writes, one after the other, each from a random node. */
  broadcasts: number;
  /** Steady-state window for bytes/node/s and CPU (no writes, after convergence). */
  steadyMs: number;
  swim?: Partial<SwimConfig>;
}

export interface ConvergenceResult {
  n: number;
  seed: number;
  /** Per write: ms until 99 %, 99.9 %, 99.99 % (= all but 0.01 %) and all of the N nodes show it. */
  p99: number[];
  p999: number[];
  p9999: number[];
  all: number[];
  joinConvergeMs: number;
  /** The join storm (start until the join broadcasts drained): core cost at this N. */
  join: { virtualMs: number; coreMs: number; wallMs: number; steps: number; msgs: number };
  steady: SteadyState;
}

export interface SteadyState {
  windowMs: number;
  /** Bytes sent per node per second (udp + tcp, SWIM packets as the core built them). */
  bytesPerNodePerSec: number;
  udpBytesPerNodePerSec: number;
  tcpBytesPerNodePerSec: number;
  packetsPerNodePerSec: number;
  /** Core cost: packets (step calls) and SWIM messages handled per second of core wall time. */
  stepsPerCpuSec: number;
  msgsPerCpuSec: number;
  /** ms of core wall time per node per virtual second (= per-node CPU share, in ms/s). */
  cpuMsPerNodePerSec: number;
  /** Whole-harness wall time per virtual second at this N. */
  wallMsPerVirtualSec: number;
}

export function measureSteady(sim: SwimSim, windowMs: number): SteadyState {
  const s0 = { ...sim.stats };
  const msgs0 = sim.counter('msgs_in');
  const w0 = performance.now();
  const t0 = sim.now;
  sim.runUntil(t0 + windowMs);
  const wall = performance.now() - w0;
  const s1 = sim.stats;
  const up = sim.nodes.filter((nd) => nd.up).length;
  const secs = windowMs / 1000;
  const coreSec = (s1.coreMs - s0.coreMs) / 1000;
  const udp = s1.udpBytes - s0.udpBytes;
  const tcp = s1.tcpBytes - s0.tcpBytes;
  return {
    windowMs,
    bytesPerNodePerSec: (udp + tcp) / up / secs,
    udpBytesPerNodePerSec: udp / up / secs,
    tcpBytesPerNodePerSec: tcp / up / secs,
    packetsPerNodePerSec: (s1.udpMsgs - s0.udpMsgs + s1.tcpMsgs - s0.tcpMsgs) / up / secs,
    stepsPerCpuSec: (s1.steps - s0.steps) / coreSec,
    msgsPerCpuSec: (sim.counter('msgs_in') - msgs0) / coreSec,
    cpuMsPerNodePerSec: (s1.coreMs - s0.coreMs) / up / secs,
    wallMsPerVirtualSec: wall / secs,
  };
}

export function runConvergence(p: ConvergenceParams): ConvergenceResult {
  let key = '';
  let writeAt = 0;
  let seen = 0;
  const marks: number[] = [];
  const n = p.n;
  const thresholds = [Math.ceil(0.99 * n), Math.ceil(0.999 * n), Math.ceil(0.9999 * n), n];
  const onTableEvent = (_node: number, e: { op: string; key: string }): void => {
    if (e.op !== 'add' || e.key !== key) return;
    seen++;
    for (let k = 0; k < thresholds.length; k++) if (seen === thresholds[k]) marks[k] = sim.now - writeAt;
  };
  const w0 = performance.now();
  const sim: SwimSim = new SwimSim({ seed: p.seed, n, swim: p.swim ?? {}, faults: LAN, joinSpreadMs: joinSpread(n), onTableEvent });
  const joinConvergeMs = sim.converge(convergeLimit(n));
  // Let the join broadcasts drain so the write is measured on a quiet cluster: a core gossips
  // only while its queue is not empty, so a second without gossip packets means every queue is.
  let lastGossip = -1;
  const quiet = (): boolean => {
    const g = sim.counter('gossip_packets');
    const q = g === lastGossip;
    lastGossip = g;
    return q;
  };
  sim.runUntilTrue(quiet, sim.now + 300_000, 1000);
  const join = { virtualMs: sim.now, coreMs: sim.stats.coreMs, wallMs: performance.now() - w0, steps: sim.stats.steps, msgs: sim.counter('msgs_in') };
  const r: ConvergenceResult = { n, seed: p.seed, p99: [], p999: [], p9999: [], all: [], joinConvergeMs, join, steady: undefined as unknown as SteadyState };
  const rng = new Rng(p.seed).fork('writers');
  for (let b = 0; b < p.broadcasts; b++) {
    key = `task-${b}`;
    seen = 0;
    marks.length = 0;
    writeAt = sim.now;
    const writer = rng.int(n);
    sim.set(writer, 'endpoints', 'overlay0', key, new TextEncoder().encode(`10.0.${b >> 8}.${b & 255} 02:42:0a:00:00:01 vtep=${sim.nodes[writer]!.name}`));
    sim.runUntilTrue(() => seen >= n, writeAt + 60_000, 10);
    r.p99.push(marks[0] ?? NaN);
    r.p999.push(marks[1] ?? NaN);
    r.p9999.push(marks[2] ?? NaN);
    r.all.push(marks[3] ?? NaN);
    sim.runUntil(sim.now + 5000);
  }
  r.steady = measureSteady(sim, p.steadyMs);
  return r;
}

// ---------------------------------------------------------------- d. partition that heals

export interface PartitionParams {
  n: number;
  seed: number;
  /** Entries each side writes during the split. */
  writesPerSide: number;
  swim?: Partial<SwimConfig>;
  /** serf-style rejoin interval of the harness (see harness.ts). Default 30 000. */
  rejoinIntervalMs?: number;
}

export interface PartitionResult {
  n: number;
  seed: number;
  /** ms from the split until each side held every member of the other side dead. */
  splitDetectedMs: number;
  /** ms from the heal until every node held every node alive. */
  membershipMs: number;
  /** ms from the heal until every node's tables.digest() was equal (and membership converged). */
  tablesMs: number;
  converged: boolean;
  digestsEqual: boolean;
  entriesPerNode: number;
}

export function runPartitionHeal(p: PartitionParams): PartitionResult {
  const n = p.n;
  const opts: SwimSimOptions = { seed: p.seed, n, swim: p.swim ?? {}, faults: LAN, joinSpreadMs: joinSpread(n) };
  if (p.rejoinIntervalMs !== undefined) opts.rejoinIntervalMs = p.rejoinIntervalMs;
  const sim = new SwimSim(opts);
  sim.converge(convergeLimit(n));
  const enc = new TextEncoder();
  // Entries before the split, so both sides hold the other side's entries when they are cut.
  for (let i = 0; i < n; i++) sim.set(i, 'endpoints', 'overlay0', `pre-${i}`, enc.encode(`10.1.0.${i} on n${i}`));
  sim.runUntil(sim.now + 5000);
  const half = Math.floor(n / 2);
  const A = [...Array(half).keys()];
  const B = [...Array(n - half).keys()].map((i) => i + half);
  const t0 = sim.now;
  sim.partition(A, B);
  const sideSeesOtherDead = (mine: number[], other: number[]): boolean => {
    for (const i of mine) {
      const c = sim.nodes[i]!.core;
      for (const j of other) {
        const st = c.member(sim.nodes[j]!.name)?.state;
        if (st === 'alive' || st === 'suspect') return false;
      }
    }
    return true;
  };
  // Writes on both sides while split (spread over the first seconds of the split).
  const rng = new Rng(p.seed).fork('partition-writes');
  for (let k = 0; k < p.writesPerSide; k++) {
    sim.runUntil(sim.now + 200);
    const a = A[rng.int(A.length)]!;
    const b = B[rng.int(B.length)]!;
    sim.set(a, 'endpoints', 'overlay0', `split-a-${k}`, enc.encode(`10.2.0.${k} on n${a}`));
    sim.set(b, 'endpoints', 'overlay0', `split-b-${k}`, enc.encode(`10.3.0.${k} on n${b}`));
  }
  const detected = sim.runUntilTrue(() => sideSeesOtherDead(A, B) && sideSeesOtherDead(B, A), t0 + 300_000, 100);
  const splitDetectedMs = detected ? sim.now - t0 : NaN;
  // A few more writes after detection, then heal.
  sim.set(A[0]!, 'endpoints', 'overlay0', 'late-a', enc.encode('10.4.0.1'));
  sim.set(B[0]!, 'endpoints', 'overlay0', 'late-b', enc.encode('10.4.0.2'));
  sim.runUntil(sim.now + 1000);
  const h0 = sim.now;
  sim.heal();
  const digestsEqual = (): boolean => {
    const d = sim.nodes[0]!.tables.digest();
    for (const nd of sim.nodes) if (nd.tables.digest() !== d) return false;
    return true;
  };
  const limit = h0 + 300_000;
  const conv = sim.runUntilTrue(() => sim.converged(), limit, 100);
  const membershipMs = conv ? sim.now - h0 : NaN;
  const tabs = conv && sim.runUntilTrue(() => digestsEqual(), limit, 100);
  const tablesMs = tabs ? sim.now - h0 : NaN;
  let entries = 0;
  for (const _ of sim.nodes[0]!.tables.liveEntries()) entries++;
  return { n, seed: p.seed, splitDetectedMs, membershipMs, tablesMs, converged: conv, digestsEqual: digestsEqual(), entriesPerNode: entries };
}
