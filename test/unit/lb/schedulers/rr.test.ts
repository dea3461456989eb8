import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RoundRobinScheduler } from '../../../../src/dataplane/lb/schedulers/rr.js';
import { FC_SEED, backends, equalBackends, histogram } from './helpers.js';

test('rr: N picks over k backends give each N/k picks, within 1', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 5000 }), (k, n) => {
      const s = new RoundRobinScheduler();
      s.setBackends(equalBackends(k));
      const counts = histogram((h) => s.pick(h), k, n);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `counts ${counts}`);
    }),
    { seed: FC_SEED, numRuns: 100 },
  );
});

test('rr: rotates in input order and skips draining, down and weight-0 backends', () => {
  const s = new RoundRobinScheduler();
  s.setBackends(backends([['a'], ['b', 1, 'draining'], ['c'], ['d', 1, 'down'], ['e', 0], ['f']]));
  assert.deepEqual(Array.from({ length: 7 }, () => s.pick(0)), [0, 2, 5, 0, 2, 5, 0]);
});

test('rr: no eligible backend gives -1', () => {
  const s = new RoundRobinScheduler();
  assert.equal(s.pick(0), -1);
  s.setBackends(backends([['a', 1, 'draining'], ['b', 1, 'down'], ['c', 0]]));
  assert.equal(s.pick(0), -1);
});

test('rr: setBackends with the same set keeps the rotation', () => {
  const set = equalBackends(5);
  const a = new RoundRobinScheduler();
  const b = new RoundRobinScheduler();
  a.setBackends(set);
  b.setBackends(set);
  for (let i = 0; i < 13; i++) {
    if (i % 3 === 0) b.setBackends(set.map((x) => ({ ...x })));
    assert.equal(b.pick(0), a.pick(0));
  }
});

test('rr: after a change the rotation continues after the last picked backend', () => {
  const s = new RoundRobinScheduler();
  s.setBackends(backends([['a'], ['b'], ['c'], ['d']]));
  assert.deepEqual([s.pick(0), s.pick(0)], [0, 1]); // a, b
  s.setBackends(backends([['x'], ['a'], ['b'], ['c'], ['d']]));
  assert.deepEqual([s.pick(0), s.pick(0), s.pick(0)], [3, 4, 0]); // c, d, x
});
