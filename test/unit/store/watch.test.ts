import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterStore } from '../../../src/control/store/store.js';
import { StoreCompactedError, type StoreError } from '../../../src/control/store/errors.js';
import type { ChangeEvent } from '../../../src/control/store/change-log.js';
import type { Task } from '../../../src/control/store/schema.js';
import { Harness, create, del, network, node, service, task, update } from './helpers.js';

const fmt = (e: ChangeEvent) => `${e.index} ${e.kind} ${e.op} ${e.object.id}`;

test('watch from an index replays retained changes, then streams new ones', () => {
  const h = new Harness();
  h.ok(create('node', node('n1'))); // 1
  h.ok(create('node', node('n2'))); // 2
  h.ok(update('node', node('n1', { availability: 'drain' }), 1)); // 3
  const w = h.store.watch(2);
  assert.deepEqual(w.poll().map(fmt), ['2 node create n2', '3 node update n1']);
  assert.deepEqual(w.poll(), []);
  h.ok(del('node', 'n2', 2)); // 4
  h.apply(del('node', 'n1', 1)); // 5: conflict, no event
  const [e] = w.poll();
  assert.equal(fmt(e!), '4 node delete n2');
  assert.equal(e!.object.id, 'n2', 'a delete carries the last object');
  assert.equal((e!.object as { name: string }).name, 'host-n2');
  assert.deepEqual([...h.store.watch(1)].map(fmt), ['1 node create n1', '2 node create n2', '3 node update n1', '4 node delete n2']);
  assert.deepEqual([...h.store.watch(6)], []);
  w.close();
  assert.equal(w.closed, true);
});

test('watch filters by kind, op, id and predicate', () => {
  const h = new Harness();
  h.ok([create('network', network('w')), create('service', service('s', { networks: ['w'] }))]);
  h.ok([create('task', task('t1', 's', { networks: [{ networkId: 'w' }] })), create('task', task('t2', 's'))]);
  h.ok(del('task', 't2', 2));
  assert.deepEqual([...h.store.watch(1, { filter: { kinds: ['pool'] } })].map(fmt), ['1 pool create w/0', '2 pool update w/0']);
  assert.deepEqual([...h.store.watch(1, { filter: { kinds: ['task'], ops: ['delete'] } })].map(fmt), ['3 task delete t2']);
  assert.deepEqual([...h.store.watch(1, { filter: { ids: ['t1', 's'] } })].map(fmt), ['1 service create s', '2 task create t1']);
  const onNet = (e: ChangeEvent) => e.kind === 'task' && (e.object as Task).networks.some((a) => a.networkId === 'w');
  assert.deepEqual([...h.store.watch(1, { filter: { match: onNet } })].map(fmt), ['2 task create t1']);
});

test('compaction: an index older than the retained changes fails with VXM_ERR_STORE_COMPACTED; re-list then watch works', () => {
  const h = new Harness(new ClusterStore({ watchRetention: 4 }));
  for (let i = 1; i <= 6; i++) h.ok(create('node', node(`n${i}`)));
  assert.equal(h.store.compactedIndex, 2);
  assert.throws(() => h.store.watch(2), (e: unknown) => {
    assert.ok(e instanceof StoreCompactedError);
    assert.equal(e.code, 'VXM_ERR_STORE_COMPACTED');
    assert.equal(e.compactedIndex, 2);
    assert.match(e.message, /list the objects again and watch from the list's index \+ 1/);
    return true;
  });
  assert.deepEqual([...h.store.watch(3)].map(fmt), ['3 node create n3', '4 node create n4', '5 node create n5', '6 node create n6']);
  // A slow pull watcher that falls behind the ring gets the error on its next poll.
  const slow = h.store.watch(7);
  for (let i = 7; i <= 12; i++) h.ok(create('node', node(`n${i}`)));
  assert.throws(() => slow.poll(), StoreCompactedError);
  assert.equal(slow.closed, true);
  // The recovery path: list, then watch from index + 1.
  const listed = h.store.list('node');
  assert.equal(listed.items.length, 12);
  const w = h.store.watch(listed.index + 1);
  h.ok(create('node', node('n13')));
  assert.deepEqual(w.poll().map(fmt), ['13 node create n13']);
});

test('push watchers get the backlog at once and later events at the end of each apply', () => {
  const h = new Harness();
  h.ok(create('node', node('n1')));
  const got: string[] = [];
  const w = h.store.watch(1, { filter: { kinds: ['node'] }, onEvent: (e) => got.push(fmt(e)) });
  assert.deepEqual(got, ['1 node create n1']);
  h.ok([create('node', node('n2')), create('network', network('x'))]);
  h.apply(create('node', node('n2'))); // fails: no events
  assert.deepEqual(got, ['1 node create n1', '2 node create n2']);
  w.close();
  h.ok(create('node', node('n3')));
  assert.equal(got.length, 2);
  // A throwing callback is closed and reported; apply still succeeds.
  const errors: StoreError[] = [];
  h.store.watch(h.index + 1, { onEvent: () => { throw new Error('boom'); }, onError: (e) => errors.push(e) });
  assert.equal(h.apply(create('node', node('n4'))).ok, true);
  assert.equal(h.store.stats.watcherErrors, 1);
  assert.equal(errors[0]!.code, 'VXM_ERR_STORE_INTERNAL');
  assert.equal(h.store.watcherCount, 0);
  // A callback that proposes re-entrantly is refused, not run.
  let inner: boolean | undefined;
  const reentrant = h.store.watch(h.index + 1, { onEvent: () => { inner = h.store.apply(999, new Uint8Array([1, 2])).ok; } });
  h.ok(create('node', node('n5')));
  assert.equal(inner, false);
  assert.equal(h.store.get('node', 'n5')!.version, h.index);
  reentrant.close();
});

test('restore drops the change log: open watchers and old indexes get VXM_ERR_STORE_COMPACTED', () => {
  const h = new Harness();
  h.ok(create('node', node('n1')));
  h.ok(create('node', node('n2')));
  const snap = h.store.snapshot();
  const pull = h.store.watch(1);
  const errors: string[] = [];
  h.store.watch(1, { onEvent: () => {}, onError: (e) => errors.push(e.code) });
  const other = new ClusterStore();
  other.restore(snap);
  assert.throws(() => other.watch(2), StoreCompactedError);
  other.watch(3);
  h.store.restore(snap);
  assert.deepEqual(errors, ['VXM_ERR_STORE_COMPACTED']);
  assert.throws(() => pull.poll(), StoreCompactedError);
  assert.equal(h.store.compactedIndex, 2);
});
