import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GossipTables, GossipTableEntryError } from '../../../../src/control/swim/tables/index.js';
import type { GossipTables as Tables } from '../../../../src/control/swim/tables/index.js';
import { b, deliver, node, pushPull, str, val } from './helpers.js';

const T = 'endpoints';
const N = 'net1';

describe('local writes', () => {
  test('set, update, delete emit add, update, delete and keep a tombstone until reaped', () => {
    const a = node('a');
    a.set(0, T, N, 'k', b('v1'));
    a.set(1, T, N, 'k', b('v2'));
    a.set(2, T, N, 'k', b('v2')); // same bytes: a new version, but nothing visible changed
    assert.equal(val(a, T, N, 'k'), 'v2');
    assert.ok(a.delete(3, T, N, 'k') !== null);
    assert.equal(a.get(T, N, 'k'), undefined);
    assert.equal(a.delete(4, T, N, 'k'), null, 'deleting a tombstone is a no-op');
    assert.equal(a.delete(4, T, N, 'never'), null);
    assert.deepEqual(
      a.drainEvents().map((e) => [e.op, e.key, e.owner, str(e.value)]),
      [['add', 'k', 'a', 'v1'], ['update', 'k', 'a', 'v2'], ['delete', 'k', 'a', undefined]],
    );
    assert.match(a.dump(), /entry endpoints\/net1\/k owner=a v=1\.4 tombstone/);
    a.tick(3 + 59_999);
    assert.match(a.dump(), /tombstone/, 'kept until tombstoneReapMs has passed');
    a.tick(3 + 60_000);
    assert.doesNotMatch(a.dump(), /entry/);
    assert.equal(a.counters.reaped, 1);
    assert.deepEqual(a.drainEvents(), [], 'reaping a tombstone changes nothing visible');
  });

  test('a set copies the value: the caller may reuse its buffer', () => {
    const a = node('a');
    const buf = b('abc');
    a.set(0, T, N, 'k', buf);
    buf[0] = 0x7a;
    assert.equal(val(a, T, N, 'k'), 'abc');
  });

  test('a rewrite after a delete revives the key and the old tombstone is not reaped later', () => {
    const a = node('a');
    a.set(0, T, N, 'k', b('v1'));
    a.delete(1, T, N, 'k');
    a.set(2, T, N, 'k', b('v3'));
    a.tick(1_000_000);
    assert.equal(val(a, T, N, 'k'), 'v3');
    assert.equal(a.counters.reaped, 0);
  });

  test('entries() lists the visible entries of one table in one network', () => {
    const a = node('a');
    a.set(0, T, N, 'k1', b('1'));
    a.set(0, T, N, 'k2', b('2'));
    a.set(0, T, 'net2', 'k3', b('3'));
    a.set(0, 'services', N, 'k4', b('4'));
    a.delete(1, T, N, 'k2');
    assert.deepEqual([...a.entries(T, N)].map((e) => [e.key, e.owner, str(e.value)]), [['k1', 'a', '1']]);
    assert.deepEqual([...a.entries(T, 'nope')], []);
  });

  test('bad writes throw GossipTableEntryError with a stable code; bad config throws ConfigError', () => {
    const a = node('a', 1, { maxValueBytes: 4 });
    assert.throws(() => a.set(0, T, N, 'k', b('12345')), (e: unknown) => e instanceof GossipTableEntryError && e.code === 'VXM_ERR_TABLE_ENTRY_INVALID' && e.field === 'value');
    assert.throws(() => a.set(0, '', N, 'k', b('1')), { code: 'VXM_ERR_TABLE_ENTRY_INVALID' });
    assert.throws(() => a.set(0, T, N, 'x'.repeat(1025), b('1')), { code: 'VXM_ERR_TABLE_ENTRY_INVALID' });
    assert.throws(() => a.set(0, T, 'é'.repeat(128), 'k', b('1')), { code: 'VXM_ERR_TABLE_ENTRY_INVALID' }, '256 UTF-8 bytes');
    a.set(0, T, 'é'.repeat(127), 'k', b('1234'));
    assert.throws(() => new GossipTables({ self: 'a', epoch: 0 }), { code: 'VXM_ERR_CONFIG' });
    assert.throws(() => new GossipTables({ self: 'a', epoch: 1.5 }), { code: 'VXM_ERR_CONFIG' });
    assert.throws(() => new GossipTables({ self: '', epoch: 1 }), { code: 'VXM_ERR_CONFIG' });
    assert.throws(() => new GossipTables({ self: 'a', epoch: 1, tombstoneReapMs: 0 }), { code: 'VXM_ERR_CONFIG' });
    assert.throws(() => new GossipTables({ self: 'a', epoch: 1, maxValueBytes: 70_000 }), { code: 'VXM_ERR_CONFIG' });
    assert.equal(new GossipTables({ self: 'a', epoch: 1 }).config.tombstoneReapMs, 600_000);
  });
});

