// Properties of the RFC 1071 sum and the RFC 1624 incremental update, against a slow reference.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  checksumUpdate16,
  checksumUpdate32,
  checksumUpdateSum,
  foldSum,
  internetChecksum,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
  sumWords,
  swap16,
} from '../../../src/dataplane/packet/checksum.js';
import { refChecksum, refSum } from './builder.js';

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max, size: 'max' });
const RUNS = { numRuns: 500 };

test('RFC 1071 example: the sum of 00 01 f2 03 f4 f5 f6 f7 folds to ddf2', () => {
  // RFC 1071 section 3, "Numerical Examples".
  const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  assert.equal(sumWords(b, 0, 8), 0x2ddf0);
  assert.equal(foldSum(sumWords(b, 0, 8)), 0xddf2);
  assert.equal(internetChecksum(b, 0, 8), 0x220d);
});

test('sumWords over a concatenation equals the sum of its parts split at even points', () => {
  fc.assert(
    fc.property(bytes(0, 200), bytes(0, 200), fc.nat(7), (a0, b, pad) => {
      const a = a0.length % 2 === 0 ? a0 : a0.subarray(1);
      const buf = new Uint8Array(pad + a.length + b.length);
      buf.set(a, pad);
      buf.set(b, pad + a.length);
      const whole = sumWords(buf, pad, a.length + b.length);
      const parts = sumWords(buf, pad + a.length, b.length, sumWords(buf, pad, a.length));
      assert.equal(foldSum(whole), foldSum(parts));
      assert.equal(foldSum(whole), refSum(buf, pad, pad + a.length + b.length));
    }),
    RUNS,
  );
});

test('internetChecksum matches the reference at odd offsets and odd lengths', () => {
  fc.assert(
    fc.property(bytes(0, 300), fc.nat(5), (data, pad) => {
      const buf = new Uint8Array(pad + data.length + 3).fill(0xaa);
      buf.set(data, pad);
      assert.equal(internetChecksum(buf, pad, data.length), refChecksum(data));
    }),
    RUNS,
  );
});

test('data with its checksum inserted verifies to 0, at any even position, odd total length too', () => {
  fc.assert(
    fc.property(bytes(2, 300), fc.nat(), fc.nat(3), (data0, pos0, pad) => {
      const data = Uint8Array.from(data0);
      const pos = (pos0 % Math.floor(data.length / 2)) * 2;
      data[pos] = 0;
      data[pos + 1] = 0;
      const buf = new Uint8Array(pad + data.length);
      buf.set(data, pad);
      const c = internetChecksum(buf, pad, data.length);
      buf[pad + pos] = c >>> 8;
      buf[pad + pos + 1] = c & 0xff;
      assert.equal(internetChecksum(buf, pad, data.length), 0);
      assert.equal(foldSum(sumWords(buf, pad, data.length)), 0xffff);
    }),
    RUNS,
  );
});

test('sumWords folds periodically: megabytes of 0xff stay exact', () => {
  const n = 5 * 1024 * 1024 + 3; // > 2^20 words, odd length
  const buf = new Uint8Array(n).fill(0xff);
  const s = sumWords(buf, 0, n);
  assert.ok(Number.isSafeInteger(s));
  // Every full word is 0xffff (one's-complement zero); the odd last byte adds 0xff00.
  assert.equal(foldSum(s), foldSum(0xffff + 0xff00));
  assert.equal(sumWords(buf, 0, 4, 2 ** 52) > 0, true);
  assert.equal(foldSum(sumWords(buf, 0, 4, 2 ** 52)), foldSum(foldSum(2 ** 52) + 0x1fffe));
});

