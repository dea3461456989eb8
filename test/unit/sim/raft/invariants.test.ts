import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation, SafetyMonitor, type LogView } from '../../../sim/raft/invariants.js';
import { decodeCommand, encodeCommand, KIND_CAS, KIND_PUT, KvStateMachine } from '../../../sim/raft/kv.js';
import type { Entry } from '../../../../src/control/raft/core/types.js';

const b = (s: string) => new TextEncoder().encode(s);
const ent = (index: number, term: number, data = `e${index}.${term}`): Entry => ({ index, term, type: 0, data: b(data) });

/** A log view over a plain list of terms (terms[i] = term of index i; index 0 = term 0). */
function view(terms: number[]): LogView {
  return { term: (i) => (i >= 0 && i < terms.length ? terms[i] : undefined), lastIndex: () => terms.length - 1 };
}

function violates(name: string, fn: () => void): void {
  assert.throws(fn, (e: unknown) => e instanceof InvariantViolation && e.invariant === name && e.code === 'VXM_ERR_SIM_INVARIANT');
}

test('invariants: two leaders in one term', () => {
  const m = new SafetyMonitor();
  m.observeLeader(1, 3, view([0, 1, 3]));
  m.observeLeader(1, 3, view([0, 1, 3])); // same leader again: fine
  m.observeLeader(2, 4, view([0, 1, 3, 4]));
  assert.equal(m.elections, 2);
  violates('election safety', () => m.observeLeader(3, 4, view([0, 1, 3, 4])));
});

test('invariants: log matching catches a different entry or a different predecessor', () => {
  const m = new SafetyMonitor();
  m.observePersisted(1, [ent(1, 1), ent(2, 1)], view([0, 1, 1]).term);
  m.observePersisted(2, [ent(1, 1), ent(2, 1)], view([0, 1, 1]).term);
  violates('log matching', () => m.observePersisted(3, [ent(2, 1, 'other')], view([0, 1, 1]).term));
  violates('log matching', () => m.observePersisted(3, [ent(2, 1)], view([0, 2, 1]).term));
});

test('invariants: leader completeness at election and when a commit is first seen', () => {
  const m = new SafetyMonitor();
  m.observeCommit(1, 2, 3, view([0, 1, 2, 2]));
  violates('leader completeness', () => m.observeLeader(2, 3, view([0, 1, 2]))); // too short
  violates('leader completeness', () => m.observeLeader(3, 4, view([0, 1, 1, 1]))); // wrong term at 2
  m.observeLeader(1, 5, view([0, 1, 2, 2, 5]));
  // A commit seen in term 2 that the term-4 leader lacks.
  const m2 = new SafetyMonitor();
  m2.leaders = () => [{ id: 9, term: 5, log: view([0, 1, 5]) }];
  violates('leader completeness', () => m2.observeCommit(1, 2, 2, view([0, 1, 2])));
});

test('invariants: state machine safety (different entries, gaps, different snapshots)', () => {
  const m = new SafetyMonitor();
  m.observeApply(1, 0, ent(1, 1));
  m.observeApply(2, 0, ent(1, 1));
  violates('state machine safety', () => m.observeApply(3, 0, ent(1, 1, 'x')));
  violates('state machine safety', () => m.observeApply(1, 1, ent(3, 1)));
  m.observeSnapshot(1, 5, 1, b('state'));
  violates('state machine safety', () => m.observeSnapshot(2, 5, 1, b('other state')));
  const c = new SafetyMonitor();
  c.observeCommit(1, 1, 2, view([0, 1, 1]));
  violates('state machine safety', () => c.observeCommit(2, 2, 2, view([0, 1, 2])));
});

test('invariants: an acknowledged write missing from the final log', () => {
  const m = new SafetyMonitor();
  m.observeApply(1, 0, ent(1, 1, 'w1'));
  m.observeAck(1, b('w1'), 'w1');
  m.finalCheck(1);
  m.observeAck(2, b('w2'), 'w2');
  violates('acknowledged write lost', () => m.finalCheck(1));
  violates('acknowledged write lost', () => m.finalCheck(2));
});

test('kv: command codec round-trips and refuses malformed bytes', () => {
  const cmds = [
    { client: 3, seq: 7, kind: KIND_PUT, key: 'k1', value: 'v', expect: null },
    { client: 1, seq: 2 ** 32 - 1, kind: KIND_CAS, key: 'ключ', value: '', expect: null },
    { client: 1, seq: 9, kind: KIND_CAS, key: 'k', value: 'n', expect: 'old' },
  ] as const;
  for (const c of cmds) {
    const bytes = encodeCommand(c);
    assert.deepEqual(decodeCommand(bytes), c);
    for (let cut = 0; cut < bytes.length; cut++) assert.equal(decodeCommand(bytes.subarray(0, cut)), undefined);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    assert.equal(decodeCommand(longer), undefined);
  }
  assert.equal(decodeCommand(new Uint8Array(0)), undefined);
  const bad = encodeCommand(cmds[0]);
  bad[9] = 7; // unknown kind
  assert.equal(decodeCommand(bad), undefined);
});

test('kv: state machine put/cas and deterministic snapshots', () => {
  const a = new KvStateMachine();
  assert.equal(a.apply({ client: 1, seq: 1, kind: KIND_CAS, key: 'k', value: 'x', expect: 'y' }), false);
  assert.equal(a.apply({ client: 1, seq: 2, kind: KIND_CAS, key: 'k', value: 'x', expect: null }), true);
  assert.equal(a.apply({ client: 1, seq: 3, kind: KIND_PUT, key: 'j', value: 'z', expect: null }), true);
  assert.equal(a.get('k'), 'x');
  const b2 = new KvStateMachine();
  b2.apply({ client: 2, seq: 1, kind: KIND_PUT, key: 'j', value: 'z', expect: null });
  b2.apply({ client: 2, seq: 2, kind: KIND_PUT, key: 'k', value: 'x', expect: null });
  assert.deepEqual(a.snapshot(), b2.snapshot());
  const c = new KvStateMachine();
  c.restore(a.snapshot());
  assert.equal(c.get('j'), 'z');
  assert.equal(c.get('missing'), null);
});