describe('replication', () => {
  test('a broadcast is applied once; duplicates and reordered older versions are stale', () => {
    const a = node('a');
    const r = node('r');
    const v1 = a.set(0, T, N, 'k', b('v1'));
    const v2 = a.set(1, T, N, 'k', b('v2'));
    deliver(2, 'a', v2, [r]);
    deliver(2, 'a', v1, [r]);
    deliver(2, 'a', v2, [r]);
    assert.equal(val(r, T, N, 'k'), 'v2');
    assert.deepEqual(r.get(T, N, 'k')?.owner, 'a');
    assert.equal(r.counters.applied, 1);
    assert.equal(r.counters.stale, 2);
    assert.deepEqual(r.drainEvents().map((e) => e.op), ['add']);
  });

  test('an entry that is news is relayed (drainBroadcasts); a stale one is not', () => {
    const a = node('a');
    const r = node('r');
    const c = node('c');
    const bc = a.set(0, T, N, 'k', b('v'));
    deliver(1, 'a', bc, [r]);
    const relays = r.drainBroadcasts();
    assert.equal(relays.length, 1);
    assert.equal(relays[0]!.key, bc.key, 'same supersede key as the original');
    deliver(2, 'r', relays[0]!, [c]);
    assert.equal(val(c, T, N, 'k'), 'v');
    deliver(3, 'a', bc, [r]);
    assert.deepEqual(r.drainBroadcasts(), []);
  });

  test('push-pull brings a replica that missed every broadcast up to date, both ways', () => {
    const a = node('a');
    const c = node('c');
    a.set(0, T, N, 'k1', b('1'));
    a.set(0, T, N, 'k2', b('2'));
    a.delete(0, T, N, 'k2');
    c.set(0, T, N, 'k3', b('3'));
    pushPull(1, a, c);
    assert.equal(a.digest(), c.digest());
    assert.equal(val(c, T, N, 'k1'), '1');
    assert.equal(val(a, T, N, 'k3'), '3');
    assert.match(c.dump(), /k2 owner=a v=1\.3 tombstone/, 'tombstones travel in the state too');
  });

  test('two owners of one key: every replica shows the lower owner name; events follow it', () => {
    const na = node('node-a');
    const nb = node('node-b');
    const r = node('r');
    deliver(0, 'node-b', nb.set(0, T, N, 'ip', b('vtep-b')), [r]);
    deliver(1, 'node-a', na.set(1, T, N, 'ip', b('vtep-a')), [r]);
    deliver(2, 'node-a', na.delete(2, T, N, 'ip'), [r]);
    assert.deepEqual(
      r.drainEvents().map((e) => [e.op, e.owner, str(e.value)]),
      [['add', 'node-b', 'vtep-b'], ['update', 'node-a', 'vtep-a'], ['update', 'node-b', 'vtep-b']],
    );
    // Another replica that gets them in the other order shows the same.
    const r2 = node('r2');
    pushPull(3, r2, na);
    pushPull(3, r2, nb);
    assert.equal(r2.get(T, N, 'ip')?.owner, 'node-b');
    assert.equal(r2.digest(), r.digest());
  });
});

// ---- networkdb's three bugs, each as a scenario run against a naive replica and ours ------------

/** The scenario driver's view of a replica. */
interface Replica {
  name: string;
  set(now: number, key: string, value: string): Uint8Array;
  del(now: number, key: string): Uint8Array | null;
  recv(now: number, msg: Uint8Array): void;
  pull(now: number, other: Replica): void;
  gone(now: number, node: string): void;
  tick(now: number): void;
  value(key: string): string | undefined;
  /** Messages the replica wants gossiped beyond its own writes' (ours: relays, refutations). */
  outbox(): Uint8Array[];
}

