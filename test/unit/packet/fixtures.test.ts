// The codecs on real packets: ../shared/fixtures/kernel-vxlan.pcap (Linux's own VXLAN between
// 198.51.100.1 and .2, VNI 4097, inner 10.0.1.2/.3 and fd00:1::2/::3) and dig-queries.pcap.
//
// What the captures really contain (checked here, and different from the fixtures README):
//  - kernel-vxlan.pcap holds 47 frames, not 94 (94 is the line count of `tcpdump -e` output,
//    which prints two lines per VXLAN frame).
//  - The outer UDP checksum is never 0. Both captures were taken before checksum offload ran
//    (Linux CHECKSUM_PARTIAL, as a TUN with virtio-net NEEDS_CSUM would hand them to us):
//    * inner TCP and UDP checksum fields hold only the folded pseudo-header sum;
//    * the outer UDP checksum of VXLAN frames holds the partial pseudo-header sum too, except
//      when the inner packet is itself partial (TCP/UDP): then the kernel used local checksum
//      offload (LCO, Documentation/networking/checksum-offloads.rst) and the outer checksum
//      is already final — it verifies once the inner checksum is filled in;
//    * the dig queries' UDP checksums are partial as well.
//    ICMP, ICMPv6 and every IPv4 header checksum are complete and verify.
//  The expected completed checksums below are the ones tcpdump -vv reports ("incorrect -> x").

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as P from '../../../src/dataplane/packet/index.js';
import { fixturePath, readPcap } from '../../util/pcap.js';

const frames = readPcap(fixturePath('kernel-vxlan.pcap'));
const digs = readPcap(fixturePath('dig-queries.pcap'));

const OUTER_IP = 14;
const OUTER_UDP = OUTER_IP + 20;
const VX = OUTER_UDP + 8;
const INNER = VX + P.VXLAN_HLEN;
const INNER_L3 = INNER + P.ETH_HLEN;

