import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Conntrack, INSERT_FULL } from '../../../../src/dataplane/lb/conntrack/conntrack.js';
import { PROTO_TCP, PROTO_UDP } from '../../../../src/dataplane/lb/conntrack/state.js';

// Larger tables than the property test (thousands of slots, long probe runs, many wrap-arounds),
// both families, against a Map. Seeded xorshift, so failures replay.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
}

const v6 = (out: Uint8Array, a: number, b: number): Uint8Array => {
  out.fill(0);
  out[0] = 0x20; out[1] = 0x01; out[2] = 0x0d; out[3] = 0xb8;
  out[8] = a >>> 8; out[9] = a & 255; out[14] = b >>> 8; out[15] = b & 255;
  return out;
};

for (const family of [4, 6] as const) {
  test(`IPv${family}: 30000 random inserts, lookups, replies and removals agree with a Map`, () => {
    const cap = 2048;
    const ct = new Conntrack({ capacity4: family === 4 ? cap : 0, capacity6: family === 6 ? cap : 0, newFlowsPerSecond: 0 });
    const next = rng(0xc0ffee + family);
    const ref = new Map<string, { index: number; backend: number }>();
    const s = new Uint8Array(16), d = new Uint8Array(16), n = new Uint8Array(16);
    for (let step = 0; step < 30000; step++) {
      const r = next();
      // 3000 distinct flows over 2048 slots, so the table is often full.
      const c = r % 1000, sport = 1024 + ((r >>> 10) % 3), proto = (r >>> 12) & 1 ? PROTO_TCP : PROTO_UDP;
      const backend = c % 13; // the reverse tuple stays unique: (backend, client c, sport) per flow
      const key = `${proto}|${c}|${sport}`;
      const op = (r >>> 20) % 4;
      const vip = 0x0aff0001, caddr = (0xc0000000 | (c * 2654435761)) >>> 0;
      if (op === 0) {
        const got = family === 4
          ? ct.insert4(proto, caddr, sport, vip, 443, backend, 0x0a000100 + backend, 8443, 0)
          : ct.insert6(proto, v6(s, 1, c), 0, sport, v6(d, 2, 1), 0, 443, backend, v6(n, 3, backend), 0, 8443, 0);
        const old = ref.get(key);
        if (old) assert.equal(got, old.index);
        else if (ref.size >= cap) assert.equal(got, INSERT_FULL);
        else {
          assert.ok(got >= 0);
          ref.set(key, { index: got, backend });
        }
      } else if (op === 1) {
        const got = family === 4
          ? ct.lookup4(proto, caddr, sport, vip, 443, 0)
          : ct.lookup6(proto, v6(s, 1, c), 0, sport, v6(d, 2, 1), 0, 443, 0);
        assert.equal(got, ref.get(key)?.index ?? -1);
      } else if (op === 2) {
        const got = family === 4
          ? ct.lookupReply4(proto, 0x0a000100 + backend, 8443, caddr, sport, 0)
          : ct.lookupReply6(proto, v6(n, 3, backend), 0, 8443, v6(s, 1, c), 0, sport, 0);
        const f = ref.get(key);
        assert.equal(got, f ? f.index : -1);
        if (f) assert.equal(ct.backendOf(got), f.backend);
      } else {
        const f = ref.get(key);
        if (f) {
          assert.equal(ct.remove(f.index), true);
          ref.delete(key);
        }
      }
    }
    assert.equal(family === 4 ? ct.size4 : ct.size6, ref.size);
    assert.ok(ref.size > cap / 2);
  });
}
