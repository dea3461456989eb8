import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_MAGLEV_TABLE_SIZE,
  MaglevScheduler,
  buildMaglevTable,
  isPrime,
  maglevDelta,
  maglevOffsetSkip,
  relabelMaglevTable,
} from '../../../../src/dataplane/lb/schedulers/maglev.js';
import { murmur3x86_32 } from '../../../../src/dataplane/lb/schedulers/murmur3.js';
import type { Backend } from '../../../../src/dataplane/lb/schedulers/types.js';
import { FC_SEED, backends, equalBackends, mix32, shuffled } from './helpers.js';

const M = DEFAULT_MAGLEV_TABLE_SIZE;

/**
 * The paper's Algorithm 1 (NSDI 2016, section 3.4), written plainly: full permutation
 * lists, `next` per backend, backends taking turns. Weighted turns as cilium's
 * GetLookupTable: weightCntr starts at w/N and grows by W per turn taken; a backend whose
 * (n+1) * w is below its counter passes its turn on (kept in integers by multiplying by N).
 * Returns owner NAMES per slot.
 */
function referenceTable(input: readonly Backend[], m: number): (string | null)[] {
  const live = input.filter((b) => b.state === 'active' && b.weight > 0);
  const names = live.map((b) => b.name).sort();
  const weightOf = new Map(live.map((b) => [b.name, b.weight]));
  const N = names.length;
  const entry: (string | null)[] = new Array(m).fill(null);
  if (N === 0) return entry;
  const permutation: number[][] = names.map((name) => {
    const { offset, skip } = maglevOffsetSkip(name, m);
    const p: number[] = [];
    for (let j = 0; j < m; j++) p.push((offset + j * skip) % m);
    return p;
  });
  const next: number[] = new Array(N).fill(0);
  const W = live.reduce((a, b) => a + b.weight, 0);
  const weightCntrTimesN: number[] = names.map((name) => weightOf.get(name)!);
  let n = 0;
  for (;;) {
    for (let i0 = 0; i0 < N; i0++) {
      let i = i0;
      while ((n + 1) * weightOf.get(names[i]!)! * N < weightCntrTimesN[i]!) i = (i + 1) % N;
      weightCntrTimesN[i]! += W * N;
      let c = permutation[i]![next[i]!]!;
      while (entry[c] !== null) {
        next[i]!++;
        c = permutation[i]![next[i]!]!;
      }
      entry[c] = names[i]!;
      next[i]!++;
      n++;
      if (n === m) return entry;
    }
  }
}

function owners(b: ReturnType<typeof buildMaglevTable>): (string | null)[] {
  return Array.from(b.table, (v) => (v < 0 ? null : b.names[v]!));
}

const nameArb = fc.string({ minLength: 1, maxLength: 12 });
const setArb = (maxN: number, maxW: number) =>
  fc.uniqueArray(fc.record({ name: nameArb, weight: fc.integer({ min: 0, max: maxW }), state: fc.constantFrom('active', 'active', 'active', 'draining', 'down') }), {
    minLength: 0,
    maxLength: maxN,
    selector: (b) => b.name,
  }) as fc.Arbitrary<Backend[]>;

test('murmur3x86_32 matches the reference test vectors', () => {
  assert.equal(murmur3x86_32('', 0), 0);
  assert.equal(murmur3x86_32('', 1), 0x514e28b7);
  assert.equal(murmur3x86_32('', 0xffffffff), 0x81f16f39);
  assert.equal(murmur3x86_32('hello', 0), 0x248bfa47);
  assert.equal(murmur3x86_32('Hello, world!', 1234), 0xfaf6cdb3);
  assert.equal(murmur3x86_32('The quick brown fox jumps over the lazy dog', 0), 0x2e4ff723);
  assert.equal(murmur3x86_32(Uint8Array.of(0x21, 0x43, 0x65, 0x87), 0), 0xf55b516b);
});

test('maglev: equal to the plain Algorithm 1 reference for random sets, weights and sizes 13, 251', () => {
  fc.assert(
    fc.property(setArb(20, 6), fc.constantFrom(13, 251), (set, m) => {
      assert.deepEqual(owners(buildMaglevTable(set, m)), referenceTable(set, m));
    }),
    { seed: FC_SEED, numRuns: 300 },
  );
});

