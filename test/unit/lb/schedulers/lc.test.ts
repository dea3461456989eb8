import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LeastConnectionsScheduler } from '../../../../src/dataplane/lb/schedulers/lc.js';
import { FC_SEED, backends, equalBackends } from './helpers.js';

test('lc: picks the backend with the fewest connections', () => {
  const s = new LeastConnectionsScheduler();
  s.setBackends(equalBackends(3));
  s.connectionOpened(0);
  s.connectionOpened(0);
  s.connectionOpened(1);
  assert.equal(s.pick(0), 2);
  s.connectionOpened(2);
  s.connectionOpened(2);
  assert.equal(s.pick(0), 1);
});

test('lc: opened and closed keep the counts, never below zero', () => {
  const s = new LeastConnectionsScheduler();
  s.setBackends(equalBackends(2));
  s.connectionOpened(1);
  s.connectionOpened(1);
  s.connectionClosed(1);
  assert.equal(s.connections(1), 1);
  s.connectionClosed(0);
  assert.equal(s.connections(0), 0);
  assert.throws(() => s.connectionOpened(2), RangeError);
  assert.throws(() => s.connectionClosed(-1), RangeError);
});

test('lc: ties broken in round-robin order', () => {
  const s = new LeastConnectionsScheduler();
  s.setBackends(equalBackends(4));
  assert.deepEqual(Array.from({ length: 8 }, () => s.pick(0)), [0, 1, 2, 3, 0, 1, 2, 3]);
});

test('lc: weighted: opening every picked flow keeps conns proportional to weights', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 20 }), (weights, rounds) => {
      const s = new LeastConnectionsScheduler();
      s.setBackends(weights.map((w, i) => ({ name: `b${i}`, weight: w, state: 'active' as const })));
      const total = weights.reduce((a, b) => a + b, 0);
      for (let i = 0; i < rounds * total; i++) s.connectionOpened(s.pick(0));
      // After whole rounds of W picks, backend i holds exactly rounds * w_i flows.
      weights.forEach((w, i) => assert.equal(s.connections(i), rounds * w));
    }),
    { seed: FC_SEED, numRuns: 100 },
  );
});

test('lc: draining and down backends keep their counts but take no new flows; counts follow names', () => {
  const s = new LeastConnectionsScheduler();
  s.setBackends(backends([['a'], ['b']]));
  s.connectionOpened(1);
  s.connectionOpened(1);
  s.setBackends(backends([['b', 1, 'draining'], ['a'], ['c', 1, 'down']]));
  assert.equal(s.connections(0), 2);
  assert.deepEqual(Array.from({ length: 3 }, () => s.pick(0)), [1, 1, 1]);
  s.setBackends(backends([['b', 1, 'down']]));
  assert.equal(s.pick(0), -1);
});