/** One line per frame, built with the codecs only: validates every layer on the way down. */
function dissect(f: Buffer): string {
  assert.equal(P.checkEthernet(f, 0, f.length), P.PR_OK);
  assert.equal(P.ethType(f, 0), P.ETHERTYPE_IPV4);
  assert.equal(P.checkIPv4(f, OUTER_IP, f.length - OUTER_IP), P.PR_OK, 'outer IPv4 incl. header checksum');
  assert.equal(P.ipv4HeaderLen(f, OUTER_IP), 20);
  assert.equal(P.ipv4Proto(f, OUTER_IP), P.IPPROTO_UDP);
  assert.equal(P.ipv4TotalLen(f, OUTER_IP), f.length - OUTER_IP);
  assert.equal(P.checkUdp(f, OUTER_UDP, f.length - OUTER_UDP), P.PR_OK);
  assert.equal(P.udpDstPort(f, OUTER_UDP), P.VXLAN_PORT);
  assert.equal(P.udpLength(f, OUTER_UDP), f.length - OUTER_UDP);
  assert.equal(P.checkVxlan(f, VX, f.length - VX), P.PR_OK);
  assert.equal(f[VX], P.VXLAN_FLAG_I);
  assert.equal(P.vxlanVni(f, VX), 4097);
  assert.equal(P.checkEthernet(f, INNER, f.length - INNER), P.PR_OK);
  const l3Len = f.length - INNER_L3;
  const et = P.ethType(f, INNER);
  if (et === P.ETHERTYPE_ARP) {
    assert.equal(P.checkArp(f, INNER_L3, l3Len), P.PR_OK);
    return P.arpOp(f, INNER_L3) === P.ARP_OP_REQUEST ? 'arp request' : 'arp reply';
  }
  if (et === P.ETHERTYPE_IPV4) {
    assert.equal(P.checkIPv4(f, INNER_L3, l3Len), P.PR_OK, 'inner IPv4 incl. header checksum');
    const proto = P.ipv4Proto(f, INNER_L3);
    const l4 = INNER_L3 + P.ipv4HeaderLen(f, INNER_L3);
    const l4Len = P.ipv4TotalLen(f, INNER_L3) - P.ipv4HeaderLen(f, INNER_L3);
    if (P.ipv4IsFragment(f, INNER_L3)) return `ipv4 frag@${P.ipv4FragOffset(f, INNER_L3)}${P.ipv4Mf(f, INNER_L3) ? '+' : ''}`;
    if (proto === P.IPPROTO_ICMP) {
      assert.equal(P.checkIcmp(f, l4, l4Len), P.PR_OK);
      return `icmp ${P.icmpType(f, l4) === P.ICMP_ECHO_REQUEST ? 'echo' : 'reply'} ${P.icmpEchoSeq(f, l4)}`;
    }
    if (proto === P.IPPROTO_TCP) {
      assert.equal(P.checkTcp(f, l4, l4Len), P.PR_OK);
      return `tcp ${tcpFlagText(P.tcpFlags(f, l4))}`;
    }
    assert.equal(proto, P.IPPROTO_UDP);
    assert.equal(P.checkUdp(f, l4, l4Len), P.PR_OK);
    return 'udp';
  }
  assert.equal(et, P.ETHERTYPE_IPV6);
  assert.equal(P.checkIPv6(f, INNER_L3, l3Len), P.PR_OK);
  const proto = P.ipv6UpperLayerProto(f, INNER_L3, l3Len);
  const l4 = P.ipv6UpperLayerOffset(f, INNER_L3, l3Len);
  if (proto === P.IPPROTO_TCP) {
    assert.equal(P.checkTcp(f, l4, f.length - l4), P.PR_OK);
    return `tcp6 ${tcpFlagText(P.tcpFlags(f, l4))}`;
  }
  assert.equal(proto, P.IPPROTO_ICMPV6);
  assert.equal(P.checkIcmpv6(f, l4, f.length - l4), P.PR_OK);
  const names: Record<number, string> = { 128: 'echo6', 129: 'reply6', 133: 'rs', 135: 'ns', 136: 'na', 143: 'mld2' };
  return names[P.icmpv6Type(f, l4)] ?? `icmpv6 ${P.icmpv6Type(f, l4)}`;
}

function tcpFlagText(fl: number): string {
  return ['F', 'S', 'R', 'P', '.'].filter((_, i) => (fl & (1 << i)) !== 0).join('');
}

// The frame sequence, as `tcpdump -nn -e -r kernel-vxlan.pcap` lists it.
const EXPECTED = [
  'mld2', 'ns', 'mld2', 'rs', 'arp request', 'arp reply',
  'icmp echo 1', 'icmp reply 1', 'icmp echo 2', 'icmp reply 2',
  'ipv4 frag@0+', 'ipv4 frag@1424+', 'ipv4 frag@2848', 'ipv4 frag@0+', 'ipv4 frag@1424+', 'ipv4 frag@2848',
  'ns', 'na', 'echo6', 'reply6', 'mld2', 'rs', 'echo6', 'reply6', 'mld2',
  'tcp S', 'tcp S.', 'tcp .', 'tcp P.', 'tcp .', 'tcp F.', 'tcp P.', 'tcp .', 'tcp F.', 'tcp .',
  'mld2', 'udp',
  'tcp6 S', 'tcp6 S.', 'tcp6 .', 'tcp6 P.', 'tcp6 .', 'tcp6 F.', 'tcp6 P.', 'tcp6 .', 'tcp6 F.', 'tcp6 .',
];

