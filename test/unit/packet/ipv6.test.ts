import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  IPPROTO_FRAGMENT, IPPROTO_TCP, IPPROTO_UDP, IPV6_DST, IPV6_HLEN, IPV6_SRC, PR_BAD_PAYLOAD_LEN, PR_BAD_VERSION, PR_OK,
  PR_TRUNCATED, checkIPv6, copyIPv6, formatIPv6, ipVersion, ipv6DecrementHopLimit, ipv6Equal, ipv6FlowLabel,
  ipv6FragMore, ipv6FragOffset, ipv6HopLimit, ipv6NextHeader, ipv6PayloadLen, ipv6TrafficClass, ipv6UpperLayerOffset,
  ipv6UpperLayerProto, isIPv6LinkLocal, isIPv6Multicast, isIPv6Unspecified, isSolicitedNodeMulticast, parseIPv6,
  writeIPv6Header, writeSolicitedNodeMulticast,
} from '../../../src/dataplane/packet/index.js';
import { build, ip6 } from './builder.js';

const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });

test('writeIPv6Header round-trips through checkIPv6 and the readers', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), addr, addr, fc.nat(5), (plen, nh, hl, s, d, off) => {
      const out = new Uint8Array(off + IPV6_HLEN + plen);
      assert.equal(writeIPv6Header(out, off, plen, nh, hl, s, 0, d, 0), IPV6_HLEN);
      assert.equal(checkIPv6(out, off, IPV6_HLEN + plen), PR_OK);
      assert.equal(ipVersion(out, off), 6);
      assert.equal(ipv6PayloadLen(out, off), plen);
      assert.equal(ipv6NextHeader(out, off), nh);
      assert.equal(ipv6HopLimit(out, off), hl);
      assert.equal(ipv6TrafficClass(out, off), 0);
      assert.equal(ipv6FlowLabel(out, off), 0);
      assert.ok(ipv6Equal(out, off + IPV6_SRC, s, 0));
      assert.ok(ipv6Equal(out, off + IPV6_DST, d, 0));
      assert.equal(ipv6Equal(out, off + IPV6_SRC, out, off + IPV6_DST), Buffer.compare(s, d) === 0);
    }),
  );
});

test('checkIPv6 reasons; hop limit decrement', () => {
  const p = build().ipv6({ src: 'fd00:1::2', dst: 'fd00:1::3', flowLabel: 0xa11ce }).udp({ sport: 1, dport: 2 }).payload(4).bytes();
  assert.equal(checkIPv6(p, 0, p.length), PR_OK);
  assert.equal(ipv6FlowLabel(p, 0), 0xa11ce);
  assert.equal(checkIPv6(p, 0, 39), PR_TRUNCATED);
  assert.equal(checkIPv6(p, 0, p.length - 1), PR_BAD_PAYLOAD_LEN);
  const v4 = Buffer.from(p);
  v4[0] = 0x45;
  assert.equal(checkIPv6(v4, 0, v4.length), PR_BAD_VERSION);
  assert.equal(ipv6DecrementHopLimit(p, 0), 63);
  assert.equal(ipv6HopLimit(p, 0), 63);
});

