// The Raft simulator as a command:
//
//   npm run sim:raft -- --seeds 10000 [--from 1] [--seed S] [--nodes 5] [--duration-ms 10000]
//                       [--clients 4] [--keys 3] [--no-<fault> ...] [--silent-loss] [--json PATH|--no-json]
//
// --silent-loss: every seed loses messages without reporting them (default: half of the seeds).
// --eager-commit: leaders announce each new commit index at once (etcd raft) instead of on the
// next MsgApp or heartbeat (piggybackCommit, what the manager driver runs).
//
// (until that script exists: node dist/test/sim/raft/main.js <same flags>). Runs the seeds,
// prints a summary table, writes JSON to bench/results/raft-sim-<time>.json and, for every
// failing seed, the exact command that replays it. Exit status 1 if any seed failed.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatTable, summarize } from '../kit/report.js';
import { allFaults, FAULT_NAMES, runSeed, type FaultSwitches, type SeedResult, type SimOptions } from './cluster.js';

const USAGE = `usage: sim:raft [--seeds N | --seed S] [--from F] [--nodes 3|5] [--duration-ms MS] [--clients K] [--keys K]
       [--no-${FAULT_NAMES.map(kebab).join(' | --no-')}] [--silent-loss (all seeds)]
       [--no-snapshot-on-join] [--eager-commit] [--unsafe stale-reads|no-fsync] [--json PATH | --no-json] [--quiet]`;

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function int(v: unknown, name: string, def: number, min = 1): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} needs an integer >= ${min}, got ${String(v)}`);
  return n;
}

function main(argv: string[]): number {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    seeds: { type: 'string' }, seed: { type: 'string' }, from: { type: 'string' }, nodes: { type: 'string' },
    'duration-ms': { type: 'string' }, clients: { type: 'string' }, keys: { type: 'string' }, unsafe: { type: 'string' },
    json: { type: 'string' }, 'no-json': { type: 'boolean' }, 'silent-loss': { type: 'boolean' }, 'no-snapshot-on-join': { type: 'boolean' }, 'eager-commit': { type: 'boolean' }, quiet: { type: 'boolean' },
    help: { type: 'boolean' },
  };
  for (const f of FAULT_NAMES) options[`no-${kebab(f)}`] = { type: 'boolean' };
  const { values } = parseArgs({ args: argv, options, strict: true });
  if (values['help']) {
    console.log(USAGE);
    return 0;
  }
  const faults: FaultSwitches = allFaults();
  const replayFlags: string[] = [];
  for (const f of FAULT_NAMES) {
    if (values[`no-${kebab(f)}`]) {
      faults[f] = false;
      replayFlags.push(`--no-${kebab(f)}`);
    }
  }
  const forceSilentLoss = values['silent-loss'] === true;
  if (forceSilentLoss) {
    if (!faults.silentLoss) throw new Error('--silent-loss contradicts --no-silent-loss');
    replayFlags.push('--silent-loss');
  }
  const snapshotOnJoin = values['no-snapshot-on-join'] !== true;
  if (!snapshotOnJoin) replayFlags.push('--no-snapshot-on-join');
  const piggybackCommit = values['eager-commit'] !== true;
  if (!piggybackCommit) replayFlags.push('--eager-commit');
  const nodes = int(values['nodes'], '--nodes', 3);
  if (nodes > 7) throw new Error('--nodes supports 1..7 managers');
  const durationMs = int(values['duration-ms'], '--duration-ms', 10_000);
  const clients = int(values['clients'], '--clients', 4);
  const keys = int(values['keys'], '--keys', 3);
  const unsafe = values['unsafe'] as string | undefined;
  if (unsafe !== undefined && unsafe !== 'stale-reads' && unsafe !== 'no-fsync') throw new Error('--unsafe takes stale-reads or no-fsync');
  replayFlags.push(`--nodes ${nodes}`);
  if (durationMs !== 10_000) replayFlags.push(`--duration-ms ${durationMs}`);
  if (clients !== 4) replayFlags.push(`--clients ${clients}`);
  if (keys !== 3) replayFlags.push(`--keys ${keys}`);
  if (unsafe !== undefined) replayFlags.push(`--unsafe ${unsafe}`);

  let seeds: number[];
  if (values['seed'] !== undefined) seeds = [int(values['seed'], '--seed', 0, 0)];
  else {
    const n = int(values['seeds'], '--seeds', 100);
    const from = int(values['from'], '--from', 1, 0);
    seeds = Array.from({ length: n }, (_, i) => from + i);
  }

  const quiet = values['quiet'] === true;
  const results: SeedResult[] = [];
  const failures: SeedResult[] = [];
  const t0 = performance.now();
  let lastReport = t0;
  for (const seed of seeds) {
    const opts: SimOptions = { seed, nodes, durationMs, clients, keys, faults, snapshotOnJoin, piggybackCommit, forceSilentLoss, ...(unsafe ? { unsafe: unsafe as SimOptions['unsafe'] } : {}) };
    const r = runSeed(opts);
    results.push(r);
    if (!r.ok) {
      failures.push(r);
      console.log(`\nFAIL seed ${seed} (${r.failure!.kind}):\n${r.failure!.message}`);
      console.log(`replay: npm run sim:raft -- --seed ${seed} ${replayFlags.join(' ')}`);
      console.log(`    or: node dist/test/sim/raft/main.js --seed ${seed} ${replayFlags.join(' ')}`);
    }
    const now = performance.now();
    if (!quiet && now - lastReport > 5000) {
      lastReport = now;
      console.log(`... ${results.length}/${seeds.length} seeds, ${failures.length} failed, ${((results.length * 1000) / (now - t0)).toFixed(1)} seeds/s`);
    }
  }
  const wallMs = performance.now() - t0;

  const sum = (f: (r: SeedResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const checks = summarize(results.filter((r) => r.linearizability !== null).map((r) => r.checkMs));
  const linOk = results.filter((r) => r.linearizability?.status === 'ok').length;
  const slowest = results.reduce<SeedResult | null>((a, r) => (a === null || r.checkMs > a.checkMs ? r : a), null);
  console.log('');
  console.log(formatTable(
    ['seeds', 'failed', 'ops', 'acked writes', 'unknown', 'elections', 'crashes', 'power cuts', 'partitions', 'transfers', 'conf changes', 'snapshots sent', 'linearizable', 'max check ms'],
    [[results.length, failures.length, sum((r) => r.ops), sum((r) => r.ackedWrites), sum((r) => r.unknownOps), sum((r) => r.elections),
      sum((r) => r.crashes), sum((r) => r.powerCuts), sum((r) => r.partitions), sum((r) => r.transfers), sum((r) => r.confChanges), sum((r) => r.snapshotsSent),
      `${linOk}/${results.length}`, Number.isFinite(checks.max) ? checks.max : 0]],
  ));
  console.log(`\n${nodes} managers, ${durationMs} ms virtual per seed; wall ${(wallMs / 1000).toFixed(1)} s, ` +
    `${((results.length * 1000) / wallMs).toFixed(2)} seeds/s; linearizability check p50 ${checks.p50.toFixed(1)} ms, ` +
    `p99 ${checks.p99.toFixed(1)} ms, max ${checks.max.toFixed(1)} ms${slowest ? ` (seed ${slowest.seed}, ${slowest.linearizability?.ops ?? 0} ops)` : ''}`);

  if (values['no-json'] !== true) {
    const here = dirname(fileURLToPath(import.meta.url));
    const file = typeof values['json'] === 'string' ? values['json'] : join(here, '..', '..', '..', '..', 'bench', 'results', `raft-sim-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({
      command: `sim:raft ${argv.join(' ')}`, nodes, durationMs, clients, keys, faults, snapshotOnJoin, piggybackCommit, forceSilentLoss, unsafe: unsafe ?? null,
      seeds: results.length, failed: failures.map((r) => ({ seed: r.seed, kind: r.failure!.kind, message: r.failure!.message })),
      wallMs, seedsPerSecond: (results.length * 1000) / wallMs, checkMs: checks,
      totals: {
        ops: sum((r) => r.ops), ackedWrites: sum((r) => r.ackedWrites), unknownOps: sum((r) => r.unknownOps), elections: sum((r) => r.elections),
        crashes: sum((r) => r.crashes), powerCuts: sum((r) => r.powerCuts), partitions: sum((r) => r.partitions), transfers: sum((r) => r.transfers), confChanges: sum((r) => r.confChanges),
        snapshotsSent: sum((r) => r.snapshotsSent), snapshotsTaken: sum((r) => r.snapshotsTaken), messages: sum((r) => r.messages),
        badMessages: sum((r) => r.badMessages), events: sum((r) => r.events),
      },
      perSeed: results.length <= 1000 ? results.map(({ linearizability, ...r }) => ({ ...r, linearizability: linearizability?.status ?? null })) : undefined,
    }, null, 1));
    console.log(`results: ${file}`);
  }
  return failures.length === 0 ? 0 : 1;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  console.error(USAGE);
  process.exitCode = 2;
}
