// TablesDelegate: GossipTables riding on real SwimCores. Three cores + tables wired in memory
// (a lossless network with one 5 ms hop, time in 5 ms steps, TCP as request/answer pairs), no
// simulator: what the glue must do on its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SwimCore, type Outbound } from '../../../../src/control/swim/core.js';
import type { SwimConfig } from '../../../../src/control/swim/config.js';
import type { NodeMeta } from '../../../../src/control/swim/meta.js';
import { GossipTables } from '../../../../src/control/swim/tables/gossip-tables.js';
import {
  TABLES_EPOCH_LABEL, TablesDelegate, tablesEpochOf, withTablesEpoch,
} from '../../../../src/control/swim/tables/delegate.js';

const STEP = 5;
const enc = new TextEncoder();
const dec = new TextDecoder();

function rng(seed: number): { next(): number } {
  let x = (seed * 2654435761) >>> 0 || 1;
  return { next: () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0) };
}

interface Node { name: string; addr: string; core: SwimCore; tables: GossipTables; delegate: TablesDelegate; cut: boolean }

/** A tiny in-memory cluster: messages sent in one step are delivered at the next. */
class Cluster {
  now = 0;
  readonly nodes: Node[] = [];
  private pending: { from: Node; out: Outbound }[] = [];
  private conns = new Map<number, { client: Node; stream: number }>();
  private nextConn = 1;

  constructor(n: number, config: Partial<SwimConfig>, tablesExtra: { maxValueBytes?: number } = {}) {
    for (let i = 0; i < n; i++) {
      const name = `n${i}`;
      const tables = new GossipTables({ self: name, epoch: 1, ...tablesExtra });
      const delegate = new TablesDelegate(tables, { role: 'worker', addrs: ['10.0.0.' + i], labels: { zone: 'a' } });
      const core = new SwimCore({ name, addr: `${name}:7946`, meta: delegate.meta(), config, rng: rng(100 + i), delegate, now: 0 });
      delegate.bind(core);
      this.nodes.push({ name, addr: `${name}:7946`, core, tables, delegate, cut: false });
    }
    for (const nd of this.nodes.slice(1)) nd.core.join(0, [this.nodes[0]!.addr]);
  }

  byAddr(addr: string): Node | undefined {
    return this.nodes.find((n) => n.addr === addr);
  }

  run(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += STEP;
      const batch = this.pending;
      this.pending = [];
      for (const { from, out } of batch) this.deliver(from, out);
      for (const nd of this.nodes) {
        if (nd.cut) continue;
        nd.core.tick(this.now);
        nd.delegate.tick(this.now);
        this.flush(nd);
      }
    }
  }

  runUntil(pred: () => boolean, limitMs: number): number {
    const t0 = this.now;
    while (!pred()) {
      assert.ok(this.now - t0 < limitMs, `condition not met within ${limitMs} ms`);
      this.run(STEP);
    }
    return this.now - t0;
  }

  flush(nd: Node): void {
    while (nd.core.hasReady()) {
      const rd = nd.core.ready();
      for (const out of rd.messages) this.pending.push({ from: nd, out });
      nd.core.advance();
      nd.delegate.memberEvents(this.now, rd.events);
    }
  }

  private deliver(from: Node, out: Outbound): void {
    if (out.transport === 'tcp' && out.replyTo !== undefined) {
      const c = this.conns.get(out.replyTo);
      this.conns.delete(out.replyTo);
      if (c !== undefined && !c.client.cut && !from.cut) {
        c.client.core.step(this.now, { from: from.addr, transport: 'tcp', bytes: out.bytes, stream: c.stream });
        this.flush(c.client);
      }
      return;
    }
    const to = this.byAddr(out.to);
    if (to === undefined || to.cut || from.cut) {
      if (out.transport === 'tcp' && out.stream !== undefined && !from.cut) from.core.tcpFailed(this.now, out.stream);
      return;
    }
    if (out.transport === 'tcp') {
      const id = this.nextConn++;
      this.conns.set(id, { client: from, stream: out.stream! });
      to.core.step(this.now, { from: from.addr, transport: 'tcp', bytes: out.bytes, stream: id });
    } else {
      to.core.step(this.now, { from: from.addr, transport: 'udp', bytes: out.bytes });
    }
    this.flush(to);
  }

  allAlive(): boolean {
    return this.nodes.every((a) => a.cut || this.nodes.every((b) => b.cut || a.core.member(b.name)?.state === 'alive'));
  }
}