test('kernel-vxlan.pcap: 47 frames, every layer checks, in the order tcpdump shows', () => {
  assert.equal(frames.length, 47);
  assert.deepEqual(frames.map(dissect), EXPECTED);
  const count = (pred: (s: string) => boolean) => EXPECTED.filter(pred).length;
  assert.equal(count((s) => s.startsWith('arp')), 2);
  assert.equal(count((s) => s.startsWith('icmp ') || s.startsWith('ipv4 frag') || s.startsWith('tcp ') || s === 'udp'), 21);
  assert.equal(count((s) => ['mld2', 'ns', 'na', 'rs', 'echo6', 'reply6'].includes(s) || s.startsWith('tcp6')), 24);
  assert.equal(count((s) => s === 'mld2'), 5);
});

test('outer headers: underlay addresses and MACs, VNI 4097, TTL 64', () => {
  const vtep1 = P.parseIPv4('198.51.100.1');
  const vtep2 = P.parseIPv4('198.51.100.2');
  for (const f of frames) {
    const src = P.ipv4Src(f, OUTER_IP);
    const dst = P.ipv4Dst(f, OUTER_IP);
    assert.ok((src === vtep1 && dst === vtep2) || (src === vtep2 && dst === vtep1));
    assert.equal(P.macToString(f, P.ETH_SRC), src === vtep1 ? '1e:93:6b:a5:05:c3' : '9a:13:e3:c5:e5:24');
    assert.equal(P.ipv4Ttl(f, OUTER_IP), 64);
    assert.equal(P.ipv4IsFragment(f, OUTER_IP), false);
    assert.equal(P.vxlanVni(f, VX), 4097);
    // Inner source MAC is the sender task's 02:42 + IPv4 MAC.
    const innerSrc = P.macToString(f, INNER + P.ETH_SRC);
    assert.equal(innerSrc, src === vtep1 ? '02:42:0a:00:01:02' : '02:42:0a:00:01:03');
    const mac = new Uint8Array(6);
    P.writeMacFromIPv4(mac, 0, src === vtep1 ? 0x0a000102 : 0x0a000103);
    assert.ok(P.macEqual(f, INNER + P.ETH_SRC, mac, 0));
  }
});

/** Offset of the inner L4 header, or -1 for ARP and fragments. */
function innerL4(f: Buffer): { off: number; proto: number; v6: boolean } | null {
  const et = P.ethType(f, INNER);
  if (et === P.ETHERTYPE_IPV4) {
    if (P.ipv4IsFragment(f, INNER_L3)) return null;
    return { off: INNER_L3 + P.ipv4HeaderLen(f, INNER_L3), proto: P.ipv4Proto(f, INNER_L3), v6: false };
  }
  if (et === P.ETHERTYPE_IPV6) {
    const len = f.length - INNER_L3;
    return { off: P.ipv6UpperLayerOffset(f, INNER_L3, len), proto: P.ipv6UpperLayerProto(f, INNER_L3, len), v6: true };
  }
  return null;
}

