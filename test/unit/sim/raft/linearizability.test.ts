import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkLinearizable, type KvHistoryOp } from '../../../sim/raft/linearizability.js';

let nextId = 0;
const INF = Infinity;
function put(client: number, key: string, value: string, invoke: number, ret: number): KvHistoryOp {
  return { id: nextId++, client, kind: 'put', key, value, invoke, ret, ...(ret === INF ? {} : { result: true }) };
}
function get(client: number, key: string, result: string | null | undefined, invoke: number, ret: number): KvHistoryOp {
  return { id: nextId++, client, kind: 'get', key, invoke, ret, ...(result === undefined ? {} : { result }) };
}
function cas(client: number, key: string, expect: string | null, value: string, result: boolean | undefined, invoke: number, ret: number): KvHistoryOp {
  return { id: nextId++, client, kind: 'cas', key, expect, value, invoke, ret, ...(result === undefined ? {} : { result }) };
}

test('linearizability: sequential history is ok', () => {
  const h = [put(1, 'a', 'x', 0, 1), get(1, 'a', 'x', 2, 3), cas(1, 'a', 'x', 'y', true, 4, 5), get(2, 'a', 'y', 6, 7), cas(2, 'a', 'x', 'z', false, 8, 9)];
  const r = checkLinearizable(h);
  assert.equal(r.status, 'ok');
  assert.equal(r.ops, 5);
});

test('linearizability: concurrent ops may take effect in either order', () => {
  // The read overlaps both writes: it may see either, as long as a later read agrees.
  const h = [put(1, 'a', 'x', 0, 10), put(2, 'a', 'y', 1, 9), get(3, 'a', 'x', 2, 8), get(3, 'a', 'x', 11, 12)];
  assert.equal(checkLinearizable(h).status, 'ok');
  // Sees y then x although both writes completed before the first read: impossible.
  const bad = [put(1, 'a', 'x', 0, 10), put(2, 'a', 'y', 1, 9), get(3, 'a', 'y', 11, 12), get(3, 'a', 'x', 13, 14)];
  assert.equal(checkLinearizable(bad).status, 'violation');
});

test('linearizability: a stale read after a completed write is a violation with a counterexample', () => {
  const h = [put(1, 'k', 'v1', 0, 5), put(1, 'k', 'v2', 6, 10), get(2, 'k', 'v1', 11, 12)];
  const r = checkLinearizable(h);
  assert.equal(r.status, 'violation');
  assert.equal(r.key, 'k');
  assert.match(r.counterexample!, /not linearizable/);
  assert.match(r.counterexample!, /get\(k\) = "v1"/);
});

test('linearizability: reads of a value never written, and of the initial value after a write, fail', () => {
  assert.equal(checkLinearizable([get(1, 'a', 'ghost', 0, 1)]).status, 'violation');
  assert.equal(checkLinearizable([put(1, 'a', 'x', 0, 1), get(2, 'a', null, 2, 3)]).status, 'violation');
  assert.equal(checkLinearizable([get(2, 'a', null, 0, 3), put(1, 'a', 'x', 1, 2)]).status, 'ok');
});

test('linearizability: cas results must match the state', () => {
  // Two cas from the same expected value cannot both succeed (lost update).
  const lost = [put(1, 'a', 'x', 0, 1), cas(1, 'a', 'x', 'y', true, 2, 10), cas(2, 'a', 'x', 'z', true, 3, 9)];
  assert.equal(checkLinearizable(lost).status, 'violation');
  const fine = [put(1, 'a', 'x', 0, 1), cas(1, 'a', 'x', 'y', true, 2, 10), cas(2, 'a', 'x', 'z', false, 3, 9), get(3, 'a', 'y', 11, 12)];
  assert.equal(checkLinearizable(fine).status, 'ok');
});

test('linearizability: an unknown write must be allowed to take effect', () => {
  // The put of "u" timed out, yet a later read sees "u": it took effect (after its invocation).
  const h = [put(1, 'a', 'x', 0, 1), put(2, 'a', 'u', 2, INF), get(3, 'a', 'u', 50, 51), get(3, 'a', 'u', 52, 53)];
  assert.equal(checkLinearizable(h).status, 'ok');
  // An unknown cas that must have swapped to explain the read.
  const h2 = [put(1, 'b', 'x', 0, 1), cas(2, 'b', 'x', 'w', undefined, 2, INF), get(3, 'b', 'w', 10, 11)];
  assert.equal(checkLinearizable(h2).status, 'ok');
});

test('linearizability: an unknown write is not needed when nothing observed it', () => {
  const h = [put(1, 'a', 'x', 0, 1), put(2, 'a', 'u', 2, INF), get(3, 'a', 'x', 50, 51), put(1, 'a', 'y', 60, 61), get(3, 'a', 'y', 70, 71)];
  const r = checkLinearizable(h);
  assert.equal(r.status, 'ok');
  assert.equal(r.ops, 5);
});

