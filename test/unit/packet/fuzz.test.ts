// Untrusted bytes: every check function, fed random and mutated packets, never throws and
// returns a known reason; after PR_OK the readers, verifiers and builders stay in bounds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import * as P from '../../../src/dataplane/packet/index.js';
import { build } from './builder.js';

type Check = (buf: Uint8Array, off: number, len: number) => number;
const CHECKS: [string, Check][] = [
  ['checkEthernet', P.checkEthernet],
  ['checkArp', P.checkArp],
  ['checkIPv4', P.checkIPv4],
  ['checkIPv6', P.checkIPv6],
  ['checkUdp', P.checkUdp],
  ['checkTcp', P.checkTcp],
  ['checkIcmp', P.checkIcmp],
  ['checkIcmpv6', P.checkIcmpv6],
  ['checkVxlan', P.checkVxlan],
  ['checkNeighborSolicitation', P.checkNeighborSolicitation],
];

test('the reason table: names line up with values, PR_OK is 0', () => {
  assert.equal(P.PR_OK, 0);
  assert.equal(P.PARSE_REASON_NAMES[P.PR_TRUNCATED], 'truncated');
  assert.equal(P.PARSE_REASON_NAMES[P.PR_VXLAN_FLAGS], 'vxlan_flags');
  assert.equal(P.PARSE_REASON_NAMES[P.PR_ND_BAD_SOURCE], 'nd_bad_source');
  assert.equal(P.PARSE_REASON_COUNT, P.PR_ND_BAD_SOURCE + 1);
  assert.equal(new Set(P.PARSE_REASON_NAMES).size, P.PARSE_REASON_COUNT);
});

/** A buffer, an offset into it and a length that fits after the offset. */
const window = fc
  .tuple(fc.uint8Array({ minLength: 0, maxLength: 160, size: 'max' }), fc.nat(), fc.nat())
  .map(([buf, o, l]) => {
    const off = buf.length === 0 ? 0 : o % (buf.length + 1);
    return { buf, off, len: l % (buf.length - off + 1) };
  });

const known = (r: number) => Number.isInteger(r) && r >= 0 && r < P.PARSE_REASON_COUNT;

test('random bytes: every check returns a known reason and never throws', () => {
  for (const [name, check] of CHECKS) {
    fc.assert(
      fc.property(window, ({ buf, off, len }) => {
        const before = Buffer.from(buf);
        const r = check(buf, off, len);
        assert.ok(known(r), `${name} returned ${r}`);
        assert.deepEqual(Buffer.from(buf), before, `${name} must not write`);
      }),
      { numRuns: 2000 },
    );
  }
});

// Valid packets to mutate: each check then sees realistic prefixes and goes deep.
const SEEDS: Buffer[] = [
  build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3' }).tcp({ sport: 1, dport: 2, options: Uint8Array.of(2, 4, 5, 0xb4) }).payload(30).bytes(),
  build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3', options: Uint8Array.of(1, 1, 1, 0) }).udp({ sport: 53, dport: 53 }).payload(20).bytes(),
  build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3' }).icmp({ type: 3, code: 4, rest: 1400 }).payload(28).bytes(),
  build().ipv6({ src: 'fd00:1::2', dst: 'ff02::1:ff00:3', hopLimit: 255 }).icmpv6({ type: 135 })
    .payload(Buffer.concat([Buffer.from('fd000001000000000000000000000003', 'hex'), Buffer.from([1, 1, 2, 0x42, 10, 0, 1, 2])])).bytes(),
  build().ipv6({ src: 'fd00:1::2', dst: 'fd00:1::3' }).ext(0, Uint8Array.of(5, 2, 0, 0, 1, 0)).tcp({ sport: 1, dport: 2 }).payload(10).bytes(),
  build().ipv6({ src: 'fd00:1::2', dst: 'fd00:1::3' }).ext(44, Uint8Array.of(0, 1, 0, 0, 0, 9)).udp({ sport: 1, dport: 2 }).payload(10).bytes(),
];

const mutated = fc
  .tuple(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), fc.nat(8))
  .map(([seed, edits, cut, pad]) => {
    const buf = Buffer.alloc(pad + seed.length);
    seed.copy(buf, pad);
    for (const [i, v] of edits) buf[pad + (i % seed.length)] = v;
    return { buf, off: pad, len: seed.length - (cut % 3 === 0 ? cut % seed.length : 0) };
  });

test('mutated packets: checks, then readers, verifiers, fills, rewrites and builders never throw', () => {
  const out = new Uint8Array(1400);
  fc.assert(
    fc.property(mutated, ({ buf, off, len }) => {
      for (const [name, check] of CHECKS) assert.ok(known(check(buf, off, len)), name);
      if (P.checkIPv4(buf, off, len) === P.PR_OK) {
        const hl = P.ipv4HeaderLen(buf, off);
        const total = P.ipv4TotalLen(buf, off);
        assert.ok(hl >= 20 && hl <= total && total <= len);
        assert.ok(P.verifyIPv4HeaderChecksum(buf, off));
        P.verifyL4Checksum4(buf, off);
        P.isIcmpError(buf, off);
        const l4 = off + hl;
        P.checkTcp(buf, l4, total - hl);
        P.checkUdp(buf, l4, total - hl);
        if (P.checkTcp(buf, l4, total - hl) === P.PR_OK) {
          P.tcpMss(buf, l4);
          P.tcpClampMss(Buffer.from(buf), l4, 536);
        }
        const n = P.writeIcmpFragNeeded(out, 0, buf, off, len, 1400, 0x0a000101);
        if (n > 0) {
          assert.equal(P.checkIPv4(out, 0, n), P.PR_OK);
          assert.ok(P.verifyL4Checksum4(out, 0) && n <= 576);
        }
        const c = Buffer.from(buf);
        if (P.fillL4Checksum4(c, off)) assert.ok(P.verifyL4Checksum4(c, off));
        P.ipv4RewriteDst(c, off, 0x0a000109);
        assert.equal(P.checkIPv4(c, off, len), P.PR_OK);
      }
      if (P.checkIPv6(buf, off, len) === P.PR_OK) {
        const total = 40 + P.ipv6PayloadLen(buf, off);
        const u = P.ipv6UpperLayerOffset(buf, off, len);
        assert.ok(u === -1 || (u >= off + 40 && u <= off + total));
        P.ipv6UpperLayerProto(buf, off, len);
        P.verifyL4Checksum6(buf, off);
        P.isIcmpv6Error(buf, off);
        const n = P.writePacketTooBig(out, 0, buf, off, len, 1300, buf, off + P.IPV6_DST);
        if (n > 0) {
          assert.equal(P.checkIPv6(out, 0, n), P.PR_OK);
          assert.ok(P.verifyL4Checksum6(out, 0) && n <= 1280);
        }
        const c = Buffer.from(buf);
        if (P.fillL4Checksum6(c, off)) assert.ok(P.verifyL4Checksum6(c, off));
        P.ipv6RewriteAddr(c, off, P.IPV6_SRC, buf, off + P.IPV6_DST);
        if (P.checkNeighborSolicitation(buf, off, len) === P.PR_OK) {
          assert.equal(P.writeNeighborAdvertisement(out, 0, buf, off + P.NS_TARGET_OFFSET, buf, off + P.IPV6_SRC, buf, off, true), 72);
          P.ndFindOption(buf, off + P.NS_OPTIONS_OFFSET, off + total, 1);
        }
      }
    }),
    { numRuns: 3000 },
  );
});
