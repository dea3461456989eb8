import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { WeightedRoundRobinScheduler } from '../../../../src/dataplane/lb/schedulers/wrr.js';
import { FC_SEED, backends } from './helpers.js';

function picks(weights: readonly number[], n: number): number[] {
  const s = new WeightedRoundRobinScheduler();
  s.setBackends(weights.map((w, i) => ({ name: `b${i}`, weight: w, state: 'active' as const })));
  return Array.from({ length: n }, () => s.pick(0));
}

test('wrr: every window of sum(weights) consecutive picks holds exactly weight picks of each backend', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 12 }), (weights) => {
      const total = weights.reduce((a, b) => a + b, 0);
      const seq = picks(weights, 3 * total);
      const counts = new Array<number>(weights.length).fill(0);
      for (let i = 0; i < total; i++) counts[seq[i]!]!++;
      assert.deepEqual(counts, weights);
      // Slide the window one pick at a time.
      for (let start = 1; start + total <= seq.length; start++) {
        counts[seq[start - 1]!]!--;
        counts[seq[start + total - 1]!]!++;
        assert.deepEqual(counts, weights, `window at ${start}`);
      }
    }),
    { seed: FC_SEED, numRuns: 200 },
  );
});

test('wrr: smooth, like nginx: {a:5, b:1, c:1} gives a a b a c a a', () => {
  assert.deepEqual(picks([5, 1, 1], 7), [0, 0, 1, 0, 2, 0, 0]);
});

test('wrr: smooth: a backend of weight w >= 3 never runs w times in a row when the others weigh >= 2 together', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 2, maxLength: 8 }), (weights) => {
      const total = weights.reduce((a, b) => a + b, 0);
      const seq = picks(weights, 3 * total);
      const longest = new Array<number>(weights.length).fill(0);
      let run = 0;
      for (let i = 0; i < seq.length; i++) {
        run = i > 0 && seq[i] === seq[i - 1] ? run + 1 : 1;
        longest[seq[i]!] = Math.max(longest[seq[i]!]!, run);
      }
      weights.forEach((w, i) => {
        // Not for w = 2: {1, 1, 2} runs "c a b c | c a b c" (nginx's sequence is not
        // perfectly smooth across period boundaries); exhaustively true for w >= 3 up to 12.
        if (w >= 3 && total - w >= 2) assert.ok(longest[i]! < w, `backend ${i} weight ${w} ran ${longest[i]} in ${weights}`);
      });
    }),
    { seed: FC_SEED, numRuns: 200 },
  );
});

test('wrr: ineligible backends never picked; none eligible gives -1', () => {
  const s = new WeightedRoundRobinScheduler();
  assert.equal(s.pick(0), -1);
  s.setBackends(backends([['a', 3, 'draining'], ['b', 2], ['c', 0], ['d', 5, 'down'], ['e', 1]]));
  const seen = new Set(Array.from({ length: 30 }, () => s.pick(0)));
  assert.deepEqual([...seen].sort(), [1, 4]);
  s.setBackends(backends([['a', 3, 'draining']]));
  assert.equal(s.pick(0), -1);
});

test('wrr: setBackends with the same set keeps the sequence', () => {
  const set = backends([['a', 4], ['b', 2], ['c', 1]]);
  const a = new WeightedRoundRobinScheduler();
  const b = new WeightedRoundRobinScheduler();
  a.setBackends(set);
  b.setBackends(set);
  for (let i = 0; i < 30; i++) {
    if (i % 4 === 0) b.setBackends(set.map((x) => ({ ...x })));
    assert.equal(b.pick(0), a.pick(0));
  }
});