test('linearizability: an unknown write cannot explain a read that finished before it was invoked', () => {
  const h = [put(1, 'a', 'x', 0, 1), get(3, 'a', 'u', 2, 3), put(2, 'a', 'u', 10, INF)];
  assert.equal(checkLinearizable(h).status, 'violation');
  // ... nor take effect twice: x, u, x, u needs u written after the second x.
  const h2 = [put(1, 'a', 'x', 0, 1), put(2, 'a', 'u', 2, INF), get(3, 'a', 'u', 5, 6), put(1, 'a', 'x', 7, 8), get(3, 'a', 'u', 9, 10)];
  assert.equal(checkLinearizable(h2).status, 'violation');
});

test('linearizability: unknown reads are ignored and keys are independent', () => {
  const h = [put(1, 'a', 'x', 0, 1), get(2, 'a', undefined, 0, INF), put(1, 'b', 'y', 0, 1), get(2, 'b', 'y', 2, 3), get(2, 'a', 'x', 2, 3)];
  const r = checkLinearizable(h);
  assert.equal(r.status, 'ok');
  assert.equal(r.keys, 2);
  assert.equal(r.ops, 4);
  // A violation on one key is reported with that key.
  const bad = [...h, get(3, 'b', 'zz', 4, 5)];
  const rb = checkLinearizable(bad);
  assert.equal(rb.status, 'violation');
  assert.equal(rb.key, 'b');
});

test('linearizability: ops touching at one instant are concurrent', () => {
  // The read is invoked exactly when the write returns: either order is allowed.
  assert.equal(checkLinearizable([put(1, 'a', 'x', 0, 5), get(2, 'a', null, 5, 6)]).status, 'ok');
  assert.equal(checkLinearizable([put(1, 'a', 'x', 0, 5), get(2, 'a', null, 5.01, 6)]).status, 'violation');
});

test('linearizability: the step budget turns a hard search into a timeout', () => {
  const h: KvHistoryOp[] = [];
  for (let i = 0; i < 12; i++) h.push(put(i, 'a', `v${i}`, 0, 100));
  h.push(get(99, 'a', 'nope', 101, 102));
  assert.equal(checkLinearizable(h, { maxStepsPerKey: 5 }).status, 'timeout');
  assert.equal(checkLinearizable(h).status, 'violation');
});

/** A random history that is linearizable by construction: ops take effect at a point inside their window. */
function linearizableHistory(seedOps: { kind: number; client: number; key: number; start: number; pre: number; post: number; unknown: boolean }[]): { h: KvHistoryOp[]; written: Set<string> } {
  const state = new Map<string, string | null>();
  const h: KvHistoryOp[] = [];
  const written = new Set<string>();
  let t = 0;
  seedOps.forEach((s, i) => {
    t += s.start; // linearization points strictly increase
    const key = `k${s.key}`;
    const cur = state.get(key) ?? null;
    const invoke = t - s.pre;
    const ret = s.unknown ? INF : t + s.post;
    if (s.kind === 0) {
      h.push(get(s.client, key, s.unknown ? undefined : cur, invoke, ret));
    } else if (s.kind === 1) {
      const v = `v${i}`;
      written.add(v);
      state.set(key, v);
      h.push(put(s.client, key, v, invoke, ret));
    } else {
      const v = `v${i}`;
      written.add(v);
      const expect = i % 3 === 0 ? null : cur;
      const ok = cur === expect;
      if (ok) state.set(key, v);
      h.push(cas(s.client, key, expect, v, s.unknown ? undefined : ok, invoke, ret));
    }
  });
  return { h, written };
}

test('linearizability property: histories linearizable by construction pass; a corrupted read fails', () => {
  const opArb = fc.record({
    kind: fc.integer({ min: 0, max: 2 }), client: fc.integer({ min: 0, max: 4 }), key: fc.integer({ min: 0, max: 1 }),
    start: fc.integer({ min: 1, max: 10 }), pre: fc.integer({ min: 0, max: 30 }), post: fc.integer({ min: 0, max: 30 }),
    unknown: fc.boolean(),
  });
  fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
    const { h } = linearizableHistory(ops.map((o) => ({ ...o, unknown: o.unknown && o.kind !== 0 })));
    assert.equal(checkLinearizable(h).status, 'ok');
    // Corrupt: a known read returns a value nobody ever wrote.
    const reads = h.filter((o) => o.kind === 'get' && o.result !== undefined);
    if (reads.length > 0) {
      const victim = reads[reads.length - 1]!;
      const bad = h.map((o) => (o === victim ? { ...o, result: 'never-written' } : o));
      assert.equal(checkLinearizable(bad).status, 'violation');
    }
  }), { numRuns: 300, seed: 42 });
});
