// ICMPv6 errors (Packet Too Big within 1280 bytes) and Neighbor Discovery (RFC 4861).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ICMPV6_DEST_UNREACH, ICMPV6_ERROR_MAX_LEN, ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT, ICMPV6_PACKET_TOO_BIG,
  ICMPV6_REDIRECT, IPPROTO_ICMPV6, IPV6_DST, IPV6_SRC, NA_PACKET_LEN, ND_NA_FLAGS, ND_NA_FLAG_OVERRIDE,
  ND_NA_FLAG_SOLICITED, ND_OPT_SOURCE_LL_ADDR, ND_TARGET, NS_OPTIONS_OFFSET, NS_TARGET_OFFSET, PR_BAD_EXT_HDR,
  PR_BAD_HOP_LIMIT, PR_BAD_ICMP_CODE, PR_BAD_ICMP_TYPE, PR_BAD_L4_CSUM, PR_ND_BAD_OPTION, PR_ND_BAD_SOURCE,
  PR_ND_BAD_TARGET, PR_OK, PR_TRUNCATED, checkIPv6, checkNeighborSolicitation, formatIPv6, icmpv6Code, icmpv6Mtu,
  icmpv6Type, ipv6Equal, ipv6HopLimit, ipv6NextHeader, ipv6PayloadLen, isIcmpv6Error, macToString, ndFindOption,
  verifyL4Checksum6, writeIcmpv6Error, writeNeighborAdvertisement, writePacketTooBig,
} from '../../../src/dataplane/packet/index.js';
import { build, ip6 } from './builder.js';

const ROUTER = ip6('fd00:1::1');

function bigTcp6(size: number, src = 'fd00:1::2', dst = 'fd00:2::7') {
  return build().ipv6({ src, dst }).tcp({ sport: 40000, dport: 80 }).payload(size - 60).bytes();
}

function checkPtb(out: Uint8Array, n: number, orig: Uint8Array, mtu: number) {
  assert.equal(checkIPv6(out, 0, n), PR_OK);
  assert.equal(40 + ipv6PayloadLen(out, 0), n);
  assert.ok(n <= ICMPV6_ERROR_MAX_LEN);
  assert.equal(ipv6NextHeader(out, 0), IPPROTO_ICMPV6);
  assert.ok(ipv6Equal(out, IPV6_SRC, ROUTER, 0));
  assert.ok(ipv6Equal(out, IPV6_DST, orig, IPV6_SRC));
  assert.ok(verifyL4Checksum6(out, 0));
  assert.equal(icmpv6Type(out, 40), ICMPV6_PACKET_TOO_BIG);
  assert.equal(icmpv6Code(out, 40), 0);
  assert.equal(icmpv6Mtu(out, 40), mtu);
  const quoted = n - 48;
  assert.equal(quoted, Math.min(40 + ipv6PayloadLen(orig, 0), 1280 - 48));
  assert.deepEqual(Buffer.from(out.subarray(48, n)), Buffer.from(orig.subarray(0, quoted)));
  assert.ok(isIcmpv6Error(out, 0));
}

test('packet too big about a 1500-byte packet: 1280 bytes, quote is the original prefix', () => {
  const orig = bigTcp6(1500);
  const out = new Uint8Array(1400);
  const n = writePacketTooBig(out, 0, orig, 0, orig.length, 1430, ROUTER, 0);
  assert.equal(n, 1280);
  checkPtb(out, n, orig, 1430);
});

test('packet too big for any size and MTU', () => {
  fc.assert(
    fc.property(fc.integer({ min: 60, max: 2000 }), fc.integer({ min: 1280, max: 0xffffffff }), (size, mtu) => {
      const orig = bigTcp6(size);
      const out = new Uint8Array(1300);
      const n = writePacketTooBig(out, 0, orig, 0, orig.length, mtu, ROUTER, 0);
      assert.equal(n, Math.min(1280, 48 + size));
      checkPtb(out, n, orig, mtu);
    }),
    { numRuns: 100 },
  );
});

test('packet too big in place, in the headroom in front of the original', () => {
  const orig = bigTcp6(400);
  const expect = new Uint8Array(500);
  const n = writePacketTooBig(expect, 0, orig, 0, orig.length, 1300, ROUTER, 0);
  const slot = new Uint8Array(64 + orig.length);
  slot.set(orig, 64);
  assert.equal(writePacketTooBig(slot, 16, slot, 64, orig.length, 1300, ROUTER, 0), n);
  assert.deepEqual(Buffer.from(slot.subarray(16, 16 + n)), Buffer.from(expect.subarray(0, n)));
});

