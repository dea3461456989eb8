// ICMPv6 (RFC 4443) errors a router in the overlay originates (Packet Too Big, RFC 4443 section
// 3.2 / RFC 8201; Time Exceeded, Destination Unreachable), and the two Neighbor Discovery
// messages (RFC 4861) the agent answers on behalf of tasks: Neighbor Solicitation in, Neighbor
// Advertisement out. Offsets relative to the start of the ICMPv6 header unless named *_OFFSET.
//
//    ICMPv6 error (RFC 4443 section 2.1, 3.2)
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Type      |     Code      |          Checksum             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |            MTU (Packet Too Big) / unused / pointer            |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |    As much of invoking packet as possible without the ICMPv6  |
//   +               packet exceeding the minimum IPv6 MTU           +
//
//    Neighbor Solicitation (type 135) / Advertisement (type 136), RFC 4861 sections 4.3, 4.4
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Type      |     Code      |          Checksum             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |R|S|O|                     Reserved (NS: all reserved)         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   +                       Target Address (16 bytes)               +
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   Options (type, length in units of 8 bytes, value) ...
//   +-+-+-+-+-+-+-+-+-+-+-+-
//
// The Neighbor Discovery functions require the ICMPv6 header right after the 40-byte IPv6
// header (no extension headers: no stack sends ND with them), so NS_TARGET_OFFSET is fixed.

import { PR_BAD_EXT_HDR, PR_BAD_HOP_LIMIT, PR_BAD_ICMP_CODE, PR_BAD_ICMP_TYPE, PR_BAD_L4_CSUM, PR_ND_BAD_OPTION, PR_ND_BAD_SOURCE, PR_ND_BAD_TARGET, PR_OK, PR_TRUNCATED } from './parse-reason.js';
import { IPPROTO_FRAGMENT, IPPROTO_ICMPV6 } from './ip-proto.js';
import { foldSum, internetChecksum, pseudoHeaderSum6, sumWords } from './checksum.js';
import {
  IPV6_DEFAULT_HOP_LIMIT,
  IPV6_DST,
  IPV6_HLEN,
  IPV6_MIN_MTU,
  IPV6_SRC,
  checkIPv6,
  ipv6FragOffset,
  ipv6HopLimit,
  ipv6NextHeader,
  ipv6PayloadLen,
  ipv6UpperLayerOffset,
  ipv6UpperLayerProto,
  isIPv6Multicast,
  isIPv6Unspecified,
  isSolicitedNodeMulticast,
} from './ipv6.js';

// Protocol constants (RFC 4443 sections 2.1, 3; RFC 4861 sections 4.3, 4.4, 4.6; RFC 3810).
export const ICMPV6_TYPE = 0;
export const ICMPV6_CODE = 1;
export const ICMPV6_CSUM = 2;
/** MTU of a Packet Too Big message (32 bits). */
export const ICMPV6_MTU = 4;
export const ICMPV6_ECHO_ID = 4;
export const ICMPV6_ECHO_SEQ = 6;
/** Header length of error and echo messages; errors quote the original right after it. */
export const ICMPV6_HLEN = 8;
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAM_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_MLD_QUERY = 130;
export const ICMPV6_MLD_REPORT = 131;
export const ICMPV6_MLD_DONE = 132;
export const ICMPV6_ROUTER_SOLICIT = 133;
export const ICMPV6_ROUTER_ADVERT = 134;
export const ICMPV6_NEIGHBOR_SOLICIT = 135;
export const ICMPV6_NEIGHBOR_ADVERT = 136;
export const ICMPV6_REDIRECT = 137;
export const ICMPV6_MLD2_REPORT = 143;
export const ICMPV6_UNREACH_NO_ROUTE = 0;
export const ICMPV6_UNREACH_ADMIN = 1;
export const ICMPV6_UNREACH_ADDR = 3;
export const ICMPV6_UNREACH_PORT = 4;
export const ICMPV6_EXC_HOP_LIMIT = 0;
export const ICMPV6_EXC_FRAGTIME = 1;
/** Param Problem code 2: unrecognized IPv6 option (may be sent about multicast, 2.4(e.3)). */
export const ICMPV6_PARAM_UNRECOGNIZED_OPTION = 2;
/** An ICMPv6 error must not exceed the minimum IPv6 MTU (RFC 4443 section 2.4(c)). */
export const ICMPV6_ERROR_MAX_LEN = IPV6_MIN_MTU;
/** Hop Limit of every ND message; receivers drop others (RFC 4861 section 7.1). */
export const ND_HOP_LIMIT = 255;
/** Target Address of NS and NA, relative to the ICMPv6 header. */
export const ND_TARGET = 8;
/** First option of NS and NA, relative to the ICMPv6 header. */
export const ND_NS_OPTIONS = 24;
/** Length of NS/NA without options. */
export const ND_NS_MIN_LEN = 24;
/** NA flags byte (relative to the ICMPv6 header) and its bits. */
export const ND_NA_FLAGS = 4;
export const ND_NA_FLAG_ROUTER = 0x80;
export const ND_NA_FLAG_SOLICITED = 0x40;
export const ND_NA_FLAG_OVERRIDE = 0x20;
export const ND_OPT_SOURCE_LL_ADDR = 1;
export const ND_OPT_TARGET_LL_ADDR = 2;
export const ND_OPT_MTU = 5;
/** Nonce option (RFC 3971 section 5.3.2), which Linux adds to DAD probes (RFC 7527). */
export const ND_OPT_NONCE = 14;
/** NS target, relative to the IPv6 header (valid after checkNeighborSolicitation). */
export const NS_TARGET_OFFSET = IPV6_HLEN + ND_TARGET;
/** First NS option, relative to the IPv6 header (valid after checkNeighborSolicitation). */
export const NS_OPTIONS_OFFSET = IPV6_HLEN + ND_NS_OPTIONS;
/** Length of the complete IPv6 packet writeNeighborAdvertisement builds: 40 + 24 + 8. */
export const NA_PACKET_LEN = IPV6_HLEN + ND_NS_MIN_LEN + 8;