/**
 * networkdb's design in miniature: one slot per key, a per-node Lamport clock that starts from
 * zero at process start, deletes that remove the slot (networkdb keeps a reapable "deleting"
 * flag; the window after the reap is the same), memberGone that deletes the dead node's entries
 * locally and nothing else. Used to show each scenario below catches the bug it names.
 */
class NaiveReplica implements Replica {
  private clock = 0;
  private readonly slots = new Map<string, { owner: string; ltime: number; value: string | null; at: number }>();
  constructor(readonly name: string, private readonly reapMs = 60_000) {}
  private msg(key: string): Uint8Array {
    const s = this.slots.get(key)!;
    return b(JSON.stringify({ key, ...s }));
  }
  set(now: number, key: string, value: string): Uint8Array {
    this.slots.set(key, { owner: this.name, ltime: ++this.clock, value, at: now });
    return this.msg(key);
  }
  del(now: number, key: string): Uint8Array | null {
    const s = this.slots.get(key);
    if (s === undefined || s.value === null) return null;
    this.slots.set(key, { ...s, ltime: ++this.clock, value: null, at: now });
    return this.msg(key);
  }
  private apply(now: number, m: { key: string; owner: string; ltime: number; value: string | null }): void {
    this.clock = Math.max(this.clock, m.ltime);
    const s = this.slots.get(m.key);
    if (s !== undefined && s.ltime >= m.ltime) return;
    this.slots.set(m.key, { owner: m.owner, ltime: m.ltime, value: m.value, at: now });
  }
  recv(now: number, msg: Uint8Array): void {
    this.apply(now, JSON.parse(str(msg)!));
  }
  pull(now: number, other: Replica): void {
    for (const [key, s] of (other as NaiveReplica).slots) this.apply(now, { key, ...s });
  }
  gone(_now: number, node: string): void {
    for (const [k, s] of this.slots) if (s.owner === node) this.slots.delete(k);
  }
  tick(now: number): void {
    for (const [k, s] of this.slots) if (s.value === null && s.at + this.reapMs <= now) this.slots.delete(k);
  }
  value(key: string): string | undefined {
    return this.slots.get(key)?.value ?? undefined;
  }
  outbox(): Uint8Array[] {
    return [];
  }
}

class OurReplica implements Replica {
  readonly t: Tables;
  constructor(readonly name: string, epoch: number) {
    this.t = node(name, epoch);
  }
  set(now: number, key: string, value: string): Uint8Array {
    return this.t.set(now, T, N, key, b(value)).payload;
  }
  del(now: number, key: string): Uint8Array | null {
    return this.t.delete(now, T, N, key)?.payload ?? null;
  }
  recv(now: number, msg: Uint8Array): void {
    this.t.receive(now, '?', msg);
  }
  pull(now: number, other: Replica): void {
    this.t.mergeRemoteState(now, other.name, (other as OurReplica).t.localState());
  }
  gone(now: number, n: string): void {
    this.t.memberGone(now, n);
  }
  tick(now: number): void {
    this.t.tick(now);
  }
  value(key: string): string | undefined {
    return val(this.t, T, N, key);
  }
  outbox(): Uint8Array[] {
    return this.t.drainBroadcasts().map((x) => x.payload);
  }
}

type Make = (name: string, epoch: number) => Replica;
const naive: Make = (name) => new NaiveReplica(name);
const ours: Make = (name, epoch) => new OurReplica(name, epoch);

/** Bug 1: the owner restarts with a fresh clock; its new writes must win. */
function restartScenario(make: Make): { r: Replica; a2: Replica } {
  const a = make('a', 1);
  const r = make('r', 1);
  for (let i = 0; i < 20; i++) r.recv(i, a.set(i, 'task1', `old-${i}`)); // a's clock is at 20
  r.recv(20, a.set(20, 'task2', 'old'));
  const a2 = make('a', 2); // restart: a remembers nothing
  r.recv(30, a2.set(30, 'task1', 'new'));
  return { r, a2 };
}

