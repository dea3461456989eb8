import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AddrTable } from '../../../src/dataplane/addr-table.js';

// Differential test against a Map: any sequence of sets and deletes leaves both agreeing on
// every key ever touched, which exercises growth and backward-shift deletion.
test('IPv4 table agrees with a Map under random sets and deletes', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 }), fc.nat(1000)), { maxLength: 400 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (ops, base) => {
        const t = new AddrTable(1, 4);
        const m = new Map<number, number>();
        // Keys clustered around a base so probe runs collide and wrap.
        const key = (k: number) => (base + k * 0x01000000 + k) >>> 0;
        for (const [isSet, k, v] of ops) {
          if (isSet) {
            t.set(key(k), v);
            m.set(key(k), v);
          } else {
            assert.equal(t.delete(key(k)), m.delete(key(k)));
          }
          for (let j = 0; j <= 40; j++) assert.equal(t.get4(key(j)), m.get(key(j)) ?? -1);
        }
        assert.equal(t.size, m.size);
      },
    ),
    { numRuns: 200 },
  );
});

test('IPv6 table agrees with a Map and reads keys straight from packet bytes', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 30 })), { maxLength: 200 }), (ops) => {
      const t = new AddrTable(4, 4);
      const m = new Map<number, number>();
      const addr = (k: number): Uint8Array => {
        const a = new Uint8Array(16);
        a[0] = 0xfd;
        a[15] = k;
        a[7] = k * 7;
        return a;
      };
      const packet = Buffer.alloc(64);
      for (const [isSet, k] of ops) {
        if (isSet) {
          t.set(addr(k), k + 100);
          m.set(k, k + 100);
        } else {
          assert.equal(t.delete(addr(k)), m.delete(k));
        }
      }
      for (let j = 0; j <= 30; j++) {
        packet.set(addr(j), 24); // where an IPv6 destination sits in a packet
        assert.equal(t.get6(packet, 24), m.get(j) ?? -1);
      }
    }),
    { numRuns: 200 },
  );
});

test('rejects keys of the wrong family and negative values', () => {
  const v4 = new AddrTable(1);
  const v6 = new AddrTable(4);
  assert.throws(() => v4.set(new Uint8Array(16), 1), TypeError);
  assert.throws(() => v6.set(1, 1), TypeError);
  assert.throws(() => v4.set(1, -1), RangeError);
});