test('checksums: ICMP/ICMPv6 verify; TCP/UDP are partial; completing them matches tcpdump and the LCO outer sum', () => {
  let partialOuter = 0;
  let lcoOuter = 0;
  let icmpChecked = 0;
  const completed: number[] = [];
  for (const f0 of frames) {
    const f = Buffer.from(f0);
    const l4 = innerL4(f);
    const innerPartial = l4 !== null && (l4.proto === P.IPPROTO_TCP || l4.proto === P.IPPROTO_UDP);
    if (l4 !== null && !innerPartial) {
      assert.ok(l4.v6 ? P.verifyL4Checksum6(f, INNER_L3) : P.verifyL4Checksum4(f, INNER_L3), 'ICMP / ICMPv6 (incl. MLD past Hop-by-Hop)');
      icmpChecked++;
    }
    if (!innerPartial) {
      assert.equal(P.udpChecksum(f, OUTER_UDP), P.partialChecksum4(f, OUTER_IP), 'outer UDP holds the pseudo-header sum');
      assert.equal(P.verifyL4Checksum4(f, OUTER_IP), false);
      partialOuter++;
      continue;
    }
    const field = l4!.off + P.l4ChecksumOffset(l4!.proto);
    const partial = l4!.v6 ? P.partialChecksum6(f, INNER_L3) : P.partialChecksum4(f, INNER_L3);
    assert.equal(f.readUInt16BE(field), partial, 'inner TCP/UDP holds the pseudo-header sum');
    assert.equal(l4!.v6 ? P.verifyL4Checksum6(f, INNER_L3) : P.verifyL4Checksum4(f, INNER_L3), false);
    assert.equal(P.verifyL4Checksum4(f, OUTER_IP), false);
    assert.ok(l4!.v6 ? P.fillL4Checksum6(f, INNER_L3) : P.fillL4Checksum4(f, INNER_L3));
    assert.ok(l4!.v6 ? P.verifyL4Checksum6(f, INNER_L3) : P.verifyL4Checksum4(f, INNER_L3));
    completed.push(f.readUInt16BE(field));
    assert.ok(P.verifyL4Checksum4(f, OUTER_IP), 'outer checksum was computed over the completed inner packet (LCO)');
    lcoOuter++;
  }
  assert.equal(partialOuter, 26);
  assert.equal(lcoOuter, 21);
  assert.equal(icmpChecked, 4 + 14);
  // tcpdump -vv: "cksum 0x1633 (incorrect -> 0x06f8)" etc.
  assert.deepEqual(completed.slice(0, 3), [0x06f8, 0xf56c, 0x1eff]);
  assert.equal(completed[10], 0xadc2, 'the UDP datagram');
  assert.deepEqual(completed.slice(11, 13), [0x6ca0, 0xeb7d]);
});

test('the 3000-byte ping: fragment fields, and the reassembled ICMP checksum verifies', () => {
  for (const first of [10, 13]) {
    const fr = [frames[first]!, frames[first + 1]!, frames[first + 2]!];
    const id = P.ipv4Id(fr[0], INNER_L3);
    assert.deepEqual(fr.map((f) => P.ipv4Id(f, INNER_L3)), [id, id, id]);
    assert.deepEqual(fr.map((f) => P.ipv4FragOffset(f, INNER_L3)), [0, 1424, 2848]);
    assert.deepEqual(fr.map((f) => P.ipv4Mf(f, INNER_L3)), [true, true, false]);
    assert.deepEqual(fr.map((f) => P.ipv4TotalLen(f, INNER_L3) - 20), [1424, 1424, 160]);
    assert.equal(P.verifyL4Checksum4(fr[0], INNER_L3), false, 'a fragment alone cannot be verified');
    // RFC 1071 partial sums continue across the even split points 1424 and 2848.
    let sum = 0;
    for (const f of fr) sum = P.sumWords(f, INNER_L3 + 20, P.ipv4TotalLen(f, INNER_L3) - 20, sum);
    assert.equal(P.foldSum(sum), 0xffff);
    assert.equal(P.icmpEchoId(fr[0], INNER_L3 + 20), 21155);
    assert.equal(P.isIcmpError(fr[1], INNER_L3), false);
  }
  // Frag-needed may be sent about the first fragment, never about the others.
  const out = new Uint8Array(600);
  assert.ok(P.writeIcmpFragNeeded(out, 0, frames[10]!, INNER_L3, frames[10]!.length - INNER_L3, 1400, 0x0a000101) > 0);
  assert.equal(P.writeIcmpFragNeeded(out, 0, frames[11]!, INNER_L3, frames[11]!.length - INNER_L3, 1400, 0x0a000101), 0);
  const echo = frames[6]!;
  assert.equal(P.icmpEchoId(echo, INNER_L3 + 20), 21154);
  assert.ok(P.ipv4Df(echo, INNER_L3));
  assert.equal(P.ipv4Df(frames[7]!, INNER_L3), false, 'Linux sends echo replies without DF');
});