/** Bug 2: a dead owner's entries must go everywhere, even when a replica that has not heard
 *  yet pushes its state; a rejoin with a newer epoch is accepted. */
function deathScenario(make: Make): { r: Replica; c: Replica; rejoined: Replica } {
  const a = make('a', 1);
  const r = make('r', 1);
  const c = make('c', 1);
  const m = a.set(0, 'task1', 'on-a');
  r.recv(1, m);
  c.recv(1, m);
  r.gone(10, 'a'); // r's SWIM declared a dead; c has not heard yet
  r.pull(11, c); // c's anti-entropy reaches r first
  c.pull(12, r); // and then r's reaches c
  const rejoined = make('a', 2);
  const m2 = rejoined.set(20, 'task9', 'on-a-again');
  r.recv(21, m2);
  c.recv(21, m2);
  return { r, c, rejoined };
}

/** Bug 3: a delete must not be undone by an older write that arrives late, even after the
 *  tombstone is reaped (then the owner repairs it through anti-entropy). */
function lateWriteScenario(make: Make): { r: Replica } {
  const a = make('a', 1);
  const r = make('r', 1);
  const write = a.set(0, 'task1', 'v');
  const del = a.del(1, 'task1')!;
  r.recv(2, del); // the delete overtakes the write
  r.recv(3, write);
  assert.equal(r.value('task1'), undefined, 'an older write lost to the tombstone');
  a.tick(120_000);
  r.tick(120_000); // tombstones reaped everywhere
  r.recv(120_001, write); // a duplicate of the old write, delayed for minutes
  // Anti-entropy both ways, then whatever that made the replicas gossip.
  a.pull(120_002, r);
  r.pull(120_002, a);
  for (const m of a.outbox()) r.recv(120_003, m);
  return { r };
}

describe("networkdb's bugs", () => {
  test('bug 1, entries rejected forever: a restarted owner (new epoch) wins over its old entries', () => {
    const n = restartScenario(naive);
    assert.equal(n.r.value('task1'), 'old-19', 'the naive design rejects the restarted owner (the bug)');
    const o = restartScenario(ours);
    assert.equal(o.r.value('task1'), 'new');
    assert.equal(o.r.value('task2'), undefined, 'the old life is dropped whole (I1)');
    assert.equal((o.r as OurReplica).t.ownerInfo('a')?.epoch, 2);
  });

  test('bug 2, dead tasks lingering: stale anti-entropy does not resurrect; the fence spreads; a rejoin is accepted', () => {
    const n = deathScenario(naive);
    assert.equal(n.r.value('task1'), 'on-a', 'the naive design takes the dead entry back (the bug)');
    const o = deathScenario(ours);
    assert.equal(o.r.value('task1'), undefined);
    assert.equal(o.c.value('task1'), undefined, 'c learned the death from r\'s state');
    assert.equal(o.r.value('task9'), 'on-a-again');
    assert.equal(o.c.value('task9'), 'on-a-again');
    const rt = (o.r as OurReplica).t;
    assert.ok(rt.counters.fenced >= 1);
    assert.deepEqual(rt.ownerInfo('a'), { epoch: 2, fence: 1, entries: 1 });
    assert.deepEqual(rt.drainEvents().map((e) => [e.op, e.key]), [['add', 'task1'], ['delete', 'task1'], ['add', 'task9']]);
  });

  test('bug 3, a delete undone by a late older write: the tombstone wins, and after its reap the owner refutes', () => {
    const n = lateWriteScenario(naive);
    assert.equal(n.r.value('task1'), 'v', 'the naive design resurrects the deleted entry (the bug)');
    const o = lateWriteScenario(ours);
    assert.equal(o.r.value('task1'), undefined);
    assert.equal((o.r as OurReplica).t.counters.applied >= 2, true);
  });
});

