// The SWIM simulation experiments (test/sim/swim) at small sizes, asserted. The full-size table
// comes from `node dist/test/sim/swim/main.js`; these keep its claims true in the normal suite.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { resolveConfig, suspicionTimeoutMs } from '../../../../src/control/swim/config.js';
import { SwimSim } from '../../../sim/swim/harness.js';
import { runConvergence, runCrashDetection, runFalsePositives, runPartitionHeal } from '../../../sim/swim/experiments.js';

function trace(seed: number): string {
  const h = createHash('sha256');
  const sim = new SwimSim({
    seed, n: 12, faults: { loss: 0.05, duplicate: 0.02, delayMs: { min: 0.2, max: 20 } },
    onMemberEvent: (node, e) => h.update(`${node} ${e.type} ${e.member.name} ${e.member.incarnation} ${e.at}\n`),
    onTableEvent: (node, e) => h.update(`${node} ${e.op} ${e.key} ${e.owner}\n`),
  });
  sim.runUntil(5_000);
  sim.set(3, 'endpoints', 'ov', 'k', new TextEncoder().encode('v'));
  sim.crash(5);
  sim.runUntil(20_000);
  sim.restart(5);
  sim.runUntil(40_000);
  h.update(JSON.stringify(sim.stats, (k, v: unknown) => (k === 'coreMs' ? 0 : v)));
  return h.digest('hex');
}

test('swim sim: a run is a pure function of its seed', () => {
  const a = trace(7);
  assert.equal(trace(7), a, 'same seed, same trace');
  assert.notEqual(trace(8), a, 'another seed, another trace');
});

test('swim sim: N = 10, every crash is marked dead by every live member within the configured bound', () => {
  const n = 10;
  const cfg = resolveConfig({});
  const min = suspicionTimeoutMs(cfg.suspicionMult, n, cfg.probeIntervalMs);
  // First failed probe within two round-robin passes (a reshuffle can put the victim last, then
  // first), + the probe period, + the longest Lifeguard suspicion, + 2 s of gossip.
  const bound = 2 * (n - 1) * cfg.probeIntervalMs + cfg.probeIntervalMs + cfg.suspicionMaxTimeoutMult * min + 2_000;
  const r = runCrashDetection({ n, seeds: [1, 2, 3], crashesPerSeed: 2 });
  assert.equal(r.trials.length, 6);
  assert.equal(r.failed, 0, JSON.stringify(r.trials));
  assert.equal(r.falseDeaths, 0);
  for (const t of r.trials) {
    assert.equal(t.marked, t.needed, `seed ${t.seed} victim ${t.victim}`);
    assert.ok(t.allDeadMs <= bound, `seed ${t.seed}: ${t.allDeadMs} ms > bound ${bound} ms`);
    // Nobody can declare death before the minimum suspicion timeout has run.
    assert.ok(t.firstDeadMs >= min, `seed ${t.seed}: dead after ${t.firstDeadMs} ms < min suspicion ${min} ms`);
  }
  // memberlist's figure at this size is ~6 s; ours must stay in that range on a clean LAN.
  assert.ok(r.p50 <= 9_000, `p50 ${r.p50} ms`);
});

test('swim sim: lossy run with a slow node: zero false positives with Lifeguard, some without', () => {
  const p = { n: 20, seeds: [5], durationMs: 60_000, loss: 0.1, slowMs: 8_000 };
  const on = runFalsePositives({ ...p, lifeguard: true });
  const off = runFalsePositives({ ...p, lifeguard: false });
  assert.equal(on.healthyDeadEvents, 0, JSON.stringify(on));
  assert.ok(off.healthyDeadEvents > 0, `plain SWIM showed no false positive: ${JSON.stringify(off)}`);
  assert.ok(on.refutes < off.refutes, 'Lifeguard makes healthy members refute less');
});

test('swim sim: a healed partition converges to one view with equal table digests', () => {
  const r = runPartitionHeal({ n: 20, seed: 3, writesPerSide: 4 });
  assert.ok(!Number.isNaN(r.splitDetectedMs), 'each side declared the other dead');
  assert.equal(r.converged, true);
  assert.equal(r.digestsEqual, true);
  // 20 written before the split, 4 + 4 during it, 2 after detection: none lost, none doubled.
  assert.equal(r.entriesPerNode, 30);
  // Bounded by the rejoin interval (30 s) + one push-pull interval (30 s) + gossip.
  assert.ok(r.tablesMs <= 75_000, `tables took ${r.tablesMs} ms after the heal`);
});

test('swim sim: a table write reaches all of N = 60 quickly; steady-state traffic is bounded', () => {
  const r = runConvergence({ n: 60, seed: 4, broadcasts: 3, steadyMs: 30_000 });
  for (const t of r.all) assert.ok(t <= 3_000, `write took ${t} ms to reach all nodes`);
  const s = r.steady;
  // Probing alone: about one ping and one ack per node per second, tens of bytes each.
  assert.ok(s.packetsPerNodePerSec >= 1.5 && s.packetsPerNodePerSec <= 4, `packets/node/s ${s.packetsPerNodePerSec}`);
  assert.ok(s.bytesPerNodePerSec > 20 && s.bytesPerNodePerSec < 2_000, `bytes/node/s ${s.bytesPerNodePerSec}`);
  assert.ok(s.stepsPerCpuSec > 0 && s.cpuMsPerNodePerSec > 0);
});

test('swim sim: a restarted node rejoins at a new tables epoch and its new entries spread', () => {
  const sim = new SwimSim({ seed: 9, n: 8 });
  sim.converge(30_000);
  const enc = new TextEncoder();
  sim.set(6, 'endpoints', 'ov', 'old-task', enc.encode('a'));
  sim.runUntil(sim.now + 2_000);
  sim.crash(6);
  assert.ok(sim.runUntilTrue(() => sim.nodes.every((nd) => !nd.up || nd.tables.get('endpoints', 'ov', 'old-task') === undefined), sim.now + 60_000));
  // TCP fallback probes of the crashed node failed and reached the prober's core (tag > 0 path).
  assert.ok(sim.stats.tcpFailed > 0, 'no tcp error was delivered');
  sim.restart(6);
  assert.equal(sim.nodes[6]!.tables.epoch, 2);
  sim.set(6, 'endpoints', 'ov', 'new-task', enc.encode('b'));
  assert.ok(sim.runUntilTrue(() => sim.converged() && sim.nodes.every((nd) => nd.tables.get('endpoints', 'ov', 'new-task') !== undefined), sim.now + 60_000));
  assert.equal(sim.stats.stuckDeadlines, 0);
  assert.ok(sim.counter('pushpull_completed') > 0);
  const d = sim.nodes[0]!.tables.digest();
  for (const nd of sim.nodes) assert.equal(nd.tables.digest(), d);
});