test('ARP: captured request/reply fields; writeArpRequest/writeArpReply reproduce the kernel bytes', () => {
  const req = frames[4]!;
  const rep = frames[5]!;
  assert.ok(P.isBroadcastMac(req, INNER + P.ETH_DST));
  assert.equal(P.arpOp(req, INNER_L3), P.ARP_OP_REQUEST);
  assert.equal(P.macToString(req, INNER_L3 + P.ARP_SENDER_MAC), '02:42:0a:00:01:02');
  assert.equal(P.formatIPv4(P.arpSenderIp(req, INNER_L3)), '10.0.1.2');
  assert.equal(P.macToString(req, INNER_L3 + P.ARP_TARGET_MAC), '00:00:00:00:00:00');
  assert.equal(P.formatIPv4(P.arpTargetIp(req, INNER_L3)), '10.0.1.3');
  assert.equal(req.length - INNER_L3, P.ARP_LEN, 'no Ethernet padding inside VXLAN');
  assert.equal(P.arpOp(rep, INNER_L3), P.ARP_OP_REPLY);
  assert.equal(P.macToString(rep, INNER_L3 + P.ARP_SENDER_MAC), '02:42:0a:00:01:03');
  assert.equal(P.formatIPv4(P.arpSenderIp(rep, INNER_L3)), '10.0.1.3');
  assert.equal(P.macToString(rep, INNER_L3 + P.ARP_TARGET_MAC), '02:42:0a:00:01:02');
  assert.equal(P.formatIPv4(P.arpTargetIp(rep, INNER_L3)), '10.0.1.2');

  const out = Buffer.alloc(P.ARP_LEN);
  P.writeArpRequest(out, 0, req, INNER_L3 + P.ARP_SENDER_MAC, P.arpSenderIp(req, INNER_L3), P.arpTargetIp(req, INNER_L3));
  assert.deepEqual(out, req.subarray(INNER_L3));
  const myMac = new Uint8Array(6);
  P.writeMacFromIPv4(myMac, 0, P.arpTargetIp(req, INNER_L3));
  P.writeArpReply(out, 0, myMac, 0, P.arpTargetIp(req, INNER_L3), req, INNER_L3 + P.ARP_SENDER_MAC, P.arpSenderIp(req, INNER_L3));
  assert.deepEqual(out, rep.subarray(INNER_L3), 'byte-identical to the kernel reply');
  // And the whole VXLAN payload of the reply: prefix + ARP.
  const vx = Buffer.alloc(P.VXLAN_PREFIX_LEN + P.ARP_LEN);
  P.writeVxlanPrefix(vx, 0, 4097, req, INNER + P.ETH_SRC, myMac, 0, P.ETHERTYPE_ARP);
  out.copy(vx, P.VXLAN_PREFIX_LEN);
  assert.deepEqual(vx, rep.subarray(VX));
});

