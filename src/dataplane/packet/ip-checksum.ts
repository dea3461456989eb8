// Checksums that need the IP packet around them: TCP/UDP/ICMP/ICMPv6 fill and verify over the
// pseudo headers (RFC 9293 section 3.1, RFC 768, RFC 792, RFC 8200 section 8.1, RFC 4443
// section 2.3), and the incremental updates NAT needs when it rewrites addresses and ports
// (RFC 1624, as gVisor's SetDestinationAddressWithChecksumUpdate). Arithmetic is in checksum.ts.
//
// All functions take the offset of the IP header and trust a previous checkIPv4 / checkIPv6 on
// that packet (so Total Length / Payload Length fit the buffer); they check the L4 header fits
// on their own and never read outside the datagram.
//
// "Partial" checksums: a packet read from a TUN with the virtio-net header flag NEEDS_CSUM
// (VF_NEEDS_CSUM in io/packet-vec.ts), or captured before a NIC filled it in (Linux
// CHECKSUM_PARTIAL: both captures in ../shared/fixtures are like that), carries in its TCP/UDP
// checksum field only the folded pseudo-header sum, not complemented; the device sums the rest.
// Such a packet does not verify, and the rewrite helpers take `l4Partial` to keep it partial.

import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './ip-proto.js';
import { checksumUpdate16, checksumUpdate32, checksumUpdateSum, foldSum, pseudoHeaderSum4, pseudoHeaderSum6, sumWords } from './checksum.js';
import {
  IPV4_CSUM,
  IPV4_DST,
  IPV4_SRC,
  ipv4Dst,
  ipv4FragOffset,
  ipv4HeaderChecksum,
  ipv4HeaderLen,
  ipv4IsFragment,
  ipv4Proto,
  ipv4Src,
  ipv4TotalLen,
} from './ipv4.js';
import { IPV6_DST, IPV6_HLEN, IPV6_SRC, ipv6PayloadLen, ipv6UpperLayerOffset, ipv6UpperLayerProto } from './ipv6.js';
import { TCP_CSUM, TCP_MIN_HLEN } from './tcp.js';
import { UDP_CSUM, UDP_HLEN } from './udp.js';

/** Offset of the checksum field within the L4 header of `proto` (TCP 16, UDP 6, ICMP/ICMPv6 2), or -1. */
export function l4ChecksumOffset(proto: number): number {
  switch (proto) {
    case IPPROTO_TCP:
      return TCP_CSUM;
    case IPPROTO_UDP:
      return UDP_CSUM;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return 2;
    default:
      return -1;
  }
}

/** Smallest L4 header for which fill/verify run: TCP 20, UDP 8, ICMP/ICMPv6 4, else -1. */
function l4MinLen(proto: number): number {
  switch (proto) {
    case IPPROTO_TCP:
      return TCP_MIN_HLEN;
    case IPPROTO_UDP:
      return UDP_HLEN;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return 4;
    default:
      return -1;
  }
}

/**
 * Computes and stores the TCP, UDP or ICMP checksum of the IPv4 packet at ipOff, over
 * Total Length - header length bytes (the pseudo header for TCP and UDP; none for ICMP). A UDP
 * result of 0 is stored as 0xffff (RFC 768). Returns false and writes nothing for fragments
 * (the checksum covers the whole datagram), other protocols, or a too-short L4 header.
 */
export function fillL4Checksum4(buf: Uint8Array, ipOff: number): boolean {
  const proto = ipv4Proto(buf, ipOff);
  const hlen = ipv4HeaderLen(buf, ipOff);
  const l4Len = ipv4TotalLen(buf, ipOff) - hlen;
  const min = l4MinLen(proto);
  if (min < 0 || l4Len < min || ipv4IsFragment(buf, ipOff)) return false;
  const l4 = ipOff + hlen;
  const field = l4 + l4ChecksumOffset(proto);
  buf[field] = 0;
  buf[field + 1] = 0;
  const initial = proto === IPPROTO_ICMP ? 0 : pseudoHeaderSum4(ipv4Src(buf, ipOff), ipv4Dst(buf, ipOff), proto, l4Len);
  let c = ~foldSum(sumWords(buf, l4, l4Len, initial)) & 0xffff;
  if (c === 0 && proto === IPPROTO_UDP) c = 0xffff;
  buf[field] = c >>> 8;
  buf[field + 1] = c;
  return true;
}

