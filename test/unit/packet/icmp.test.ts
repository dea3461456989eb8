// ICMPv4 errors: Fragmentation Needed (RFC 1191) within 576 bytes (RFC 1812 4.3.2.3).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ICMP_DEST_UNREACH, ICMP_ERROR_MAX_LEN, ICMP_ERROR_TOS, ICMP_TIME_EXCEEDED, ICMP_UNREACH_FRAG_NEEDED, IPPROTO_ICMP,
  PR_OK, checkIPv4, checkIcmp, icmpCode, icmpNextHopMtu, icmpType, ipv4Df, ipv4Dst, ipv4Proto, ipv4Src, ipv4Tos,
  ipv4TotalLen, ipv4Ttl, isIcmpError, verifyL4Checksum4, writeIcmpError, writeIcmpFragNeeded,
} from '../../../src/dataplane/packet/index.js';
import { build, ip4 } from './builder.js';

const ROUTER = ip4('10.0.1.1');

function bigTcp(size: number, flagsFrag = 0x4000) {
  return build().ipv4({ src: '10.0.1.2', dst: '10.0.2.7', flagsFrag }).tcp({ sport: 40000, dport: 80 }).payload(size - 40).bytes();
}

function checkError(out: Uint8Array, n: number, orig: Uint8Array, mtu: number) {
  assert.equal(checkIPv4(out, 0, n), PR_OK);
  assert.equal(ipv4TotalLen(out, 0), n);
  assert.ok(n <= ICMP_ERROR_MAX_LEN);
  assert.equal(ipv4Proto(out, 0), IPPROTO_ICMP);
  assert.equal(ipv4Src(out, 0), ROUTER);
  assert.equal(ipv4Dst(out, 0), ipv4Src(orig, 0));
  assert.equal(ipv4Ttl(out, 0), 64);
  assert.equal(ipv4Tos(out, 0), ICMP_ERROR_TOS);
  assert.ok(ipv4Df(out, 0));
  assert.equal(checkIcmp(out, 20, n - 20), PR_OK);
  assert.ok(verifyL4Checksum4(out, 0));
  assert.equal(icmpType(out, 20), ICMP_DEST_UNREACH);
  assert.equal(icmpCode(out, 20), ICMP_UNREACH_FRAG_NEEDED);
  assert.equal(icmpNextHopMtu(out, 20), mtu);
  assert.deepEqual([out[24], out[25]], [0, 0], 'unused half of the second word');
  const quoted = n - 28;
  assert.equal(quoted, Math.min(ipv4TotalLen(orig, 0), ICMP_ERROR_MAX_LEN - 28));
  assert.deepEqual(Buffer.from(out.subarray(28, n)), Buffer.from(orig.subarray(0, quoted)), 'quote = prefix of the original');
  assert.ok(isIcmpError(out, 0));
}

test('frag needed about a big DF packet: 576 bytes, quote is the original prefix', () => {
  const orig = bigTcp(1500);
  const out = new Uint8Array(700);
  const n = writeIcmpFragNeeded(out, 0, orig, 0, orig.length, 1450, ROUTER);
  assert.equal(n, 576);
  checkError(out, n, orig, 1450);
});

test('frag needed for any size: whole original when it fits, 576 otherwise', () => {
  fc.assert(
    fc.property(fc.integer({ min: 40, max: 1600 }), fc.integer({ min: 68, max: 0xffff }), (size, mtu) => {
      const orig = bigTcp(size);
      const out = new Uint8Array(600);
      const n = writeIcmpFragNeeded(out, 0, orig, 0, orig.length, mtu, ROUTER);
      assert.equal(n, Math.min(576, 28 + size));
      checkError(out, n, orig, mtu);
    }),
    { numRuns: 200 },
  );
});