test('Neighbor Discovery: the NS checks, and writeNeighborAdvertisement reproduces the kernel NA', () => {
  const ns = frames[16]!;
  const na = frames[17]!;
  const len = ns.length - INNER_L3;
  assert.equal(P.checkNeighborSolicitation(ns, INNER_L3, len), P.PR_OK);
  assert.equal(P.formatIPv6(ns, INNER_L3 + P.NS_TARGET_OFFSET), 'fd00:1::3');
  assert.equal(P.formatIPv6(ns, INNER_L3 + P.IPV6_SRC), 'fd00:1::2');
  assert.equal(P.formatIPv6(ns, INNER_L3 + P.IPV6_DST), 'ff02::1:ff00:3');
  const snm = new Uint8Array(16);
  P.writeSolicitedNodeMulticast(snm, 0, ns, INNER_L3 + P.NS_TARGET_OFFSET);
  assert.ok(P.ipv6Equal(ns, INNER_L3 + P.IPV6_DST, snm, 0));
  const mmac = new Uint8Array(6);
  P.writeMacFromIPv6Multicast(mmac, 0, snm, 0);
  assert.ok(P.macEqual(ns, INNER + P.ETH_DST, mmac, 0));
  const sll = P.ndFindOption(ns, INNER_L3 + P.NS_OPTIONS_OFFSET, INNER_L3 + 40 + P.ipv6PayloadLen(ns, INNER_L3), P.ND_OPT_SOURCE_LL_ADDR);
  assert.equal(P.macToString(ns, sll + 2), '02:42:0a:00:01:02');

  // The kernel's NA: flags S|O, R clear, one Target Link-Layer Address option, hop limit 255.
  const naIcmp = INNER_L3 + 40;
  assert.equal(na[naIcmp + P.ND_NA_FLAGS], P.ND_NA_FLAG_SOLICITED | P.ND_NA_FLAG_OVERRIDE);
  assert.equal(P.ipv6HopLimit(na, INNER_L3), 255);
  const myMac = P.parseMac('02:42:0a:00:01:03');
  const out = Buffer.alloc(P.NA_PACKET_LEN);
  const n = P.writeNeighborAdvertisement(out, 0, ns, INNER_L3 + P.NS_TARGET_OFFSET, ns, INNER_L3 + P.IPV6_SRC, myMac, 0, true);
  assert.equal(n, na.length - INNER_L3);
  assert.deepEqual(out, na.subarray(INNER_L3), 'byte-identical to the kernel NA (traffic class and flow label 0 too)');
  const vx = Buffer.alloc(P.VXLAN_PREFIX_LEN);
  P.writeVxlanPrefix(vx, 0, 4097, ns, INNER + P.ETH_SRC, myMac, 0, P.ETHERTYPE_IPV6);
  assert.deepEqual(Buffer.concat([vx, out]), na.subarray(VX));

  // The DAD probe: from ::, to the solicited-node group, a Nonce option and no source LL option.
  const dad = frames[1]!;
  assert.equal(P.checkNeighborSolicitation(dad, INNER_L3, dad.length - INNER_L3), P.PR_OK);
  assert.ok(P.isIPv6Unspecified(dad, INNER_L3 + P.IPV6_SRC));
  assert.equal(P.formatIPv6(dad, INNER_L3 + P.NS_TARGET_OFFSET), 'fe80::42:aff:fe00:103');
  const end = dad.length;
  assert.equal(P.ndFindOption(dad, INNER_L3 + P.NS_OPTIONS_OFFSET, end, P.ND_OPT_SOURCE_LL_ADDR), -1);
  assert.ok(P.ndFindOption(dad, INNER_L3 + P.NS_OPTIONS_OFFSET, end, P.ND_OPT_NONCE) > 0);
  // The NA is not an NS; MLD is reached only past its Hop-by-Hop header.
  assert.equal(P.checkNeighborSolicitation(na, INNER_L3, na.length - INNER_L3), P.PR_BAD_ICMP_TYPE);
  const mld = frames[0]!;
  assert.equal(P.ipv6NextHeader(mld, INNER_L3), P.IPPROTO_HOPOPTS);
  assert.equal(P.ipv6UpperLayerOffset(mld, INNER_L3, mld.length - INNER_L3), INNER_L3 + 48);
  assert.equal(P.checkNeighborSolicitation(mld, INNER_L3, mld.length - INNER_L3), P.PR_BAD_EXT_HDR);
  assert.equal(P.isIcmpv6Error(mld, INNER_L3), false);
});

