import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTable, percentile, summarize } from '../../sim/kit/index.js';

test('percentile: type-7 interpolation, edges, empty', () => {
  const s = [10, 20, 30, 40, 50];
  assert.equal(percentile(s, 0), 10);
  assert.equal(percentile(s, 100), 50);
  assert.equal(percentile(s, 50), 30);
  assert.equal(percentile(s, 25), 20);
  assert.equal(percentile(s, 90), 46); // h = 3.6 => 40 + 0.6 * 10
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.equal(percentile(Float64Array.of(1, 2), 50), 1.5);
  assert.throws(() => percentile(s, 101), RangeError);
  // agrees with a brute-force reference on 1..1000
  const big = Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(percentile(big, 99), 990.01);
});

test('summarize and formatTable', () => {
  const sm = summarize([5, 1, 3, 2, 4]);
  assert.deepEqual(sm, { count: 5, mean: 3, min: 1, p50: 3, p90: 4.6, p99: 4.96, max: 5 });
  const t = formatTable(['scenario', 'nodes', 'p99_ms'], [['lifeguard', 1000, 812.345], ['plain', 50, 0.5]]);
  assert.equal(t, [
    'scenario   nodes  p99_ms',
    '---------  -----  ------',
    'lifeguard   1000     812',
    'plain         50   0.500',
  ].join('\n'));
});