/**
 * True when the TCP, UDP or ICMP checksum of the unfragmented IPv4 packet at ipOff verifies. A
 * UDP checksum of 0 means the sender computed none (RFC 768) and verifies. False for fragments,
 * other protocols, too-short L4 headers, and partial checksums (see the file comment).
 */
export function verifyL4Checksum4(buf: Uint8Array, ipOff: number): boolean {
  const proto = ipv4Proto(buf, ipOff);
  const hlen = ipv4HeaderLen(buf, ipOff);
  const l4Len = ipv4TotalLen(buf, ipOff) - hlen;
  const min = l4MinLen(proto);
  if (min < 0 || l4Len < min || ipv4IsFragment(buf, ipOff)) return false;
  const l4 = ipOff + hlen;
  if (proto === IPPROTO_UDP && buf[l4 + UDP_CSUM] === 0 && buf[l4 + UDP_CSUM + 1] === 0) return true;
  const initial = proto === IPPROTO_ICMP ? 0 : pseudoHeaderSum4(ipv4Src(buf, ipOff), ipv4Dst(buf, ipOff), proto, l4Len);
  return foldSum(sumWords(buf, l4, l4Len, initial)) === 0xffff;
}

/**
 * Computes and stores the TCP, UDP or ICMPv6 checksum of the IPv6 packet at ipOff, past any
 * Hop-by-Hop/Routing/Destination Options headers, over the upper-layer length (Payload Length
 * minus the extension headers, RFC 8200 section 8.1). A UDP result of 0 is stored as 0xffff.
 * Returns false and writes nothing for fragments, other protocols, malformed extension headers or
 * a too-short L4 header. With a Routing header whose Segments Left is not 0 the pseudo header
 * would need the final destination: not supported (the overlay never routes by source).
 */
export function fillL4Checksum6(buf: Uint8Array, ipOff: number): boolean {
  const total = IPV6_HLEN + ipv6PayloadLen(buf, ipOff);
  const l4 = ipv6UpperLayerOffset(buf, ipOff, total);
  if (l4 < 0) return false;
  const proto = ipv6UpperLayerProto(buf, ipOff, total);
  const l4Len = ipOff + total - l4;
  const min = l4MinLen(proto);
  if (min < 0 || proto === IPPROTO_ICMP || l4Len < min) return false;
  const field = l4 + l4ChecksumOffset(proto);
  buf[field] = 0;
  buf[field + 1] = 0;
  const initial = pseudoHeaderSum6(buf, ipOff + IPV6_SRC, ipOff + IPV6_DST, proto, l4Len);
  let c = ~foldSum(sumWords(buf, l4, l4Len, initial)) & 0xffff;
  if (c === 0 && proto === IPPROTO_UDP) c = 0xffff;
  buf[field] = c >>> 8;
  buf[field + 1] = c;
  return true;
}

/**
 * True when the TCP, UDP or ICMPv6 checksum of the IPv6 packet at ipOff verifies (past
 * extension headers). A UDP checksum of 0 is invalid over IPv6 (RFC 8200 section 8.1; the
 * RFC 6935 tunnel exception is not used by the overlay) and verifies false.
 */