test('maglev: equal to the reference at M = 65537', () => {
  fc.assert(
    fc.property(setArb(12, 4), (set) => {
      assert.deepEqual(owners(buildMaglevTable(set, M)), referenceTable(set, M));
    }),
    { seed: FC_SEED, numRuns: 6 },
  );
});

test('maglev: the table does not depend on input order', () => {
  fc.assert(
    fc.property(setArb(30, 5), fc.integer(), (set, seed) => {
      const a = buildMaglevTable(set, 251);
      const b = buildMaglevTable(shuffled(set, seed), 251);
      assert.deepEqual(b.table, a.table);
      assert.deepEqual(b.names, a.names);
    }),
    { seed: FC_SEED, numRuns: 100 },
  );
  const set = equalBackends(40);
  assert.deepEqual(buildMaglevTable(shuffled(set, 7)).table, buildMaglevTable(set).table);
});

test('maglev: names are sorted by code units and inputIndex maps them back', () => {
  const set = backends([['b'], ['a', 1, 'draining'], ['C'], ['a2'], ['z', 0]]);
  const t = buildMaglevTable(set, 13);
  assert.deepEqual(t.names, ['C', 'a2', 'b']);
  assert.deepEqual(Array.from(t.inputIndex), [2, 3, 0]);
});

test('maglev: removing one of N backends moves <= 1 % of the slots it did not own; re-adding restores the table', () => {
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 50 }), fc.nat(), fc.nat(), (n, victimSeed, prefix) => {
      const set = equalBackends(n, `svc${prefix % 1000}-task-`);
      const victim = victimSeed % n;
      const before = buildMaglevTable(set);
      const without = buildMaglevTable(set.filter((_, i) => i !== victim));
      const a = owners(before);
      const b = owners(without);
      let moved = 0;
      for (let s = 0; s < M; s++) if (a[s] !== set[victim]!.name && a[s] !== b[s]) moved++;
      assert.ok(moved <= 0.01 * M, `${moved} of ${M} slots moved (n=${n})`);
      assert.ok(!b.includes(set[victim]!.name));
      assert.deepEqual(buildMaglevTable(set).table, before.table);
    }),
    { seed: FC_SEED, numRuns: 15 },
  );
});

test('maglev: an unchanged set gives an empty delta; a change gives exactly the changed slots', () => {
  const set = equalBackends(10);
  const a = buildMaglevTable(set);
  const same = maglevDelta(a.table, buildMaglevTable(shuffled(set, 3)).table);
  assert.equal(same.slots.length, 0);
  assert.equal(same.values.length, 0);
  // Across a change, diff in stable IDs (here: position in `set`), as the table writer does.
  const b = buildMaglevTable(set.slice(1));
  const idsA = relabelMaglevTable(a.table, a.names.map((name) => set.findIndex((x) => x.name === name)));
  const idsB = relabelMaglevTable(b.table, b.names.map((name) => set.findIndex((x) => x.name === name)));
  const d = maglevDelta(idsA, idsB);
  const patched = Int32Array.from(idsA);
  d.slots.forEach((slot, k) => (patched[slot] = d.values[k]!));
  assert.deepEqual(patched, idsB);
  let changed = 0;
  for (let s = 0; s < M; s++) if (idsA[s] !== idsB[s]) changed++;
  assert.equal(d.slots.length, changed);
  assert.ok(changed < 0.12 * M, `${changed} slots changed`); // ~1/10 owned by the removed one
  assert.throws(() => maglevDelta(new Int32Array(13), new Int32Array(251)), RangeError);
});

test('maglev: equal weights give every backend M/N slots, within 1', () => {
  for (const n of [1, 2, 3, 7, 10, 64, 100, 500]) {
    const t = buildMaglevTable(equalBackends(n));
    const counts = new Array<number>(n).fill(0);
    for (const v of t.table) counts[v]!++;
    assert.ok(Math.min(...counts) >= Math.floor(M / n) && Math.max(...counts) <= Math.ceil(M / n), `n=${n}: ${Math.min(...counts)}..${Math.max(...counts)}`);
  }
});

test('maglev: weighted shares proportional within 2 %', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 20 }), (weights) => {
      const set = weights.map((w, i) => ({ name: `w-${i}`, weight: w, state: 'active' as const }));
      const t = buildMaglevTable(set);
      const counts = new Map<string, number>();
      for (const v of t.table) counts.set(t.names[v]!, (counts.get(t.names[v]!) ?? 0) + 1);
      const total = weights.reduce((a, b) => a + b, 0);
      for (const b of set) {
        const expected = (M * b.weight) / total;
        assert.ok(Math.abs(counts.get(b.name)! - expected) <= 0.02 * expected + 1, `${b.name}: ${counts.get(b.name)} vs ${expected}`);
      }
    }),
    { seed: FC_SEED, numRuns: 20 },
  );
});

