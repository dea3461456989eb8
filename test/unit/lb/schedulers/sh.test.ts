import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SourceHashScheduler } from '../../../../src/dataplane/lb/schedulers/sh.js';
import { FC_SEED, backends, equalBackends, histogram, mix32 } from './helpers.js';

test('sh: the same hash always gives the same backend', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), fc.array(fc.integer(), { minLength: 1, maxLength: 50 }), (n, hashes) => {
      const s = new SourceHashScheduler();
      s.setBackends(equalBackends(n));
      const first = hashes.map((h) => s.pick(h));
      s.setBackends(equalBackends(n));
      assert.deepEqual(hashes.map((h) => s.pick(h)), first);
      for (const b of first) assert.ok(b >= 0 && b < n);
    }),
    { seed: FC_SEED, numRuns: 100 },
  );
});

test('sh: shares proportional to weights within 10 % over 100k uniform hashes', () => {
  const weights = [1, 2, 3, 10, 4];
  const s = new SourceHashScheduler();
  s.setBackends(weights.map((w, i) => ({ name: `b${i}`, weight: w, state: 'active' as const })));
  const n = 100_000;
  const counts = histogram((h) => s.pick(h), weights.length, n, mix32);
  const total = weights.reduce((a, b) => a + b, 0);
  weights.forEach((w, i) => {
    const expected = (n * w) / total;
    assert.ok(Math.abs(counts[i]! - expected) <= 0.1 * expected, `backend ${i}: ${counts[i]} vs ${expected}`);
  });
});

test('sh: signed and unsigned forms of a hash agree; ineligible backends never picked', () => {
  const s = new SourceHashScheduler();
  assert.equal(s.pick(1), -1);
  s.setBackends(backends([['a', 1, 'draining'], ['b', 2], ['c', 1, 'down'], ['d', 0], ['e', 1]]));
  assert.equal(s.pick(-1), s.pick(0xffffffff));
  const counts = histogram((h) => s.pick(h), 5, 10_000, mix32);
  assert.equal(counts[0]! + counts[2]! + counts[3]!, 0);
});

test('sh: large total weights (searched, not tabulated) stay proportional', () => {
  const weights = [100_000, 300_000, 50_000]; // total > 2^16: the binary-search path
  const s = new SourceHashScheduler();
  s.setBackends(weights.map((w, i) => ({ name: `b${i}`, weight: w, state: 'active' as const })));
  const n = 100_000;
  const counts = histogram((h) => s.pick(h), weights.length, n, mix32);
  const total = weights.reduce((a, b) => a + b, 0);
  weights.forEach((w, i) => {
    const expected = (n * w) / total;
    assert.ok(Math.abs(counts[i]! - expected) <= 0.1 * expected, `backend ${i}: ${counts[i]} vs ${expected}`);
  });
});