export function verifyL4Checksum6(buf: Uint8Array, ipOff: number): boolean {
  const total = IPV6_HLEN + ipv6PayloadLen(buf, ipOff);
  const l4 = ipv6UpperLayerOffset(buf, ipOff, total);
  if (l4 < 0) return false;
  const proto = ipv6UpperLayerProto(buf, ipOff, total);
  const l4Len = ipOff + total - l4;
  const min = l4MinLen(proto);
  if (min < 0 || proto === IPPROTO_ICMP || l4Len < min) return false;
  if (proto === IPPROTO_UDP && buf[l4 + UDP_CSUM] === 0 && buf[l4 + UDP_CSUM + 1] === 0) return false;
  return foldSum(sumWords(buf, l4, l4Len, pseudoHeaderSum6(buf, ipOff + IPV6_SRC, ipOff + IPV6_DST, proto, l4Len))) === 0xffff;
}

/**
 * The value a partial (NEEDS_CSUM / CHECKSUM_PARTIAL) TCP or UDP checksum field of this IPv4
 * packet holds: the folded pseudo-header sum, not complemented. -1 for other protocols.
 */
export function partialChecksum4(buf: Uint8Array, ipOff: number): number {
  const proto = ipv4Proto(buf, ipOff);
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return -1;
  const l4Len = ipv4TotalLen(buf, ipOff) - ipv4HeaderLen(buf, ipOff);
  return foldSum(pseudoHeaderSum4(ipv4Src(buf, ipOff), ipv4Dst(buf, ipOff), proto, l4Len));
}

/** The same for IPv6 (TCP, UDP or ICMPv6 past extension headers); -1 otherwise. */
export function partialChecksum6(buf: Uint8Array, ipOff: number): number {
  const total = IPV6_HLEN + ipv6PayloadLen(buf, ipOff);
  const l4 = ipv6UpperLayerOffset(buf, ipOff, total);
  const proto = ipv6UpperLayerProto(buf, ipOff, total);
  if (l4 < 0 || (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && proto !== IPPROTO_ICMPV6)) return -1;
  return foldSum(pseudoHeaderSum6(buf, ipOff + IPV6_SRC, ipOff + IPV6_DST, proto, ipOff + total - l4));
}

/**
 * Rewrites the IPv4 source address (SNAT) and updates, incrementally: the header checksum, and
 * for TCP/UDP with the L4 header in this packet (whole datagram or first fragment) the L4
 * checksum, whose pseudo header includes the address. A UDP checksum of 0 (none) stays 0, a
 * result of 0 becomes 0xffff. With l4Partial the L4 field is a partial sum and is updated as one
 * (it stays partial). ICMP has no pseudo header: its checksum is untouched.
 */
export function ipv4RewriteSrc(buf: Uint8Array, ipOff: number, newSrc: number, l4Partial: boolean = false): void {
  rewriteIPv4Addr(buf, ipOff, IPV4_SRC, newSrc, l4Partial);
}

/** ipv4RewriteSrc for the destination address (DNAT). */
export function ipv4RewriteDst(buf: Uint8Array, ipOff: number, newDst: number, l4Partial: boolean = false): void {
  rewriteIPv4Addr(buf, ipOff, IPV4_DST, newDst, l4Partial);
}

function rewriteIPv4Addr(buf: Uint8Array, ipOff: number, field: number, addr: number, l4Partial: boolean): void {
  const p = ipOff + field;
  const old = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
  const neu = addr >>> 0;
  buf[p] = neu >>> 24;
  buf[p + 1] = neu >>> 16;
  buf[p + 2] = neu >>> 8;
  buf[p + 3] = neu;
  const hc = checksumUpdate32(ipv4HeaderChecksum(buf, ipOff), old, neu);
  buf[ipOff + IPV4_CSUM] = hc >>> 8;
  buf[ipOff + IPV4_CSUM + 1] = hc;
  const proto = ipv4Proto(buf, ipOff);
  if ((proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) || ipv4FragOffset(buf, ipOff) !== 0) return;
  const hlen = ipv4HeaderLen(buf, ipOff);
  if (ipv4TotalLen(buf, ipOff) - hlen < l4MinLen(proto)) return;
  updateL4Field32(buf, ipOff + hlen + l4ChecksumOffset(proto), proto === IPPROTO_UDP, old, neu, l4Partial);
}