test('TCP over IPv4 and IPv6: ports, sequence numbers and the SYN options', () => {
  const syn = frames[25]!;
  const t = INNER_L3 + 20;
  assert.deepEqual([P.tcpSrcPort(syn, t), P.tcpDstPort(syn, t), P.tcpSeq(syn, t)], [47638, 8080, 1673699328]);
  assert.equal(P.tcpFlags(syn, t), P.TCP_FLAG_SYN);
  assert.equal(P.tcpDataOffset(syn, t), 40);
  assert.equal(P.tcpWindow(syn, t), 64860);
  assert.equal(P.tcpMss(syn, t), 1410);
  assert.ok(P.tcpOptionOffset(syn, t, P.TCPOPT_SACK_PERMITTED) > 0);
  const ts = P.tcpOptionOffset(syn, t, P.TCPOPT_TIMESTAMP);
  assert.equal(syn.readUInt32BE(ts + 2), 1538061503);
  const ws = P.tcpOptionOffset(syn, t, P.TCPOPT_WSCALE);
  assert.equal(syn[ws + 2], 10);
  const synAck = frames[26]!;
  assert.deepEqual([P.tcpSeq(synAck, t), P.tcpAck(synAck, t)], [3118906930, 1673699329]);
  assert.equal(P.tcpFlags(synAck, t), P.TCP_FLAG_SYN | P.TCP_FLAG_ACK);
  const data = frames[28]!;
  assert.equal(P.ipv4TotalLen(data, INNER_L3) - 20 - P.tcpDataOffset(data, t), 13);

  const syn6 = frames[37]!;
  const t6 = INNER_L3 + 40;
  assert.equal(P.ipv6FlowLabel(syn6, INNER_L3), 0xa11ce);
  assert.deepEqual([P.tcpSrcPort(syn6, t6), P.tcpDstPort(syn6, t6), P.tcpSeq(syn6, t6), P.tcpMss(syn6, t6)], [33902, 8081, 485970626, 1390]);

  // MSS clamping on the partial SYN: the field stays partial, completion then verifies.
  const c = Buffer.from(syn);
  assert.ok(P.tcpClampMss(c, t, 1360, true));
  assert.equal(c.readUInt16BE(t + P.TCP_CSUM), syn.readUInt16BE(t + P.TCP_CSUM));
  assert.ok(P.fillL4Checksum4(c, INNER_L3));
  assert.equal(P.tcpMss(c, t), 1360);
  // ... and on a completed one, incrementally.
  const d = Buffer.from(syn);
  P.fillL4Checksum4(d, INNER_L3);
  assert.ok(P.tcpClampMss(d, t, 1360));
  assert.deepEqual(d, c);

  const udp = frames[36]!;
  assert.deepEqual([P.udpSrcPort(udp, t), P.udpDstPort(udp, t), P.udpLength(udp, t)], [33721, 9999, 8 + 13]);
});

test('dig-queries.pcap: IPv4/UDP to port 53, partial checksums that complete to what tcpdump computes', () => {
  assert.equal(digs.length, 6);
  const completed: number[] = [];
  for (const f0 of digs) {
    const f = Buffer.from(f0);
    assert.equal(P.ethType(f, 0), P.ETHERTYPE_IPV4);
    assert.equal(P.checkIPv4(f, 14, f.length - 14), P.PR_OK);
    assert.equal(P.ipv4Proto(f, 14), P.IPPROTO_UDP);
    assert.equal(P.formatIPv4(P.ipv4Src(f, 14)), '198.51.100.1');
    assert.equal(P.formatIPv4(P.ipv4Dst(f, 14)), '198.51.100.2');
    assert.equal(P.checkUdp(f, 34, P.ipv4TotalLen(f, 14) - 20), P.PR_OK);
    assert.equal(P.udpDstPort(f, 34), 53);
    assert.equal(P.udpChecksum(f, 34), P.partialChecksum4(f, 14), 'captured before offload: pseudo-header sum only');
    assert.equal(P.verifyL4Checksum4(f, 14), false);
    assert.ok(P.fillL4Checksum4(f, 14));
    assert.ok(P.verifyL4Checksum4(f, 14));
    completed.push(P.udpChecksum(f, 34));
  }
  assert.deepEqual(completed, [0xf629, 0x28e5, 0x9dca, 0x975f, 0x72e2, 0xd898]);
  assert.deepEqual(digs.map((f) => P.udpLength(f, 34) - 8), [49, 49, 60, 63, 55, 26]);
});