describe('owner epochs and fences', () => {
  test('a restarted owner that writes nothing still retires its old entries through push-pull', () => {
    const a = node('a', 1);
    const r = node('r');
    deliver(0, 'a', a.set(0, T, N, 'k', b('v')), [r]);
    const a2 = node('a', 2);
    pushPull(1, a2, r);
    assert.equal(r.get(T, N, 'k'), undefined);
    assert.equal(r.counters.dropped, 1);
    deliver(2, 'a', a.set(2, T, N, 'k2', b('zombie')), [r]);
    assert.equal(r.get(T, N, 'k2'), undefined, 'the old process, still talking, is stale');
  });

  test('memberGone without an epoch fences the highest epoch seen; an explicit epoch fences that one', () => {
    const r = node('r');
    deliver(0, 'a', node('a', 5).set(0, T, N, 'k', b('v')), [r]);
    r.memberGone(1, 'a');
    assert.deepEqual(r.ownerInfo('a'), { epoch: 5, fence: 5, entries: 0 });
    r.memberGone(1, 'unknown'); // nothing known, nothing to fence
    assert.equal(r.ownerInfo('unknown'), undefined);
    r.memberGone(1, 'z', 7); // known from SWIM metadata only
    deliver(2, 'z', node('z', 7).set(0, T, N, 'k', b('late')), [r]);
    deliver(2, 'z', node('z', 8).set(0, T, N, 'k', b('rejoined')), [r]);
    assert.equal(r.get(T, N, 'k')?.owner, 'z');
    assert.equal(val(r, T, N, 'k'), 'rejoined');
    assert.equal(r.counters.fenced, 1);
  });

  test('memberGone of an older epoch than the owner now runs keeps its entries', () => {
    const r = node('r');
    deliver(0, 'a', node('a', 3).set(0, T, N, 'k', b('v')), [r]);
    r.memberGone(1, 'a', 2);
    assert.equal(val(r, T, N, 'k'), 'v');
  });

  test('a live node declared gone refutes by raising its epoch and re-writing its entries', () => {
    const a = node('a', 1);
    const r = node('r');
    deliver(0, 'a', a.set(0, T, N, 'k', b('v')), [r]);
    deliver(0, 'a', a.set(0, T, N, 'gone-soon', b('x')), [r]);
    deliver(0, 'a', a.delete(0, T, N, 'gone-soon'), [r]);
    r.memberGone(1, 'a'); // false positive
    assert.equal(r.get(T, N, 'k'), undefined);
    pushPull(2, r, a);
    assert.equal(a.epoch, 2);
    assert.equal(a.counters.selfConflict, 1);
    const out = a.drainBroadcasts();
    assert.equal(out.length, 1, 'live entries only; the tombstone is not needed at a new epoch');
    deliver(3, 'a', out[0]!, [r]);
    assert.equal(val(r, T, N, 'k'), 'v');
    assert.equal(a.digest(), r.digest());
    a.memberGone(4, 'a');
    assert.equal(a.counters.selfGoneIgnored, 1);
  });

  test('a restart that reuses its epoch (broken contract) is repaired: the owner out-counts the claims it sees', () => {
    const a = node('a', 1);
    const r = node('r');
    for (let i = 0; i < 10; i++) deliver(i, 'a', a.set(i, T, N, 'k', b(`old-${i}`)), [r]);
    const again = node('a', 1);
    deliver(20, 'a', again.set(20, T, N, 'k', b('new')), [r]);
    assert.equal(val(r, T, N, 'k'), 'old-9', 'stale at r: same epoch, lower seq');
    pushPull(21, again, r);
    assert.equal(again.counters.refuted, 1);
    for (const bc of again.drainBroadcasts()) deliver(22, 'a', bc, [r]);
    assert.equal(val(r, T, N, 'k'), 'new');
    assert.match(r.dump(), /k owner=a v=1\.11 /);
    // ...and its next write beats everything it has seen of itself.
    deliver(23, 'a', again.set(23, T, N, 'k2', b('x')), [r]);
    assert.equal(val(r, T, N, 'k2'), 'x');
  });

  test('another process claiming a higher epoch for this node forces an epoch bump above it', () => {
    const a = node('a', 1);
    a.set(0, T, N, 'k', b('v'));
    a.receive(1, 'x', node('a', 9).set(1, T, N, 'other', b('impostor')).payload);
    assert.equal(a.epoch, 10);
    assert.equal(a.counters.selfConflict, 1);
    assert.equal(a.get(T, N, 'other'), undefined, 'a never adopts claims about itself');
    assert.equal(a.drainBroadcasts().length, 1);
  });
});