/** A header-like region: its first word is non-zero as in every IP-family header. */
// Note: fast-check's default size caps arrays near 10 elements whatever maxLength says, so
// minimum lengths are generated, never filtered for (a filter that never passes never ends).
const headerOf = (minRest: number) => fc.tuple(fc.integer({ min: 1, max: 0xffff }), bytes(minRest, 80)).map(([w, rest]) => {
  const b = new Uint8Array(2 + rest.length + (rest.length % 2));
  b[0] = w >>> 8;
  b[1] = w & 0xff;
  b.set(rest, 2);
  return b;
});
const header = headerOf(2);

test('RFC 1624 eqn. 3: a 16-bit field update equals a full recompute (the NAT port case)', () => {
  fc.assert(
    fc.property(header, fc.nat(), fc.integer({ min: 0, max: 0xffff }), (h, p, neu) => {
      const words = h.length / 2;
      const pos = 2 + 2 * (p % (words - 1)); // any word but the first (kept non-zero)
      const c = internetChecksum(h, 0, h.length);
      const old = (h[pos]! << 8) | h[pos + 1]!;
      h[pos] = neu >>> 8;
      h[pos + 1] = neu & 0xff;
      assert.equal(checksumUpdate16(c, old, neu), internetChecksum(h, 0, h.length));
    }),
    RUNS,
  );
});

test('RFC 1624 eqn. 3: a 32-bit field update equals a full recompute (the NAT address case)', () => {
  fc.assert(
    fc.property(headerOf(4), fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), (h, p, neu) => {
      const pos = 2 + 2 * (p % (h.length / 2 - 2));
      const c = internetChecksum(h, 0, h.length);
      const dv = new DataView(h.buffer, h.byteOffset);
      const old = dv.getUint32(pos);
      dv.setUint32(pos, neu);
      assert.equal(checksumUpdate32(c, old, neu), internetChecksum(h, 0, h.length));
    }),
    RUNS,
  );
});

test('RFC 1624 for a field at an odd distance: pass byte-swapped words', () => {
  fc.assert(
    fc.property(headerOf(4), fc.nat(), fc.integer({ min: 0, max: 0xffff }), (h, p, neu) => {
      const pos = 3 + 2 * (p % (h.length / 2 - 2)); // odd, leaves the first word alone
      const c = internetChecksum(h, 0, h.length);
      const old = (h[pos]! << 8) | h[pos + 1]!;
      h[pos] = neu >>> 8;
      h[pos + 1] = neu & 0xff;
      assert.equal(checksumUpdate16(c, swap16(old), swap16(neu)), internetChecksum(h, 0, h.length));
    }),
    RUNS,
  );
});

test('checksumUpdateSum: a 16-byte field (an IPv6 address) update equals a full recompute', () => {
  fc.assert(
    fc.property(headerOf(16), bytes(16, 16), (h, neu) => {
      const c = internetChecksum(h, 0, h.length);
      const oldSum = sumWords(h, 2, 16);
      h.set(neu, 2);
      assert.equal(checksumUpdateSum(c, oldSum, sumWords(neu, 0, 16)), internetChecksum(h, 0, h.length));
    }),
    RUNS,
  );
});

test('pseudo header sums equal the sum of the pseudo header laid out in bytes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 0xffff }),
      (s, d, proto, len) => {
        const b = Buffer.alloc(12);
        b.writeUInt32BE(s, 0);
        b.writeUInt32BE(d, 4);
        b[9] = proto;
        b.writeUInt16BE(len, 10);
        assert.equal(foldSum(pseudoHeaderSum4(s, d, proto, len)), refSum(b));
      },
    ),
    RUNS,
  );
  fc.assert(
    fc.property(bytes(16, 16), bytes(16, 16), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xfffff }), (s, d, proto, len) => {
      const b = Buffer.alloc(40);
      b.set(s, 0);
      b.set(d, 16);
      b.writeUInt32BE(len, 32);
      b[39] = proto;
      const host = new Uint8Array(64);
      host.set(s, 3);
      host.set(d, 33);
      assert.equal(foldSum(pseudoHeaderSum6(host, 3, 33, proto, len)), refSum(b));
    }),
    RUNS,
  );
});
