import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AF_EXPIRED, AF_FULL, AffinityTable } from '../../../../src/dataplane/lb/conntrack/affinity.js';

test('affinity agrees with a Map reference under random sets, gets, sweeps and backend removals', () => {
  const op = fc.oneof(
    fc.record({ t: fc.constant('set' as const), c: fc.nat(5), s: fc.nat(2), b: fc.nat(3) }),
    fc.record({ t: fc.constant('get' as const), c: fc.nat(5), s: fc.nat(2) }),
    fc.record({ t: fc.constant('tick' as const), dt: fc.constantFrom(0, 500, 1000, 1001, 3000) }),
    fc.record({ t: fc.constant('sweep' as const), budget: fc.constantFrom(1, 2, 5, 100) }),
    fc.record({ t: fc.constant('down' as const), b: fc.nat(3) }),
  );
  fc.assert(
    fc.property(fc.array(op, { minLength: 50, maxLength: 200, size: 'max' }), fc.integer({ min: 1, max: 8 }), (ops, capacity) => {
      const timeouts = [1000, 2500, 1000];
      const t = new AffinityTable({ capacity, maxServices: 3, timeout: 1000 });
      t.setTimeout(1, 2500);
      // Reference keyed by "client|service"; a client 0…5 maps to IPv4 and IPv6 addresses alternately.
      const ref = new Map<string, { b: number; seen: number }>();
      const v6 = (c: number) => Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), c]);
      const get = (c: number, s: number, now: number) => (c % 2 ? t.get6(v6(c), 0, s, now) : t.get4(0x0a000000 + c, s, now));
      const set = (c: number, s: number, b: number, now: number) => (c % 2 ? t.set6(v6(c), 0, s, b, now) : t.set4(0x0a000000 + c, s, b, now));
      let now = 0;
      let expired = 0;
      for (const o of ops) {
        if (o.t === 'set') {
          const k = `${o.c}|${o.s}`;
          const ok = set(o.c, o.s, o.b, now);
          assert.equal(ok, ref.has(k) || ref.size < capacity);
          if (ok) ref.set(k, { b: o.b, seen: now });
        } else if (o.t === 'get') {
          const k = `${o.c}|${o.s}`;
          const r = ref.get(k);
          let want = -1;
          if (r && now - r.seen > timeouts[o.s]!) { ref.delete(k); expired++; } else if (r) { r.seen = now; want = r.b; }
          assert.equal(get(o.c, o.s, now), want);
        } else if (o.t === 'tick') {
          now += o.dt;
        } else if (o.t === 'sweep') {
          // Budgeted sweeps are checked by count bound; a full lap must leave exactly the live ones.
          const n = t.expire(now, o.budget);
          assert.ok(n <= o.budget);
          expired += n;
          let lap = 0;
          for (let k = 0; k < capacity; k += 1) lap += t.expire(now, 1);
          expired += lap;
          for (const [k, r] of ref) if (now - r.seen > timeouts[Number(k.split('|')[1])]!) ref.delete(k);
        } else {
          let n = 0;
          for (const [k, r] of ref) if (r.b === o.b) { ref.delete(k); n++; }
          assert.equal(t.removeBackend(o.b), n);
        }
        assert.equal(t.size, ref.size);
      }
      assert.equal(t.counters[AF_EXPIRED], expired);
    }),
    { numRuns: 200, seed: 0xaff },
  );
});

test('IPv4 clients never collide with the IPv6 client ::a00:1, and full tables refuse without evicting', () => {
  const t = new AffinityTable({ capacity: 2, maxServices: 1 });
  assert.equal(t.set4(0x0a000001, 0, 7, 0), true);
  const v6 = new Uint8Array(16); v6[12] = 10; v6[15] = 1; // ::10.0.0.1 (not ::ffff:10.0.0.1)
  assert.equal(t.get6(v6, 0, 0, 0), -1);
  assert.equal(t.set6(v6, 0, 0, 8, 0), true);
  assert.equal(t.set4(0x0a000002, 0, 9, 0), false);
  assert.equal(t.counters[AF_FULL], 1);
  assert.equal(t.get4(0x0a000001, 0, 1), 7);
  assert.equal(t.get6(v6, 0, 0, 1), 8);
  const mapped = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
  assert.equal(t.get6(mapped, 0, 0, 1), 7); // ::ffff:10.0.0.1 is the IPv4 client
  assert.throws(() => t.set4(1, 1, 0, 0), RangeError);
});