test('packet too big refusals (RFC 4443 2.4(e)) and the multicast exception', () => {
  const out = new Uint8Array(1300);
  const orig = bigTcp6(1400);
  const n = writePacketTooBig(out, 0, orig, 0, orig.length, 1300, ROUTER, 0);
  assert.equal(writePacketTooBig(new Uint8Array(1300), 0, out, 0, n, 1300, ROUTER, 0), 0, 'never about an error');
  const redirect = build().ipv6({ src: 'fe80::1', dst: 'fe80::2', hopLimit: 255 }).icmpv6({ type: ICMPV6_REDIRECT }).payload(1300).bytes();
  assert.equal(writePacketTooBig(out, 0, redirect, 0, redirect.length, 1300, ROUTER, 0), 0);
  const echo = build().ipv6({ src: 'fd00:1::2', dst: 'fd00:2::3' }).icmpv6({ type: 128 }).payload(1400).bytes();
  assert.equal(isIcmpv6Error(echo, 0), false);
  assert.ok(writePacketTooBig(out, 0, echo, 0, echo.length, 1300, ROUTER, 0) > 0);
  const nonFirst = build().ipv6({ src: 'fd00:1::2', dst: 'fd00:2::3' }).ext(44, Uint8Array.of(0x05, 0x90, 0, 0, 0, 1)).udp({ sport: 1, dport: 2 }).payload(1300).bytes();
  assert.equal(writePacketTooBig(out, 0, nonFirst, 0, nonFirst.length, 1300, ROUTER, 0), 0);
  const first = build().ipv6({ src: 'fd00:1::2', dst: 'fd00:2::3' }).ext(44, Uint8Array.of(0, 1, 0, 0, 0, 1)).udp({ sport: 1, dport: 2 }).payload(1300).bytes();
  assert.ok(writePacketTooBig(out, 0, first, 0, first.length, 1300, ROUTER, 0) > 0);
  assert.equal(writePacketTooBig(out, 0, bigTcp6(1400, '::'), 0, 1400, 1300, ROUTER, 0), 0, 'source ::');
  assert.equal(writePacketTooBig(out, 0, bigTcp6(1400, 'ff02::1'), 0, 1400, 1300, ROUTER, 0), 0, 'multicast source');
  const mc = bigTcp6(1400, 'fd00:1::2', 'ff05::1:3');
  assert.ok(writePacketTooBig(out, 0, mc, 0, mc.length, 1300, ROUTER, 0) > 0, 'PTB may answer multicast (2.4(e.3))');
  assert.equal(writeIcmpv6Error(out, 0, mc, 0, mc.length, ICMPV6_DEST_UNREACH, 0, 0, ROUTER, 0), 0, 'other errors may not');
  assert.equal(writePacketTooBig(out, 0, orig, 0, orig.length, 1279, ROUTER, 0), 0, 'MTU below 1280');
  assert.equal(writePacketTooBig(new Uint8Array(1279), 0, orig, 0, orig.length, 1300, ROUTER, 0), 0, 'no room');
  assert.equal(writePacketTooBig(out, 0, orig, 0, orig.length - 1, 1300, ROUTER, 0), 0, 'origLen below the packet');
});

/** A Neighbor Solicitation as Linux sends it, with the knobs the checks look at. */
function ns(o: { src?: string; dst?: string; target?: string; hop?: number; code?: number; options?: number[] } = {}) {
  const target = ip6(o.target ?? 'fd00:1::3');
  const opts = Buffer.from(o.options ?? [ND_OPT_SOURCE_LL_ADDR, 1, 2, 0x42, 10, 0, 1, 2]);
  return build()
    .ipv6({ src: o.src ?? 'fd00:1::2', dst: o.dst ?? 'ff02::1:ff00:3', hopLimit: o.hop ?? 255 })
    .icmpv6({ type: ICMPV6_NEIGHBOR_SOLICIT, code: o.code ?? 0 })
    .payload(Buffer.concat([target, opts]))
    .bytes();
}

