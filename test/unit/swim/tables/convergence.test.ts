// Property: whatever the network does (loss, duplication, reordering), whoever restarts, dies or
// is falsely declared dead, a final round of full push-pull among the live nodes leaves every
// replica with the same live state, and that state is exactly what the live owners last wrote.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { GossipTables, tablesDigest } from '../../../../src/control/swim/tables/index.js';
import type { DigestEntry, TableBroadcast } from '../../../../src/control/swim/tables/index.js';
import { FC_SEED, b, pushPull, str } from './helpers.js';

const TABLES = ['ep', 'svc'];
const NETS = ['n1', 'n2'];
const KEYS = ['k0', 'k1', 'k2'];
const REAP_MS = 15_000;

type Action =
  | { kind: 'write'; node: number; table: number; net: number; key: number; value: number }
  | { kind: 'delete'; node: number; table: number; net: number; key: number }
  | { kind: 'deliver'; pick: number; duplicate: boolean }
  | { kind: 'drop'; pick: number }
  | { kind: 'pushPull'; i: number; j: number }
  | { kind: 'time'; dt: number }
  | { kind: 'relay' }
  | { kind: 'restart'; node: number }
  | { kind: 'crash'; node: number; goneMask: number }
  | { kind: 'falseGone'; node: number; at: number };

const idx = (n: number) => fc.nat({ max: n - 1 });
const action = (nodes: number): fc.Arbitrary<Action> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), node: idx(nodes), table: idx(2), net: idx(2), key: idx(3), value: fc.nat({ max: 3 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), node: idx(nodes), table: idx(2), net: idx(2), key: idx(3) }) },
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), duplicate: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('pushPull' as const), i: idx(nodes), j: idx(nodes) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('time' as const), dt: fc.nat({ max: 40_000 }) }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'relay' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), node: idx(nodes) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), node: idx(nodes), goneMask: fc.nat({ max: 31 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('falseGone' as const), node: idx(nodes), at: idx(nodes) }) },
  );

interface SimNode {
  name: string;
  alive: boolean;
  /** The last epoch this node's process used: a restart starts above it (the config contract). */
  lastEpoch: number;
  t: GossipTables;
  /** What this owner's current process has written and not deleted: the expected state. */
  own: Map<string, { table: string; network: string; key: string; value: string }>;
}

interface InFlight { to: string; payload: Uint8Array }

class Sim {
  readonly nodes: SimNode[];
  inFlight: InFlight[] = [];
  now = 0;
  constructor(n: number) {
    this.nodes = Array.from({ length: n }, (_, i) => {
      const name = `node-${i}`;
      return { name, alive: true, lastEpoch: 1, t: new GossipTables({ self: name, epoch: 1, tombstoneReapMs: REAP_MS }), own: new Map() };
    });
  }
  live(): SimNode[] {
    return this.nodes.filter((n) => n.alive);
  }
  send(from: SimNode, bc: TableBroadcast | null): void {
    if (bc === null) return;
    for (const n of this.nodes) if (n !== from && n.alive) this.inFlight.push({ to: n.name, payload: bc.payload });
  }
  relayAll(): number {
    let sent = 0;
    for (const n of this.live()) {
      for (const bc of n.t.drainBroadcasts()) {
        this.send(n, bc);
        sent++;
      }
    }
    return sent;
  }
  deliver(m: InFlight): void {
    const n = this.nodes.find((x) => x.name === m.to)!;
    if (n.alive) n.t.receive(this.now, '?', m.payload);
  }
  step(a: Action): void {
    switch (a.kind) {
      case 'write': {
        const n = this.nodes[a.node]!;
        if (!n.alive) return;
        const table = TABLES[a.table]!, network = NETS[a.net]!, key = KEYS[a.key]!;
        const value = `${n.name}:${a.value}`;
        n.own.set(`${table}/${network}/${key}`, { table, network, key, value });
        this.send(n, n.t.set(this.now, table, network, key, b(value)));
        return;
      }
      case 'delete': {
        const n = this.nodes[a.node]!;
        if (!n.alive) return;
        const table = TABLES[a.table]!, network = NETS[a.net]!, key = KEYS[a.key]!;
        n.own.delete(`${table}/${network}/${key}`);
        this.send(n, n.t.delete(this.now, table, network, key));
        return;
      }
      case 'deliver': {
        if (this.inFlight.length === 0) return;
        const i = a.pick % this.inFlight.length;
        const m = this.inFlight[i]!;
        if (!a.duplicate) this.inFlight.splice(i, 1);
        this.deliver(m);
        return;
      }
      case 'drop':
        if (this.inFlight.length > 0) this.inFlight.splice(a.pick % this.inFlight.length, 1);
        return;
      case 'pushPull': {
        const x = this.nodes[a.i]!, y = this.nodes[a.j]!;
        if (x !== y && x.alive && y.alive) pushPull(this.now, x.t, y.t);
        return;
      }
      case 'time':
        this.now += a.dt;
        for (const n of this.live()) n.t.tick(this.now);
        return;
      case 'relay':
        this.relayAll();
        return;
      case 'restart': {
        // Alive: a fast restart nobody noticed (networkdb's bug 1). Dead: a rejoin.
        const n = this.nodes[a.node]!;
        n.lastEpoch = Math.max(n.lastEpoch, n.t.epoch) + 1;
        n.t = new GossipTables({ self: n.name, epoch: n.lastEpoch, tombstoneReapMs: REAP_MS });
        n.own.clear();
        n.alive = true;
        return;
      }
      case 'crash': {
        const n = this.nodes[a.node]!;
        if (!n.alive || this.live().length <= 1) return;
        n.alive = false;
        n.lastEpoch = Math.max(n.lastEpoch, n.t.epoch);
        n.own.clear();
        // Some nodes' SWIM notices now (with the epoch from the member's metadata), others later.
        this.nodes.forEach((x, i) => {
          if (x.alive && (a.goneMask & (1 << i)) !== 0) x.t.memberGone(this.now, n.name, n.lastEpoch);
        });
        return;
      }
      case 'falseGone': {
        // SWIM wrongly declares a live node dead at one peer: the victim must refute.
        const victim = this.nodes[a.node]!, at = this.nodes[a.at]!;
        if (victim !== at && victim.alive && at.alive) at.t.memberGone(this.now, victim.name, victim.t.epoch);
        return;
      }
    }
  }
  /** The end of the story: the SWIM of one live node reports the dead ones, late messages
   *  arrive, then full push-pull among live nodes (and what it makes them gossip) until quiet. */
  settle(): number {
    const first = this.live()[0]!;
    for (const n of this.nodes) if (!n.alive) first.t.memberGone(this.now, n.name, n.lastEpoch);
    const late = this.inFlight;
    this.inFlight = [];
    for (const m of late) this.deliver(m);
    const live = this.live();
    for (let round = 1; round <= 8; round++) {
      for (let i = 0; i < live.length; i++) for (let j = i + 1; j < live.length; j++) pushPull(this.now, live[i]!.t, live[j]!.t);
      let sent = this.relayAll();
      while (this.inFlight.length > 0) {
        const q = this.inFlight;
        this.inFlight = [];
        for (const m of q) this.deliver(m);
        sent += this.relayAll();
      }
      if (sent === 0) return round;
    }
    return -1;
  }
}

