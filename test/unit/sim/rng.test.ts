import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../sim/kit/index.js';

const draw = (r: Rng, n: number): number[] => Array.from({ length: n }, () => r.next());

test('rng: the stream of a seed is fixed (golden values: changing them invalidates every recorded seed)', () => {
  assert.deepEqual(draw(new Rng(42), 3), [1206806897, 2887477309, 3097212963]);
  assert.deepEqual(draw(new Rng(42).fork('node:1'), 2), [3671483873, 349795534]);
});

test('rng: same seed => same sequence; nearby, negative and >32-bit seeds differ', () => {
  assert.deepEqual(draw(new Rng(7), 100), draw(new Rng(7), 100));
  const seeds = [0, 1, 2, 3, -1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 1, 0x1d4b0c7f9157f];
  const firsts = seeds.map((s) => draw(new Rng(s), 4).join(','));
  assert.equal(new Set(firsts).size, seeds.length);
  assert.throws(() => new Rng(NaN), TypeError);
});

test('rng: next is uint32, float in [0,1), int(n) in range and unbiased within bounds', () => {
  const r = new Rng(123);
  const buckets = new Array(10).fill(0);
  let fsum = 0;
  for (let i = 0; i < 100_000; i++) {
    const x = r.next();
    assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
    const f = r.float();
    assert.ok(f >= 0 && f < 1);
    fsum += f;
    const k = r.int(10);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 10);
    buckets[k]++;
  }
  // 10 000 expected per bucket, sd ~95: +-500 is > 5 sd.
  for (const b of buckets) assert.ok(Math.abs(b - 10_000) < 500, `bucket ${b}`);
  assert.ok(Math.abs(fsum / 100_000 - 0.5) < 0.01);
  // A non-power-of-two range near 2^32 exercises rejection.
  const big = 3 * 2 ** 30;
  let above = 0;
  for (let i = 0; i < 20_000; i++) if (r.int(big) >= 2 ** 31) above++;
  assert.ok(Math.abs(above / 20_000 - 1 / 3) < 0.02, `above=${above}`);
  assert.equal(r.int(1), 0);
  assert.equal(r.int(2 ** 32) < 2 ** 32, true);
  for (const bad of [0, -1, 1.5, 2 ** 32 + 1, NaN]) assert.throws(() => r.int(bad), RangeError);
});

test('rng: chance(p) frequency and one draw per call', () => {
  const r = new Rng(5);
  let hits = 0;
  for (let i = 0; i < 100_000; i++) if (r.chance(0.2)) hits++;
  assert.ok(Math.abs(hits - 20_000) < 700, `hits=${hits}`); // sd ~126
  const a = new Rng(9), b = new Rng(9);
  a.chance(0); a.chance(1); b.next(); b.next();
  assert.equal(a.next(), b.next());
});

test('rng: shuffle is a deterministic permutation', () => {
  const base = Array.from({ length: 50 }, (_, i) => i);
  const x = base.slice(), y = base.slice();
  new Rng(11).shuffle(x);
  new Rng(11).shuffle(y);
  assert.deepEqual(x, y);
  assert.notDeepEqual(x, base);
  assert.deepEqual(x.slice().sort((p, q) => p - q), base);
  // Every position gets every value eventually (no stuck Fisher-Yates off-by-one).
  const seen = new Array(5).fill(0).map(() => new Set<number>());
  const r = new Rng(3);
  for (let i = 0; i < 500; i++) { const a = [0, 1, 2, 3, 4]; r.shuffle(a); a.forEach((v, p) => seen[p]!.add(v)); }
  for (const s of seen) assert.equal(s.size, 5);
});

test('rng: fork is independent of parent draws and of other labels; clone/state replay', () => {
  const p1 = new Rng(99), p2 = new Rng(99);
  draw(p2, 1000); // advancing the parent must not change its forks
  assert.deepEqual(draw(p1.fork('node:3'), 20), draw(p2.fork('node:3'), 20));
  assert.notDeepEqual(draw(p1.fork('node:3'), 20), draw(p1.fork('node:4'), 20));
  assert.notDeepEqual(draw(new Rng(99).fork('x'), 20), draw(new Rng(100).fork('x'), 20));
  assert.notDeepEqual(draw(p1.fork('a').fork('b'), 5), draw(p1.fork('b').fork('a'), 5));
  // fork does not advance the parent
  const q1 = new Rng(5), q2 = new Rng(5);
  q1.fork('z');
  assert.equal(q1.next(), q2.next());
  // clone / fromState continue the same sequence
  const r = new Rng(77);
  draw(r, 13);
  const c = r.clone();
  const s = Rng.fromState(JSON.parse(JSON.stringify(r.state())));
  const expect = draw(r, 50);
  assert.deepEqual(draw(c, 50), expect);
  assert.deepEqual(draw(s, 50), expect);
  assert.deepEqual(draw(c.fork('k'), 3), draw(new Rng(77).fork('k'), 3));
});