const val = (t: GossipTables, key: string): string | undefined => {
  const v = t.get('endpoints', 'ov1', key);
  return v === undefined ? undefined : dec.decode(v.value);
};

test('delegate: epoch label helpers round-trip and reject junk', () => {
  const meta: NodeMeta = { role: 'manager', addrs: ['10.0.0.1'], labels: { zone: 'b' } };
  const m = withTablesEpoch(meta, 42);
  assert.equal(m.labels[TABLES_EPOCH_LABEL], '42');
  assert.equal(m.labels['zone'], 'b');
  assert.equal(meta.labels[TABLES_EPOCH_LABEL], undefined, 'input not modified');
  assert.equal(tablesEpochOf(m), 42);
  for (const bad of ['', '0', '-1', '1.5', '01', 'x', '99999999999999999999']) {
    assert.equal(tablesEpochOf({ role: '', addrs: [], labels: { [TABLES_EPOCH_LABEL]: bad } }), undefined, bad);
  }
  assert.equal(tablesEpochOf({ role: '', addrs: [], labels: {} }), undefined);
});

test('delegate: used before bind(core) throws a coded error', () => {
  const d = new TablesDelegate(new GossipTables({ self: 'x', epoch: 1 }), { role: '', addrs: [], labels: {} });
  assert.throws(() => d.set(0, 'endpoints', 'ov1', 'k', enc.encode('v')), { code: 'VXM_ERR_SWIM_DELEGATE_UNBOUND' });
});

test('delegate: an entry set on one node appears on the others; the core, not the tables, relays it', () => {
  const c = new Cluster(3, {});
  c.runUntil(() => c.allAlive(), 10_000);
  for (const nd of c.nodes) assert.equal(tablesEpochOf(c.nodes[0]!.core.member(nd.name)!.meta), 1, 'epoch label gossiped');
  c.nodes[0]!.delegate.set(c.now, 'endpoints', 'ov1', '10.0.1.5', enc.encode('02:42:0a:00:01:05 vtep=10.0.0.0'));
  const took = c.runUntil(() => c.nodes.every((nd) => val(nd.tables, '10.0.1.5') !== undefined), 2_000);
  assert.ok(took <= 1_000, `took ${took} ms`);
  for (const nd of c.nodes) assert.deepEqual(nd.tables.get('endpoints', 'ov1', '10.0.1.5')?.owner, 'n0');
  assert.equal(c.nodes[0]!.delegate.counters.broadcasts, 1);
  // Receivers do not mint a new broadcast version per relay: the core re-gossips the original.
  for (const nd of c.nodes.slice(1)) {
    assert.equal(nd.delegate.counters.broadcasts, 0);
    assert.ok(nd.delegate.counters.relaysSkipped >= 1);
  }
  // An update and a delete travel the same way.
  c.nodes[0]!.delegate.set(c.now, 'endpoints', 'ov1', '10.0.1.5', enc.encode('moved'));
  c.runUntil(() => c.nodes.every((nd) => val(nd.tables, '10.0.1.5') === 'moved'), 2_000);
  assert.equal(c.nodes[0]!.delegate.delete(c.now, 'endpoints', 'ov1', '10.0.1.5'), true);
  assert.equal(c.nodes[0]!.delegate.delete(c.now, 'endpoints', 'ov1', 'never-set'), false);
  c.runUntil(() => c.nodes.every((nd) => val(nd.tables, '10.0.1.5') === undefined), 2_000);
  const d = c.nodes[0]!.tables.digest();
  for (const nd of c.nodes) assert.equal(nd.tables.digest(), d);
});

