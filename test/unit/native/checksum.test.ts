// native.checksum against the obvious RFC 1071 implementation.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { native } from './harness.js';
import { patternBytes, refChecksum } from './helpers.js';

test('checksum: RFC 1071 section 3 example', () => {
  // 00 01 f2 03 f4 f5 f6 f7: the sum is ddf2, the checksum its complement 220d
  const b = Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(native.checksum(b, 0, 8, 0), 0x220d);
  assert.equal(refChecksum(b, 0, 8), 0x220d);
});

test('checksum: empty range and all-zero data give 0xffff', () => {
  assert.equal(native.checksum(Buffer.alloc(0), 0, 0, 0), 0xffff);
  assert.equal(native.checksum(Buffer.alloc(1500), 0, 1500, 0), 0xffff);
});

test('checksum: matches the reference on random buffers, odd offsets and lengths, initial sums', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const buf = patternBytes(70_000, 99);
  for (let i = 0; i < 3000; i++) {
    const off = rnd(200);
    const len = i < 300 ? i : rnd(i % 10 === 0 ? 66_000 : 1600);
    const initial = rnd(4) === 0 ? 0 : rnd(0x7fffffff) * (rnd(2) ? 1 : 0x100);
    assert.equal(native.checksum(buf, off, len, initial), refChecksum(buf, off, len, initial), `off ${off} len ${len} initial ${initial}`);
  }
});

test('checksum: a packet with its checksum stored verifies to zero', () => {
  for (const len of [20, 21, 63, 64, 65, 1499, 9001]) {
    const b = patternBytes(len + 2, len);
    b.writeUInt16BE(0, 0);
    b.writeUInt16BE(native.checksum(b, 0, b.length, 0), 0);
    assert.equal(native.checksum(b, 0, b.length, 0), 0);
  }
});

test('checksum: argument checks', () => {
  assert.throws(() => native.checksum(Buffer.alloc(4), 2, 4, 0), RangeError);
  assert.throws(() => native.checksum('x' as unknown as Buffer, 0, 1, 0), TypeError);
});

test('checksum: throughput (informational)', (t) => {
  const b = patternBytes(65_536, 7);
  const iters = 20_000;
  let x = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) x ^= native.checksum(b, 0, b.length, 0);
  const ns = Number(process.hrtime.bigint() - t0);
  const gbps = (iters * b.length) / ns;
  t.diagnostic(`checksum over 64 KiB: ${gbps.toFixed(1)} GB/s (x=${x})`);
  assert.ok(gbps > 0.5, `checksum too slow: ${gbps} GB/s`);
});
