// ICMP for IPv4 (RFC 792), and the errors a router in the overlay originates: Fragmentation
// Needed with the next-hop MTU (RFC 1191 section 4) when a DF packet does not fit the tunnel, and
// the generic writeIcmpError for Time Exceeded / Destination Unreachable. Offsets relative to
// the start of the ICMP header.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Type      |     Code      |          Checksum             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   echo: Identifier / error: unused  |  echo: Sequence Number  |
//   |                                     |  type 3 code 4: MTU     |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  errors: Internet Header + as much of the original datagram   |
//   |  as fits (RFC 792: at least 64 bits; RFC 1812 4.3.2.3: up to  |
//   |  576 bytes for the whole error)                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { PR_OK, PR_TRUNCATED } from './parse-reason.js';
import { IPPROTO_ICMP } from './ip-proto.js';
import { internetChecksum } from './checksum.js';
import {
  IPV4_DEFAULT_TTL,
  IPV4_FLAG_DF,
  IPV4_MIN_HLEN,
  IPV4_MIN_MTU,
  checkIPv4,
  ipv4Dst,
  ipv4FragOffset,
  ipv4HeaderLen,
  ipv4Proto,
  ipv4Src,
  ipv4TotalLen,
  setIPv4Tos,
  writeIPv4Header,
} from './ipv4.js';

// Protocol constants (RFC 792; RFC 1191 section 4 for the MTU field).
export const ICMP_TYPE = 0;
export const ICMP_CODE = 1;
export const ICMP_CSUM = 2;
export const ICMP_ECHO_ID = 4;
export const ICMP_ECHO_SEQ = 6;
/** Next-Hop MTU of a Fragmentation Needed message (RFC 1191 section 4). */
export const ICMP_NEXT_HOP_MTU = 6;
/** Header length of echo and error messages; errors quote the original right after it. */
export const ICMP_HLEN = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;
export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
export const ICMP_UNREACH_FRAG_NEEDED = 4;
export const ICMP_UNREACH_ADMIN_PROHIBITED = 13;
export const ICMP_EXC_TTL = 0;
export const ICMP_EXC_FRAGTIME = 1;
/** An ICMP error must not be longer than this (RFC 1812 section 4.3.2.3). */
export const ICMP_ERROR_MAX_LEN = 576;
/**
 * TOS of the errors we originate: precedence 6, Internetwork Control (RFC 1812 section 4.3.2.5;
 * Linux's icmp_send does the same). ECN bits 0: an error is not part of the original's flow.
 */
export const ICMP_ERROR_TOS = 0xc0;

/** PR_OK when the 8-byte ICMP header fits in len bytes at off, else PR_TRUNCATED. */
export function checkIcmp(_buf: Uint8Array, _off: number, len: number): number {
  return len >= ICMP_HLEN ? PR_OK : PR_TRUNCATED;
}

export function icmpType(buf: Uint8Array, off: number): number {
  return buf[off + ICMP_TYPE];
}

export function icmpCode(buf: Uint8Array, off: number): number {
  return buf[off + ICMP_CODE];
}

export function icmpChecksum(buf: Uint8Array, off: number): number {
  return (buf[off + ICMP_CSUM] << 8) | buf[off + ICMP_CSUM + 1];
}

/** Identifier of an echo request/reply. */
export function icmpEchoId(buf: Uint8Array, off: number): number {
  return (buf[off + ICMP_ECHO_ID] << 8) | buf[off + ICMP_ECHO_ID + 1];
}

/** Sequence number of an echo request/reply. */
export function icmpEchoSeq(buf: Uint8Array, off: number): number {
  return (buf[off + ICMP_ECHO_SEQ] << 8) | buf[off + ICMP_ECHO_SEQ + 1];
}

/** Next-Hop MTU of a type 3 code 4 message (0 from pre-RFC 1191 routers). */
export function icmpNextHopMtu(buf: Uint8Array, off: number): number {
  return (buf[off + ICMP_NEXT_HOP_MTU] << 8) | buf[off + ICMP_NEXT_HOP_MTU + 1];
}

/** True for the ICMP error types (RFC 1812 section 4.3.2.7 list): never answered with an error. */
export function isIcmpErrorType(type: number): boolean {
  return (
    type === ICMP_DEST_UNREACH ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAM_PROBLEM
  );
}

/**
 * True when the IPv4 packet at ipOff (checkIPv4 passed) is an ICMP error message: protocol 1,
 * not a non-first fragment, at least one byte of ICMP, and an error type. Non-first fragments of
 * ICMP report false (their type is not visible); error builders refuse them on their own.
 */