test('the error may be written in place, in the headroom in front of the original', () => {
  const orig = bigTcp(300);
  const expect = new Uint8Array(400);
  const n = writeIcmpFragNeeded(expect, 0, orig, 0, orig.length, 1400, ROUTER);
  const slot = new Uint8Array(64 + orig.length);
  slot.set(orig, 64);
  const m = writeIcmpFragNeeded(slot, 64 - 28, slot, 64, orig.length, 1400, ROUTER);
  assert.equal(m, n);
  assert.deepEqual(Buffer.from(slot.subarray(36, 36 + m)), Buffer.from(expect.subarray(0, n)));
  // Overlapping the other way (output after the input start) works too.
  const slot2 = new Uint8Array(2000);
  slot2.set(orig, 0);
  assert.equal(writeIcmpFragNeeded(slot2, 10, slot2, 0, orig.length, 1400, ROUTER), n);
  assert.deepEqual(Buffer.from(slot2.subarray(10, 10 + n)), Buffer.from(expect.subarray(0, n)));
});

test('refusals: ICMP errors, non-first fragments, bad input, non-unicast ends, bad MTU, no room', () => {
  const out = new Uint8Array(600);
  const orig = bigTcp(1000);
  const n = writeIcmpFragNeeded(out, 0, orig, 0, orig.length, 1400, ROUTER);
  assert.ok(n > 0);
  assert.equal(writeIcmpFragNeeded(new Uint8Array(600), 0, out, 0, n, 1400, ROUTER), 0, 'never an error about an error');
  const te = build().ipv4({ src: '10.0.9.9', dst: '10.0.1.2' }).icmp({ type: ICMP_TIME_EXCEEDED }).payload(28).bytes();
  assert.ok(isIcmpError(te, 0));
  assert.equal(writeIcmpFragNeeded(out, 0, te, 0, te.length, 1400, ROUTER), 0);
  const echo = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3' }).icmp({ type: 8 }).payload(1400).bytes();
  assert.equal(isIcmpError(echo, 0), false);
  assert.ok(writeIcmpFragNeeded(out, 0, echo, 0, echo.length, 1400, ROUTER) > 0, 'echo requests get errors');
  const nonFirst = bigTcp(1000, 0x4000 | 0x00b2);
  assert.equal(writeIcmpFragNeeded(out, 0, nonFirst, 0, nonFirst.length, 1400, ROUTER), 0);
  const first = bigTcp(1000, 0x2000);
  assert.ok(writeIcmpFragNeeded(out, 0, first, 0, first.length, 1400, ROUTER) > 0, 'first fragments do');
  const badSum = Buffer.from(orig);
  badSum[8] ^= 1;
  assert.equal(writeIcmpFragNeeded(out, 0, badSum, 0, badSum.length, 1400, ROUTER), 0);
  assert.equal(writeIcmpFragNeeded(out, 0, orig, 0, 100, 1400, ROUTER), 0, 'origLen below Total Length');
  for (const src of ['0.0.0.0', '127.0.0.1', '224.0.0.5', '240.0.0.1', '255.255.255.255']) {
    const p = build().ipv4({ src, dst: '10.0.1.3' }).udp({ sport: 1, dport: 2 }).payload(8).bytes();
    assert.equal(writeIcmpFragNeeded(out, 0, p, 0, p.length, 1400, ROUTER), 0, src);
  }
  for (const dst of ['239.1.2.3', '255.255.255.255']) {
    const p = build().ipv4({ src: '10.0.1.2', dst }).udp({ sport: 1, dport: 2 }).payload(8).bytes();
    assert.equal(writeIcmpFragNeeded(out, 0, p, 0, p.length, 1400, ROUTER), 0, dst);
  }
  assert.equal(writeIcmpFragNeeded(out, 0, orig, 0, orig.length, 67, ROUTER), 0);
  assert.equal(writeIcmpFragNeeded(out, 0, orig, 0, orig.length, 65536, ROUTER), 0);
  assert.equal(writeIcmpFragNeeded(new Uint8Array(575), 0, orig, 0, orig.length, 1400, ROUTER), 0);
  assert.equal(writeIcmpFragNeeded(out, 30, orig, 0, orig.length, 1400, ROUTER), 0, 'no room at this offset');
});

test('writeIcmpError builds Time Exceeded the same way', () => {
  const orig = bigTcp(60);
  const out = new Uint8Array(200);
  const n = writeIcmpError(out, 0, orig, 0, orig.length, ICMP_TIME_EXCEEDED, 0, 0, ROUTER);
  assert.equal(n, 28 + 60);
  assert.ok(verifyL4Checksum4(out, 0));
  assert.equal(icmpType(out, 20), ICMP_TIME_EXCEEDED);
});