test('maglev: scaling every weight by the same factor gives the same table; huge equal weights are fine', () => {
  const set = backends([['a', 1], ['b', 3], ['c', 2], ['d', 5]]);
  const scaled = set.map((b) => ({ ...b, weight: b.weight * 1000 }));
  assert.deepEqual(buildMaglevTable(scaled, 251).table, buildMaglevTable(set, 251).table);
  const big = equalBackends(1000).map((b) => ({ ...b, weight: 1_000_000 }));
  assert.deepEqual(buildMaglevTable(big).table, buildMaglevTable(equalBackends(1000)).table);
  const bad = backends([['a', 1], ['b', 2 ** 40]]);
  assert.throws(() => buildMaglevTable(bad), { name: 'RangeError', message: /too large/ });
});

test('maglev: draining, down and weight-0 backends own no slots; an empty set is all -1', () => {
  const t = buildMaglevTable(backends([['a', 1, 'draining'], ['b'], ['c', 1, 'down'], ['d', 0], ['e']]), 251);
  assert.deepEqual(t.names, ['b', 'e']);
  assert.ok(t.table.every((v) => v === 0 || v === 1));
  assert.ok(buildMaglevTable([], 13).table.every((v) => v === -1));
  assert.ok(buildMaglevTable(backends([['a', 1, 'down']]), 13).table.every((v) => v === -1));
});

test('maglev: table size must be a prime; invalid backends are rejected', () => {
  assert.throws(() => buildMaglevTable([], 65536), { name: 'RangeError', message: /65536 is not prime/ });
  assert.throws(() => new MaglevScheduler({ tableSize: 1 }), RangeError);
  assert.throws(() => new MaglevScheduler({ tableSize: 2.5 }), RangeError);
  assert.throws(() => new MaglevScheduler({ tableSize: 16777259 }), RangeError); // prime, above the limit
  assert.doesNotThrow(() => new MaglevScheduler({ tableSize: 13 }));
  assert.throws(() => buildMaglevTable(backends([['a'], ['a']]), 13), /duplicate name/);
  assert.throws(() => buildMaglevTable(backends([['a', 1.5]]), 13), RangeError);
  assert.throws(() => buildMaglevTable(backends([['a', -1]]), 13), RangeError);
  assert.deepEqual([2, 3, 13, 251, 65537].map(isPrime), [true, true, true, true, true]);
  assert.deepEqual([0, 1, 4, 65535, 65539 * 3].map(isPrime), [false, false, false, false, false]);
});

test('maglev scheduler: pick is table[hash mod M] mapped to the caller index', () => {
  const set = backends([['z'], ['a', 1, 'draining'], ['m'], ['b']]);
  const s = new MaglevScheduler({ tableSize: 251 });
  assert.equal(s.pick(5), -1);
  s.setBackends(set);
  const t = s.table;
  for (let i = 0; i < 2000; i++) {
    const h = mix32(i);
    const expected = set.findIndex((b) => b.name === t.names[t.table[h % 251]!]);
    assert.equal(s.pick(h), expected);
    assert.equal(s.pick(h | 0), expected); // a signed int32 hash is the same hash
  }
});

test('maglev scheduler: hashes across the whole uint32 range, signed or not, at M = 65537', () => {
  const set = equalBackends(7);
  const s = new MaglevScheduler();
  s.setBackends(set);
  const t = s.table;
  const indexOfSlot = (slot: number) => set.findIndex((b) => b.name === t.names[t.table[slot]!]);
  for (const h of [0, 1, 65536, 65537, 0x7fffffff, 0x80000000, 0x80000001, 0xfffeffff, 0xfffffffe, 0xffffffff]) {
    const expected = indexOfSlot(h % M);
    assert.equal(s.pick(h), expected, `hash ${h}`);
    assert.equal(s.pick(h | 0), expected, `hash ${h | 0}`);
  }
  for (let i = 0; i < 100_000; i++) {
    const h = mix32(i);
    assert.equal(s.pick(h | 0), indexOfSlot(h % M));
  }
});