/**
 * Rewrites a 16-byte IPv6 address (IPV6_SRC or IPV6_DST, relative to ipOff) with the one at
 * addr[addrOff], and updates the TCP, UDP or ICMPv6 checksum incrementally (all three cover it
 * in their pseudo header). Non-first fragments and unknown protocols get the address only. Same
 * l4Partial meaning as ipv4RewriteSrc.
 */
export function ipv6RewriteAddr(
  buf: Uint8Array,
  ipOff: number,
  field: number,
  addr: Uint8Array,
  addrOff: number,
  l4Partial: boolean = false,
): void {
  const p = ipOff + field;
  const oldSum = sumWords(buf, p, 16);
  const newSum = sumWords(addr, addrOff, 16);
  for (let i = 0; i < 16; i++) buf[p + i] = addr[addrOff + i];
  const total = IPV6_HLEN + ipv6PayloadLen(buf, ipOff);
  const l4 = ipv6UpperLayerOffset(buf, ipOff, total);
  const proto = ipv6UpperLayerProto(buf, ipOff, total);
  const min = l4MinLen(proto);
  if (l4 < 0 || min < 0 || proto === IPPROTO_ICMP || ipOff + total - l4 < min) return;
  const f = l4 + l4ChecksumOffset(proto);
  const old = (buf[f] << 8) | buf[f + 1];
  const c = l4Partial ? ~checksumUpdateSum(~old & 0xffff, oldSum, newSum) & 0xffff : checksumUpdateSum(old, oldSum, newSum);
  writeL4(buf, f, proto === IPPROTO_UDP && !l4Partial && c === 0 ? 0xffff : c);
}

/**
 * Rewrites a TCP or UDP port (portField: TCP_SRC_PORT/UDP_SRC_PORT = 0 or TCP_DST_PORT/
 * UDP_DST_PORT = 2) of the L4 header at l4Off, updating its checksum incrementally (RFC 1624).
 * Works for IPv4 and IPv6. A UDP checksum of 0 (IPv4: none) stays 0. With l4Partial the
 * checksum field is left alone: ports are not in the pseudo header, the device sums them later.
 */
export function l4RewritePort(
  buf: Uint8Array,
  l4Off: number,
  proto: number,
  portField: number,
  newPort: number,
  l4Partial: boolean = false,
): void {
  const p = l4Off + portField;
  const old = (buf[p] << 8) | buf[p + 1];
  buf[p] = newPort >>> 8;
  buf[p + 1] = newPort;
  if (l4Partial || (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP)) return;
  const f = l4Off + l4ChecksumOffset(proto);
  const hc = (buf[f] << 8) | buf[f + 1];
  if (proto === IPPROTO_UDP && hc === 0) return;
  const c = checksumUpdate16(hc, old, newPort & 0xffff);
  writeL4(buf, f, proto === IPPROTO_UDP && c === 0 ? 0xffff : c);
}

/** Updates the L4 checksum field at f for a 32-bit pseudo-header word change. */
function updateL4Field32(buf: Uint8Array, f: number, udp: boolean, old: number, neu: number, partial: boolean): void {
  const hc = (buf[f] << 8) | buf[f + 1];
  if (partial) {
    // The field holds S = fold(pseudo header), so S' = fold(S - old + new): RFC 1624 on ~S.
    writeL4(buf, f, ~checksumUpdate32(~hc & 0xffff, old, neu) & 0xffff);
    return;
  }
  if (udp && hc === 0) return;
  const c = checksumUpdate32(hc, old, neu);
  writeL4(buf, f, udp && c === 0 ? 0xffff : c);
}

function writeL4(buf: Uint8Array, f: number, v: number): void {
  buf[f] = v >>> 8;
  buf[f + 1] = v;
}