test('extension header walk: skips HBH/DstOpts/Routing, stops at Fragment, rejects malformed chains', () => {
  const hbh = Uint8Array.of(5, 2, 0, 0, 1, 0); // router alert + PadN: 8 bytes with the 2 fixed ones
  const p = build().ipv6({ src: '::', dst: 'ff02::16' }).ext(0, hbh).ext(60, new Uint8Array(14)).tcp({ sport: 1, dport: 2 }).bytes();
  assert.equal(checkIPv6(p, 0, p.length), PR_OK);
  assert.equal(ipv6UpperLayerOffset(p, 0, p.length), 40 + 8 + 16);
  assert.equal(ipv6UpperLayerProto(p, 0, p.length), IPPROTO_TCP);
  const plain = build().ipv6({ src: '::1', dst: '::2' }).udp({ sport: 1, dport: 2 }).bytes();
  assert.equal(ipv6UpperLayerOffset(plain, 0, plain.length), 40);
  assert.equal(ipv6UpperLayerProto(plain, 0, plain.length), IPPROTO_UDP);
  const frag = build().ipv6({ src: '::1', dst: '::2' }).ext(44, Uint8Array.of(0x05, 0x91, 0, 0, 0, 7)).udp({ sport: 1, dport: 2 }).bytes();
  const fo = ipv6UpperLayerOffset(frag, 0, frag.length);
  assert.equal(fo, 40);
  assert.equal(ipv6UpperLayerProto(frag, 0, frag.length), IPPROTO_FRAGMENT);
  assert.equal(ipv6FragOffset(frag, fo), 0x0590);
  assert.equal(ipv6FragMore(frag, fo), true);
  // HBH after another header, a header past Payload Length, too many headers.
  const late = build().ipv6({ src: '::1', dst: '::2' }).ext(60, new Uint8Array(6)).ext(0, new Uint8Array(6)).udp({ sport: 1, dport: 2 }).bytes();
  assert.equal(ipv6UpperLayerOffset(late, 0, late.length), -1);
  const cut = Buffer.from(p);
  cut.writeUInt16BE(10, 4);
  assert.equal(ipv6UpperLayerOffset(cut, 0, cut.length), -1);
  assert.equal(ipv6UpperLayerProto(cut, 0, cut.length), -1);
  let many = build().ipv6({ src: '::1', dst: '::2' });
  for (let i = 0; i < 9; i++) many = many.ext(60, new Uint8Array(6));
  const m = many.udp({ sport: 1, dport: 2 }).bytes();
  assert.equal(ipv6UpperLayerOffset(m, 0, m.length), -1);
});

test('address predicates and solicited-node multicast', () => {
  assert.ok(isIPv6Multicast(ip6('ff02::1'), 0));
  assert.ok(isIPv6Unspecified(ip6('::'), 0) && !isIPv6Unspecified(ip6('::1'), 0));
  assert.ok(isIPv6LinkLocal(ip6('fe80::42:aff:fe00:103'), 0) && !isIPv6LinkLocal(ip6('fec0::1'), 0));
  const o = new Uint8Array(16);
  writeSolicitedNodeMulticast(o, 0, ip6('fd00:1::3'), 0);
  assert.equal(formatIPv6(o), 'ff02::1:ff00:3');
  assert.ok(isSolicitedNodeMulticast(o, 0) && !isSolicitedNodeMulticast(ip6('ff02::1'), 0));
  const b = Buffer.concat([ip6('fd00:1::2'), Buffer.alloc(4)]);
  copyIPv6(b, 4, b, 0);
  assert.equal(formatIPv6(b, 4), 'fd00:1::2');
});

test('formatIPv6 is RFC 5952 canonical; parseIPv6 accepts RFC 4291 forms', () => {
  const cases: [string, string][] = [
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs (5952 4.2.3)
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single 0 group is not compressed (4.2.2)
    ['2001:DB8::AAAA', '2001:db8::aaaa'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['fd00:1::3', 'fd00:1::3'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], // the longest run wins
    ['::ffff:10.0.1.2', '::ffff:10.0.1.2'],
    ['0:0:0:0:0:ffff:a00:102', '::ffff:10.0.1.2'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ];
  for (const [input, canon] of cases) {
    const b = new Uint8Array(18);
    assert.equal(parseIPv6(input, b, 1), 16);
    assert.equal(formatIPv6(b, 1), canon, input);
  }
  for (const bad of ['', ':', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'fe80::1%eth0', '::1.2.3', '::256.1.1.1', 'g::', '1:2:3:4:5:6:7:8::']) {
    assert.throws(() => parseIPv6(bad, new Uint8Array(16)), RangeError, bad);
  }
  fc.assert(
    fc.property(addr, (a) => {
      const b = new Uint8Array(16);
      parseIPv6(formatIPv6(a), b, 0);
      assert.deepEqual([...b], [...a]);
    }),
  );
});