export function isIcmpError(buf: Uint8Array, ipOff: number): boolean {
  if (ipv4Proto(buf, ipOff) !== IPPROTO_ICMP || ipv4FragOffset(buf, ipOff) !== 0) return false;
  const hlen = ipv4HeaderLen(buf, ipOff);
  if (ipv4TotalLen(buf, ipOff) <= hlen) return false;
  return isIcmpErrorType(buf[ipOff + hlen + ICMP_TYPE]);
}

/**
 * Builds a complete IPv4 packet carrying an ICMP error about the original IPv4 packet at
 * orig[origOff] (origLen bytes available there): from routerIp to the original's source, TTL
 * 64, TOS ICMP_ERROR_TOS, DF with ID 0 (an atomic datagram, RFC 6864 section 4.1, so no ID state
 * is needed), `rest` as the 32-bit second word of the ICMP header, then the original IP header
 * and as much of its datagram as keeps the whole error within ICMP_ERROR_MAX_LEN bytes. Both
 * checksums are filled. Returns the bytes written, or 0 (nothing written) when no error may be
 * sent (RFC 1812 section 4.3.2.7, RFC 1122 section 3.2.2):
 *  - the original fails checkIPv4, or is a non-first fragment, or is itself an ICMP error;
 *  - its source is not one host: 0.0.0.0/8, 127/8, multicast 224/4, 240/4 or broadcast;
 *  - its destination is multicast or 255.255.255.255;
 *  - out has no room for the result at off.
 * The output may overlap the original (an error written into the headroom in front of it): all
 * fields are read before anything is written. Rate limiting (RFC 1812 4.3.2.8) is the caller's.
 */
export function writeIcmpError(
  out: Uint8Array,
  off: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
  type: number,
  code: number,
  rest: number,
  routerIp: number,
): number {
  if (checkIPv4(orig, origOff, origLen) !== PR_OK) return 0;
  if (ipv4FragOffset(orig, origOff) !== 0 || isIcmpError(orig, origOff)) return 0;
  const origSrc = ipv4Src(orig, origOff);
  const origDst = ipv4Dst(orig, origOff);
  if (!isSingleHost(origSrc) || origDst >>> 28 === 0xe || origDst === 0xffffffff) return 0;
  const quote = Math.min(ipv4TotalLen(orig, origOff), ICMP_ERROR_MAX_LEN - IPV4_MIN_HLEN - ICMP_HLEN);
  const total = IPV4_MIN_HLEN + ICMP_HLEN + quote;
  if (off < 0 || off + total > out.length) return 0;
  const icmpOff = off + IPV4_MIN_HLEN;
  // Quote first: when out overlaps orig, the headers below would overwrite the original's bytes.
  out.set(orig.subarray(origOff, origOff + quote), icmpOff + ICMP_HLEN);
  out[icmpOff + ICMP_TYPE] = type;
  out[icmpOff + ICMP_CODE] = code;
  out[icmpOff + ICMP_CSUM] = 0;
  out[icmpOff + ICMP_CSUM + 1] = 0;
  out[icmpOff + 4] = rest >>> 24;
  out[icmpOff + 5] = rest >>> 16;
  out[icmpOff + 6] = rest >>> 8;
  out[icmpOff + 7] = rest;
  const c = internetChecksum(out, icmpOff, ICMP_HLEN + quote);
  out[icmpOff + ICMP_CSUM] = c >>> 8;
  out[icmpOff + ICMP_CSUM + 1] = c;
  writeIPv4Header(out, off, total, 0, IPV4_FLAG_DF, IPV4_DEFAULT_TTL, IPPROTO_ICMP, routerIp, origSrc);
  setIPv4Tos(out, off, ICMP_ERROR_TOS);
  return total;
}

/**
 * Builds a complete IPv4 Destination Unreachable / Fragmentation Needed and DF Set (type 3,
 * code 4) packet telling the original's source to use `mtu` (RFC 1191 section 4: the next-hop
 * MTU in the low 16 bits of the second word). Same rules and return value as writeIcmpError;
 * also returns 0 when mtu is outside 68..65535 (RFC 791 section 3.2 minimum).
 */
export function writeIcmpFragNeeded(
  out: Uint8Array,
  off: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
  mtu: number,
  routerIp: number,
): number {
  if (!(mtu >= IPV4_MIN_MTU && mtu <= 0xffff)) return 0;
  return writeIcmpError(out, off, orig, origOff, origLen, ICMP_DEST_UNREACH, ICMP_UNREACH_FRAG_NEEDED, mtu, routerIp);
}

/** Not 0/8, 127/8, 224/4 or 240/4 (which includes 255.255.255.255): RFC 1812 section 4.3.2.7. */
function isSingleHost(a: number): boolean {
  const first = a >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}