export function icmpv6Type(buf: Uint8Array, off: number): number {
  return buf[off + ICMPV6_TYPE];
}

export function icmpv6Code(buf: Uint8Array, off: number): number {
  return buf[off + ICMPV6_CODE];
}

export function icmpv6Checksum(buf: Uint8Array, off: number): number {
  return (buf[off + ICMPV6_CSUM] << 8) | buf[off + ICMPV6_CSUM + 1];
}

/** MTU of a Packet Too Big message, unsigned 32-bit. */
export function icmpv6Mtu(buf: Uint8Array, off: number): number {
  return ((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>> 0;
}

/** PR_OK when a 4-byte ICMPv6 header (type, code, checksum) fits in len bytes, else PR_TRUNCATED. */
export function checkIcmpv6(_buf: Uint8Array, _off: number, len: number): number {
  return len >= 4 ? PR_OK : PR_TRUNCATED;
}

/**
 * True when the IPv6 packet at ipOff (checkIPv6 passed) carries an ICMPv6 error message (types
 * 0..127, RFC 4443 section 2.1), looking past extension headers. Fragments report false.
 */
export function isIcmpv6Error(buf: Uint8Array, ipOff: number): boolean {
  const len = IPV6_HLEN + ipv6PayloadLen(buf, ipOff);
  const l4 = ipv6UpperLayerOffset(buf, ipOff, len);
  if (l4 < 0 || ipv6UpperLayerProto(buf, ipOff, len) !== IPPROTO_ICMPV6 || l4 >= ipOff + len) return false;
  return buf[l4 + ICMPV6_TYPE] < 128;
}

/**
 * Builds a complete IPv6 packet carrying an ICMPv6 error about the original IPv6 packet at
 * orig[origOff] (origLen bytes available): from the router address at routerIp6[routerOff] to the
 * original's source, hop limit 64, next header 58, `rest` as the 32-bit second word, then as much
 * of the original as keeps the whole within ICMPV6_ERROR_MAX_LEN (1280) bytes, checksum filled.
 * Returns the bytes written, or 0 (nothing written) when RFC 4443 section 2.4(e) forbids an
 * error or the input is unusable:
 *  - the original fails checkIPv6 or its extension header chain is malformed;
 *  - it is an ICMPv6 error or a Redirect, or a non-first fragment (whose upper layer is unknown);
 *  - its source is :: or multicast;
 *  - its destination is multicast, unless this is Packet Too Big or Parameter Problem code 2;
 *  - out has no room at off.
 * Overlap with the original is allowed (fields are read before anything is written). Rate
 * limiting (RFC 4443 section 2.4(f)) is the caller's.
 */
export function writeIcmpv6Error(
  out: Uint8Array,
  off: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
  type: number,
  code: number,
  rest: number,
  routerIp6: Uint8Array,
  routerOff: number,
): number {
  if (checkIPv6(orig, origOff, origLen) !== PR_OK) return 0;
  const origTotal = IPV6_HLEN + ipv6PayloadLen(orig, origOff);
  const l4 = ipv6UpperLayerOffset(orig, origOff, origTotal);
  if (l4 < 0) return 0;
  let proto = ipv6UpperLayerProto(orig, origOff, origTotal);
  let up = l4;
  if (proto === IPPROTO_FRAGMENT) {
    if (up + 8 > origOff + origTotal || ipv6FragOffset(orig, up) !== 0) return 0;
    proto = orig[up];
    up += 8;
  }
  if (proto === IPPROTO_ICMPV6 && up < origOff + origTotal) {
    const t = orig[up + ICMPV6_TYPE];
    if (t < 128 || t === ICMPV6_REDIRECT) return 0;
  }
  if (isIPv6Unspecified(orig, origOff + IPV6_SRC) || isIPv6Multicast(orig, origOff + IPV6_SRC)) return 0;
  const multicastOk = type === ICMPV6_PACKET_TOO_BIG || (type === ICMPV6_PARAM_PROBLEM && code === ICMPV6_PARAM_UNRECOGNIZED_OPTION);
  if (!multicastOk && isIPv6Multicast(orig, origOff + IPV6_DST)) return 0;
  const quote = Math.min(origTotal, ICMPV6_ERROR_MAX_LEN - IPV6_HLEN - ICMPV6_HLEN);
  const total = IPV6_HLEN + ICMPV6_HLEN + quote;
  if (off < 0 || off + total > out.length) return 0;
  const icmpOff = off + IPV6_HLEN;
  // Destination of the error = source of the original. Read both addresses into locals before
  // anything is written: out may overlap the original (or hold the router address).
  const o = origOff + IPV6_SRC;
  const d0 = rd32(orig, o), d1 = rd32(orig, o + 4), d2 = rd32(orig, o + 8), d3 = rd32(orig, o + 12);
  const s0 = rd32(routerIp6, routerOff), s1 = rd32(routerIp6, routerOff + 4);
  const s2 = rd32(routerIp6, routerOff + 8), s3 = rd32(routerIp6, routerOff + 12);
  out.set(orig.subarray(origOff, origOff + quote), icmpOff + ICMPV6_HLEN);
  writeHeaderWords(out, off, ICMPV6_HLEN + quote, IPV6_DEFAULT_HOP_LIMIT, s0, s1, s2, s3, d0, d1, d2, d3);
  out[icmpOff + ICMPV6_TYPE] = type;
  out[icmpOff + ICMPV6_CODE] = code;
  out[icmpOff + 4] = rest >>> 24;
  out[icmpOff + 5] = rest >>> 16;
  out[icmpOff + 6] = rest >>> 8;
  out[icmpOff + 7] = rest;
  fillIcmpv6Checksum(out, off, icmpOff, ICMPV6_HLEN + quote);
  return total;
}

/**
 * Builds a complete Packet Too Big (type 2, code 0) telling the original's source to use `mtu`
 * (RFC 4443 section 3.2, RFC 8201). Same rules and return value as writeIcmpv6Error; also returns
 * 0 when mtu < 1280 (RFC 8200 section 5: every IPv6 link carries 1280, and RFC 8201 section 4
 * tells receivers to ignore smaller values) or mtu > 2^32 - 1.
 */
export function writePacketTooBig(
  out: Uint8Array,
  off: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
  mtu: number,
  routerIp6: Uint8Array,
  routerOff: number,
): number {
  if (!(mtu >= IPV6_MIN_MTU && mtu <= 0xffffffff)) return 0;
  return writeIcmpv6Error(out, off, orig, origOff, origLen, ICMPV6_PACKET_TOO_BIG, 0, mtu, routerIp6, routerOff);
}

/**
 * Validates a Neighbor Solicitation in the IPv6 packet at ipOff (len bytes available) by the
 * rules of RFC 4861 section 7.1.1, in this order: checkIPv6's reasons; PR_BAD_EXT_HDR when the
 * ICMPv6 header does not follow the IPv6 header directly; PR_BAD_ICMP_TYPE (not ICMPv6, or type
 * not 135); PR_TRUNCATED (ICMPv6 length < 24); PR_BAD_HOP_LIMIT (not 255); PR_BAD_ICMP_CODE (not
 * 0); PR_BAD_L4_CSUM; PR_ND_BAD_TARGET (multicast target); PR_ND_BAD_OPTION (an option of length
 * 0 or past the end); PR_ND_BAD_SOURCE (source :: but destination not solicited-node multicast,
 * or a source link-layer address option). After PR_OK the target is at ipOff + NS_TARGET_OFFSET.
 */
export function checkNeighborSolicitation(buf: Uint8Array, ipOff: number, len: number): number {
  const r = checkIPv6(buf, ipOff, len);
  if (r !== PR_OK) return r;
  const nh = ipv6NextHeader(buf, ipOff);
  if (nh !== IPPROTO_ICMPV6) return nh === 0 || nh === 43 || nh === 44 || nh === 60 ? PR_BAD_EXT_HDR : PR_BAD_ICMP_TYPE;
  const plen = ipv6PayloadLen(buf, ipOff);
  const icmp = ipOff + IPV6_HLEN;
  if (plen < 1 || buf[icmp + ICMPV6_TYPE] !== ICMPV6_NEIGHBOR_SOLICIT) return PR_BAD_ICMP_TYPE;
  if (plen < ND_NS_MIN_LEN) return PR_TRUNCATED;
  if (ipv6HopLimit(buf, ipOff) !== ND_HOP_LIMIT) return PR_BAD_HOP_LIMIT;
  if (buf[icmp + ICMPV6_CODE] !== 0) return PR_BAD_ICMP_CODE;
  const sum = sumWords(buf, icmp, plen, pseudoHeaderSum6(buf, ipOff + IPV6_SRC, ipOff + IPV6_DST, IPPROTO_ICMPV6, plen));
  if (foldSum(sum) !== 0xffff) return PR_BAD_L4_CSUM;
  if (isIPv6Multicast(buf, ipOff + NS_TARGET_OFFSET)) return PR_ND_BAD_TARGET;
  const end = icmp + plen;
  let p = icmp + ND_NS_OPTIONS;
  let hasSourceLL = false;
  while (p < end) {
    if (p + 2 > end || buf[p + 1] === 0 || p + (buf[p + 1] << 3) > end) return PR_ND_BAD_OPTION;
    if (buf[p] === ND_OPT_SOURCE_LL_ADDR) hasSourceLL = true;
    p += buf[p + 1] << 3;
  }
  if (isIPv6Unspecified(buf, ipOff + IPV6_SRC) && (!isSolicitedNodeMulticast(buf, ipOff + IPV6_DST) || hasSourceLL)) {
    return PR_ND_BAD_SOURCE;
  }
  return PR_OK;
}

/**
 * Absolute offset of the first ND option of `type` (its type byte) between optOff and end, or -1.
 * For a checked NS: ndFindOption(buf, ipOff + NS_OPTIONS_OFFSET, ipOff + 40 + payloadLen,
 * ND_OPT_SOURCE_LL_ADDR); the link-layer address is at the result + 2. Stops at a malformed
 * option. No allocation.
 */
export function ndFindOption(buf: Uint8Array, optOff: number, end: number, type: number): number {
  let p = optOff;
  while (p + 2 <= end) {
    const l = buf[p + 1] << 3;
    if (l === 0 || p + l > end) return -1;
    if (buf[p] === type) return p;
    p += l;
  }
  return -1;
}

/**
 * Builds a complete IPv6 Neighbor Advertisement (RFC 4861 section 4.4, 7.2.4) of NA_PACKET_LEN
 * (72) bytes: source = the target address, destination dstIp, hop limit 255, flags Override and
 * (when `solicited`) Solicited, Router 0 (the agent answers for tasks, which are hosts), and a
 * Target Link-Layer Address option with targetMac; checksum filled. For an NS from :: (DAD),
 * RFC 4861 7.2.4 says: dstIp = ff02::1 and solicited = false. Returns NA_PACKET_LEN, or 0 when
 * out has no room. Inputs may lie inside out (they are read before anything is written).
 */
export function writeNeighborAdvertisement(
  out: Uint8Array,
  off: number,
  targetIp: Uint8Array,
  targetOff: number,
  dstIp: Uint8Array,
  dstOff: number,
  targetMac: Uint8Array,
  targetMacOff: number,
  solicited: boolean,
): number {
  if (off < 0 || off + NA_PACKET_LEN > out.length) return 0;
  const icmp = off + IPV6_HLEN;
  // Read every input before writing: answering in place, the NS's source (our dstIp) sits where
  // the NA's source goes, and its target where the NA's target goes.
  const m0 = targetMac[targetMacOff], m1 = targetMac[targetMacOff + 1], m2 = targetMac[targetMacOff + 2];
  const m3 = targetMac[targetMacOff + 3], m4 = targetMac[targetMacOff + 4], m5 = targetMac[targetMacOff + 5];
  const t0 = rd32(targetIp, targetOff), t1 = rd32(targetIp, targetOff + 4);
  const t2 = rd32(targetIp, targetOff + 8), t3 = rd32(targetIp, targetOff + 12);
  const d0 = rd32(dstIp, dstOff), d1 = rd32(dstIp, dstOff + 4), d2 = rd32(dstIp, dstOff + 8), d3 = rd32(dstIp, dstOff + 12);
  writeHeaderWords(out, off, ND_NS_MIN_LEN + 8, ND_HOP_LIMIT, t0, t1, t2, t3, d0, d1, d2, d3);
  out[icmp + ICMPV6_TYPE] = ICMPV6_NEIGHBOR_ADVERT;
  out[icmp + ICMPV6_CODE] = 0;
  out[icmp + ICMPV6_CSUM] = 0;
  out[icmp + ICMPV6_CSUM + 1] = 0;
  out[icmp + ND_NA_FLAGS] = ND_NA_FLAG_OVERRIDE | (solicited ? ND_NA_FLAG_SOLICITED : 0);
  out[icmp + 5] = 0;
  out[icmp + 6] = 0;
  out[icmp + 7] = 0;
  for (let i = 0; i < 16; i++) out[icmp + ND_TARGET + i] = out[off + IPV6_SRC + i];
  const opt = icmp + ND_NS_OPTIONS;
  out[opt] = ND_OPT_TARGET_LL_ADDR;
  out[opt + 1] = 1;
  out[opt + 2] = m0; out[opt + 3] = m1; out[opt + 4] = m2;
  out[opt + 5] = m3; out[opt + 6] = m4; out[opt + 7] = m5;
  fillIcmpv6Checksum(out, off, icmp, ND_NS_MIN_LEN + 8);
  return NA_PACKET_LEN;
}

/** writeIPv6Header for ICMPv6 with addresses given as four 32-bit words each (overlap-safe). */
function writeHeaderWords(
  out: Uint8Array,
  off: number,
  payloadLen: number,
  hopLimit: number,
  s0: number, s1: number, s2: number, s3: number,
  d0: number, d1: number, d2: number, d3: number,
): void {
  out[off] = 0x60;
  out[off + 1] = 0;
  out[off + 2] = 0;
  out[off + 3] = 0;
  out[off + 4] = payloadLen >>> 8;
  out[off + 5] = payloadLen;
  out[off + 6] = IPPROTO_ICMPV6;
  out[off + 7] = hopLimit;
  wr32(out, off + IPV6_SRC, s0); wr32(out, off + IPV6_SRC + 4, s1);
  wr32(out, off + IPV6_SRC + 8, s2); wr32(out, off + IPV6_SRC + 12, s3);
  wr32(out, off + IPV6_DST, d0); wr32(out, off + IPV6_DST + 4, d1);
  wr32(out, off + IPV6_DST + 8, d2); wr32(out, off + IPV6_DST + 12, d3);
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Writes the ICMPv6 checksum of the len-byte message at icmpOff inside the IPv6 packet at ipOff. */
function fillIcmpv6Checksum(out: Uint8Array, ipOff: number, icmpOff: number, len: number): void {
  out[icmpOff + ICMPV6_CSUM] = 0;
  out[icmpOff + ICMPV6_CSUM + 1] = 0;
  const c = internetChecksum(out, icmpOff, len, pseudoHeaderSum6(out, ipOff + IPV6_SRC, ipOff + IPV6_DST, IPPROTO_ICMPV6, len));
  out[icmpOff + ICMPV6_CSUM] = c >>> 8;
  out[icmpOff + ICMPV6_CSUM + 1] = c;
}