test('checkNeighborSolicitation: RFC 4861 7.1.1 rules, one reason each', () => {
  const good = ns();
  assert.equal(checkNeighborSolicitation(good, 0, good.length), PR_OK);
  assert.equal(formatIPv6(good, NS_TARGET_OFFSET), 'fd00:1::3');
  const sll = ndFindOption(good, NS_OPTIONS_OFFSET, 40 + ipv6PayloadLen(good, 0), ND_OPT_SOURCE_LL_ADDR);
  assert.equal(macToString(good, sll + 2), '02:42:0a:00:01:02');
  assert.equal(ndFindOption(good, NS_OPTIONS_OFFSET, good.length, 2), -1);
  const dad = ns({ src: '::', options: [14, 1, 1, 2, 3, 4, 5, 6] });
  assert.equal(checkNeighborSolicitation(dad, 0, dad.length), PR_OK, 'DAD probe with a nonce');
  assert.equal(checkNeighborSolicitation(good, 0, 39), PR_TRUNCATED);
  assert.equal(checkNeighborSolicitation(ns({ hop: 64 }), 0, good.length), PR_BAD_HOP_LIMIT);
  assert.equal(checkNeighborSolicitation(ns({ code: 1 }), 0, good.length), PR_BAD_ICMP_CODE);
  assert.equal(checkNeighborSolicitation(ns({ target: 'ff02::1' }), 0, good.length), PR_ND_BAD_TARGET);
  assert.equal(checkNeighborSolicitation(ns({ options: [1, 0, 0, 0, 0, 0, 0, 0] }), 0, good.length), PR_ND_BAD_OPTION);
  assert.equal(checkNeighborSolicitation(ns({ options: [1, 2, 0, 0, 0, 0, 0, 0] }), 0, good.length), PR_ND_BAD_OPTION);
  assert.equal(checkNeighborSolicitation(ns({ src: '::' }), 0, good.length), PR_ND_BAD_SOURCE, 'DAD with a source LL option');
  assert.equal(checkNeighborSolicitation(ns({ src: '::', dst: 'fd00:1::3', options: [] }), 0, 64), PR_ND_BAD_SOURCE);
  const csum = Buffer.from(good);
  csum[60] ^= 1;
  assert.equal(checkNeighborSolicitation(csum, 0, csum.length), PR_BAD_L4_CSUM);
  const na = Buffer.from(good);
  na[40] = ICMPV6_NEIGHBOR_ADVERT;
  assert.equal(checkNeighborSolicitation(na, 0, na.length), PR_BAD_ICMP_TYPE);
  const shortNs = build().ipv6({ src: 'fd00:1::2', dst: 'ff02::1:ff00:3', hopLimit: 255 }).icmpv6({ type: 135 }).payload(8).bytes();
  assert.equal(checkNeighborSolicitation(shortNs, 0, shortNs.length), PR_TRUNCATED);
  const hbh = build().ipv6({ src: 'fd00:1::2', dst: 'ff02::1:ff00:3', hopLimit: 255 }).ext(0, new Uint8Array(6)).icmpv6({ type: 135 }).payload(16).bytes();
  assert.equal(checkNeighborSolicitation(hbh, 0, hbh.length), PR_BAD_EXT_HDR);
  const udp = build().ipv6({ src: 'fd00:1::2', dst: 'fd00:1::3' }).udp({ sport: 1, dport: 2 }).payload(30).bytes();
  assert.equal(checkNeighborSolicitation(udp, 0, udp.length), PR_BAD_ICMP_TYPE);
});

test('writeNeighborAdvertisement round-trips, and answers an NS in place', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.boolean(), (t, d, mac, sol) => {
      const out = new Uint8Array(80);
      assert.equal(writeNeighborAdvertisement(out, 3, t, 0, d, 0, mac, 0, sol), NA_PACKET_LEN);
      assert.equal(checkIPv6(out, 3, 72), PR_OK);
      assert.equal(ipv6HopLimit(out, 3), 255);
      assert.ok(verifyL4Checksum6(out, 3));
      assert.equal(icmpv6Type(out, 43), ICMPV6_NEIGHBOR_ADVERT);
      assert.equal(out[43 + ND_NA_FLAGS], ND_NA_FLAG_OVERRIDE | (sol ? ND_NA_FLAG_SOLICITED : 0));
      assert.ok(ipv6Equal(out, 3 + IPV6_SRC, t, 0) && ipv6Equal(out, 43 + ND_TARGET, t, 0) && ipv6Equal(out, 3 + IPV6_DST, d, 0));
      assert.deepEqual([...out.subarray(67, 69)], [2, 1]);
      assert.deepEqual([...out.subarray(69, 75)], [...mac]);
    }),
  );
  const req = ns();
  const expect = new Uint8Array(72);
  const mac = Uint8Array.of(2, 0x42, 10, 0, 1, 3);
  writeNeighborAdvertisement(expect, 0, req, NS_TARGET_OFFSET, req, IPV6_SRC, mac, 0, true);
  const slot = Buffer.concat([req, Buffer.alloc(8)]);
  assert.equal(writeNeighborAdvertisement(slot, 0, slot, NS_TARGET_OFFSET, slot, IPV6_SRC, mac, 0, true), 72);
  assert.deepEqual(Buffer.from(slot.subarray(0, 72)), Buffer.from(expect));
  assert.equal(writeNeighborAdvertisement(new Uint8Array(71), 0, req, 48, req, 8, mac, 0, true), 0);
});