test('delegate: a dead node\'s entries disappear everywhere, fenced at the epoch its metadata advertised', () => {
  const c = new Cluster(3, {});
  c.runUntil(() => c.allAlive(), 10_000);
  const victim = c.nodes[2]!;
  victim.delegate.set(c.now, 'endpoints', 'ov1', 'task-on-n2', enc.encode('10.0.2.7'));
  c.nodes[0]!.delegate.set(c.now, 'endpoints', 'ov1', 'task-on-n0', enc.encode('10.0.0.7'));
  c.runUntil(() => c.nodes.every((nd) => val(nd.tables, 'task-on-n2') !== undefined && val(nd.tables, 'task-on-n0') !== undefined), 2_000);
  victim.cut = true; // crash
  c.runUntil(() => c.nodes.slice(0, 2).every((nd) => val(nd.tables, 'task-on-n2') === undefined), 60_000);
  for (const nd of c.nodes.slice(0, 2)) {
    assert.equal(nd.core.member('n2')?.state, 'dead');
    assert.equal(val(nd.tables, 'task-on-n0'), '10.0.0.7', 'the living owner\'s entries stay');
    assert.equal(nd.delegate.counters.membersGone, 1);
    assert.equal(nd.delegate.counters.goneWithoutEpoch, 0);
    assert.deepEqual(nd.tables.ownerInfo('n2'), { epoch: 1, fence: 1, entries: 0 });
  }
});

test('delegate: a node falsely declared dead raises its epoch, re-announces it and its entries come back', () => {
  const c = new Cluster(3, {});
  c.runUntil(() => c.allAlive(), 10_000);
  const n2 = c.nodes[2]!;
  n2.delegate.set(c.now, 'endpoints', 'ov1', 'task-on-n2', enc.encode('10.0.2.7'));
  c.runUntil(() => c.nodes.every((nd) => val(nd.tables, 'task-on-n2') !== undefined), 2_000);
  n2.cut = true; // cut off, but the process lives on
  c.runUntil(() => val(c.nodes[0]!.tables, 'task-on-n2') === undefined && val(c.nodes[1]!.tables, 'task-on-n2') === undefined, 60_000);
  n2.cut = false;
  n2.core.join(c.now, [c.nodes[0]!.addr]); // what the driver's rejoin does
  c.runUntil(() => c.allAlive() && c.nodes.every((nd) => val(nd.tables, 'task-on-n2') === '10.0.2.7'), 60_000);
  assert.ok(n2.tables.epoch >= 2, `epoch ${n2.tables.epoch}`);
  assert.equal(n2.delegate.counters.epochAnnounced, 1);
  c.runUntil(() => c.nodes.every((nd) => tablesEpochOf(nd.core.member('n2')!.meta) === n2.tables.epoch), 10_000);
  const d = c.nodes[0]!.tables.digest();
  for (const nd of c.nodes) assert.equal(nd.tables.digest(), d);
});

test('delegate: a broadcast too large for a packet is counted, not thrown, and push-pull still carries it', () => {
  const c = new Cluster(2, { pushPullIntervalMs: 2_000 }, { maxValueBytes: 4096 });
  c.runUntil(() => c.allAlive(), 10_000);
  const big = 'x'.repeat(2000);
  c.nodes[0]!.delegate.set(c.now, 'endpoints', 'ov1', 'big', enc.encode(big));
  assert.equal(c.nodes[0]!.delegate.counters.oversized, 1);
  assert.equal(c.nodes[0]!.delegate.counters.broadcasts, 0);
  c.runUntil(() => val(c.nodes[1]!.tables, 'big') === big, 10_000);
});