function expected(sim: Sim): DigestEntry[] {
  const out: DigestEntry[] = [];
  for (const n of sim.live()) for (const e of n.own.values()) out.push({ owner: n.name, table: e.table, network: e.network, key: e.key, value: b(e.value) });
  return out;
}

test('replicas converge to the live owners\' last writes under loss, duplication, reordering, restarts and deaths', () => {
  const stats = { runs: 0, rounds: 0, refuted: 0, fenced: 0, dropped: 0, reaped: 0, bumps: 0, stale: 0 };
  fc.assert(
    fc.property(
      fc.integer({ min: 3, max: 5 }).chain((n) => fc.tuple(fc.constant(n), fc.array(action(n), { minLength: 20, maxLength: 120, size: 'max' }))),
      ([n, actions]) => {
        const sim = new Sim(n);
        for (const a of actions) sim.step(a);
        const rounds = sim.settle();
        assert.ok(rounds > 0, 'gossip went quiet');
        const want = tablesDigest(expected(sim));
        for (const node of sim.live()) {
          assert.equal(node.t.digest(), want, `${node.name} holds what the owners last wrote\n${node.t.dump()}`);
          // The visible value of each key is the lowest-named live owner's, on every node.
          for (const table of TABLES) for (const network of NETS) for (const key of KEYS) {
            const holders = sim.live().filter((o) => o.own.has(`${table}/${network}/${key}`)).map((o) => o.name).sort();
            const got = node.t.get(table, network, key);
            if (holders.length === 0) assert.equal(got, undefined);
            else {
              assert.equal(got?.owner, holders[0]);
              assert.equal(str(got?.value), sim.nodes.find((o) => o.name === holders[0])!.own.get(`${table}/${network}/${key}`)!.value);
            }
          }
        }
        stats.runs++;
        stats.rounds += rounds;
        for (const node of sim.nodes) {
          const c = node.t.counters;
          stats.refuted += c.refuted;
          stats.fenced += c.fenced;
          stats.dropped += c.dropped;
          stats.reaped += c.reaped;
          stats.bumps += c.epochBumps;
          stats.stale += c.stale;
        }
      },
    ),
    { seed: FC_SEED, numRuns: 300 },
  );
  // The interesting paths must actually be taken, or the property proves little.
  for (const k of ['refuted', 'fenced', 'dropped', 'reaped', 'bumps', 'stale'] as const) assert.ok(stats[k] > 0, `${k} exercised (${JSON.stringify(stats)})`);
  console.log(`# convergence: ${JSON.stringify(stats)}`);
});

test('the events a replica emitted, replayed into a map, equal its visible state', () => {
  fc.assert(
    fc.property(fc.array(action(4), { maxLength: 60 }), (actions) => {
      const sim = new Sim(4);
      const mirrors = new Map<string, Map<string, string>>();
      const replay = (): void => {
        for (const n of sim.nodes) {
          if (!mirrors.has(n.name)) mirrors.set(n.name, new Map());
          const m = mirrors.get(n.name)!;
          for (const e of n.t.drainEvents()) {
            const k = `${e.table}/${e.network}/${e.key}`;
            if (e.op === 'delete') {
              assert.ok(m.has(k), 'delete of something shown');
              m.delete(k);
            } else {
              assert.equal(m.has(k), e.op === 'update', `${e.op} matches what was shown`);
              m.set(k, `${e.owner}=${str(e.value)}`);
            }
          }
        }
      };
      for (const a of actions) {
        if (a.kind === 'restart') mirrors.delete(sim.nodes[a.node]!.name); // a new process, a new dataplane writer
        sim.step(a);
        replay();
      }
      sim.settle();
      replay();
      for (const n of sim.live()) {
        const visible = new Map<string, string>();
        for (const table of TABLES) for (const network of NETS) {
          for (const e of n.t.entries(table, network)) visible.set(`${table}/${network}/${e.key}`, `${e.owner}=${str(e.value)}`);
        }
        assert.deepEqual(mirrors.get(n.name), visible);
      }
    }),
    { seed: FC_SEED + 1, numRuns: 150 },
  );
});
