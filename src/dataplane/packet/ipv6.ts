// IPv6 header (RFC 8200 section 3). Offsets relative to the start of the IP header.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version| Traffic Class |           Flow Label                  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Payload Length        |  Next Header  |   Hop Limit   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                                                               |
//   +                         Source Address                        +
//   |                          (16 bytes)                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                                                               |
//   +                      Destination Address                      +
//   |                          (16 bytes)                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Addresses are never copied out: they are read in place at off + IPV6_SRC / off + IPV6_DST and
// compared with ipv6Equal, so the hot path allocates nothing.
//
// Extension headers (RFC 8200 section 4): ipv6UpperLayerOffset/Proto skip Hop-by-Hop, Routing
// and Destination Options headers and stop at anything else, including a Fragment header
// (IPPROTO_FRAGMENT: the caller decides what to do with fragments). Jumbograms (RFC 2675) are
// not supported: Payload Length 0 means an empty payload.

import { PR_BAD_PAYLOAD_LEN, PR_BAD_VERSION, PR_OK, PR_TRUNCATED } from './parse-reason.js';
import { IPPROTO_DSTOPTS, IPPROTO_HOPOPTS, IPPROTO_ROUTING } from './ip-proto.js';

// Protocol constants (RFC 8200 section 3).
export const IPV6_VTC_FLOW = 0;
export const IPV6_PAYLOAD_LEN = 4;
export const IPV6_NEXT_HEADER = 6;
export const IPV6_HOP_LIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;
export const IPV6_HLEN = 40;
/** Bytes in an IPv6 address. */
export const IPV6_ALEN = 16;
/** Every IPv6 link carries at least this (RFC 8200 section 5). */
export const IPV6_MIN_MTU = 1280;
/** Fragment header length and layout (RFC 8200 section 4.5), relative to the fragment header. */
export const IPV6_FRAG_HLEN = 8;
export const IPV6_FRAG_OFFSET = 2;
export const IPV6_FRAG_ID = 4;

/**
 * Implementation: most extension headers skipped before giving up. Real traffic has at most two
 * or three (RFC 8200 section 4.1 lists the order); a bound keeps a crafted chain from costing
 * more than a few reads, as Linux's ipv6_skip_exthdr is bounded by the packet.
 */
export const IPV6_MAX_EXT_HEADERS = 8;
/** Implementation: hop limit of packets we originate (ICMPv6 errors), Linux's default. */
export const IPV6_DEFAULT_HOP_LIMIT = 64;

/**
 * Validates the IPv6 header at off against the len bytes available there: PR_OK, PR_TRUNCATED
 * (len < 40), PR_BAD_VERSION, or PR_BAD_PAYLOAD_LEN (40 + Payload Length > len). Extension
 * headers are not walked here. After PR_OK the packet is 40 + ipv6PayloadLen bytes.
 */
export function checkIPv6(buf: Uint8Array, off: number, len: number): number {
  if (len < IPV6_HLEN) return PR_TRUNCATED;
  if (buf[off] >>> 4 !== 6) return PR_BAD_VERSION;
  const plen = (buf[off + IPV6_PAYLOAD_LEN] << 8) | buf[off + IPV6_PAYLOAD_LEN + 1];
  if (IPV6_HLEN + plen > len) return PR_BAD_PAYLOAD_LEN;
  return PR_OK;
}

export function ipv6TrafficClass(buf: Uint8Array, off: number): number {
  return ((buf[off] & 15) << 4) | (buf[off + 1] >>> 4);
}

export function ipv6FlowLabel(buf: Uint8Array, off: number): number {
  return ((buf[off + 1] & 15) << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

/** Payload Length: bytes after the 40-byte header, extension headers included. */
export function ipv6PayloadLen(buf: Uint8Array, off: number): number {
  return (buf[off + IPV6_PAYLOAD_LEN] << 8) | buf[off + IPV6_PAYLOAD_LEN + 1];
}

/** Next Header of the fixed header (may be an extension header: see ipv6UpperLayerProto). */
export function ipv6NextHeader(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_NEXT_HEADER];
}

export function ipv6HopLimit(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_HOP_LIMIT];
}

/** True when the 16-byte addresses at a[aOff] and b[bOff] are equal. */
export function ipv6Equal(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < IPV6_ALEN; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/** Copies a 16-byte address; returns IPV6_ALEN. Overlap-safe. */
export function copyIPv6(out: Uint8Array, off: number, src: Uint8Array, srcOff: number): number {
  if (out === src && off > srcOff) {
    for (let i = IPV6_ALEN - 1; i >= 0; i--) out[off + i] = src[srcOff + i];
  } else {
    for (let i = 0; i < IPV6_ALEN; i++) out[off + i] = src[srcOff + i];
  }
  return IPV6_ALEN;
}

/** ff00::/8 (RFC 4291 section 2.7). */
export function isIPv6Multicast(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xff;
}

/** :: (RFC 4291 section 2.5.2). */
export function isIPv6Unspecified(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < IPV6_ALEN; i++) if (buf[off + i] !== 0) return false;
  return true;
}

/** fe80::/10 (RFC 4291 section 2.5.6). */
export function isIPv6LinkLocal(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xfe && (buf[off + 1] & 0xc0) === 0x80;
}

/** Solicited-node multicast ff02::1:ff00:0/104 (RFC 4291 section 2.7.1). */
export function isSolicitedNodeMulticast(buf: Uint8Array, off: number): boolean {
  if (buf[off] !== 0xff || buf[off + 1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 11] === 0x01 && buf[off + 12] === 0xff;
}

/** Writes ff02::1:ffXX:XXXX for the address at target[targetOff] (RFC 4291 2.7.1); returns 16. */
export function writeSolicitedNodeMulticast(out: Uint8Array, off: number, target: Uint8Array, targetOff: number): number {
  const b13 = target[targetOff + 13], b14 = target[targetOff + 14], b15 = target[targetOff + 15];
  out[off] = 0xff;
  out[off + 1] = 0x02;
  out.fill(0, off + 2, off + 11);
  out[off + 11] = 0x01;
  out[off + 12] = 0xff;
  out[off + 13] = b13;
  out[off + 14] = b14;
  out[off + 15] = b15;
  return IPV6_ALEN;
}

/**
 * Writes a 40-byte header (traffic class and flow label 0) and returns IPV6_HLEN. src and dst
 * are read from their buffers before anything is written, so they may lie inside out.
 */
export function writeIPv6Header(
  out: Uint8Array,
  off: number,
  payloadLen: number,
  nextHeader: number,
  hopLimit: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
): number {
  // Addresses first: writing the first 8 bytes could clobber a source address given in place.
  copyIPv6(out, off + IPV6_SRC, src, srcOff);
  copyIPv6(out, off + IPV6_DST, dst, dstOff);
  out[off] = 0x60;
  out[off + 1] = 0;
  out[off + 2] = 0;
  out[off + 3] = 0;
  out[off + IPV6_PAYLOAD_LEN] = payloadLen >>> 8;
  out[off + IPV6_PAYLOAD_LEN + 1] = payloadLen;
  out[off + IPV6_NEXT_HEADER] = nextHeader;
  out[off + IPV6_HOP_LIMIT] = hopLimit;
  return IPV6_HLEN;
}

/**
 * Decrements the Hop Limit (RFC 8200 section 3; IPv6 has no header checksum). Returns the new
 * value; 0 stays 0. The caller sends Time Exceeded for hop limit <= 1 instead of forwarding.
 */
export function ipv6DecrementHopLimit(buf: Uint8Array, off: number): number {
  const h = buf[off + IPV6_HOP_LIMIT];
  if (h === 0) return 0;
  buf[off + IPV6_HOP_LIMIT] = h - 1;
  return h - 1;
}

/**
 * Offset (absolute, in buf) of the first header after the IPv6 header that is not Hop-by-Hop,
 * Routing or Destination Options, or -1 when the chain is malformed: a header past 40 + Payload
 * Length or past len, Hop-by-Hop anywhere but first (RFC 8200 section 4.3), or more than
 * IPV6_MAX_EXT_HEADERS. Precondition: checkIPv6(buf, off, len) === PR_OK. No allocation.
 */
export function ipv6UpperLayerOffset(buf: Uint8Array, off: number, len: number): number {
  const r = walkExtHeaders(buf, off, len);
  return r < 0 ? -1 : off + (r >>> 8);
}

/**
 * Protocol number of that header (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, IPPROTO_FRAGMENT,
 * IPPROTO_NONE, ...), or -1 when the chain is malformed. Same precondition.
 */
export function ipv6UpperLayerProto(buf: Uint8Array, off: number, len: number): number {
  const r = walkExtHeaders(buf, off, len);
  return r < 0 ? -1 : r & 0xff;
}

/** Returns (bytes from off to the upper-layer header) << 8 | its protocol, or -1. */
function walkExtHeaders(buf: Uint8Array, off: number, len: number): number {
  let nh = buf[off + IPV6_NEXT_HEADER];
  if (nh !== IPPROTO_HOPOPTS && nh !== IPPROTO_ROUTING && nh !== IPPROTO_DSTOPTS) return (IPV6_HLEN << 8) | nh;
  const plen = (buf[off + IPV6_PAYLOAD_LEN] << 8) | buf[off + IPV6_PAYLOAD_LEN + 1];
  const end = Math.min(len, IPV6_HLEN + plen);
  let p = IPV6_HLEN;
  for (let n = 0; n < IPV6_MAX_EXT_HEADERS; n++) {
    if (nh === IPPROTO_HOPOPTS && n !== 0) return -1;
    if (p + 2 > end) return -1;
    const hl = (buf[off + p + 1] + 1) << 3;
    if (p + hl > end) return -1;
    nh = buf[off + p];
    p += hl;
    if (nh !== IPPROTO_HOPOPTS && nh !== IPPROTO_ROUTING && nh !== IPPROTO_DSTOPTS) return (p << 8) | nh;
  }
  return -1;
}

/** Fragment Offset in bytes of the Fragment header at fragOff (0 for a first fragment). */
export function ipv6FragOffset(buf: Uint8Array, fragOff: number): number {
  return ((buf[fragOff + IPV6_FRAG_OFFSET] << 8) | buf[fragOff + IPV6_FRAG_OFFSET + 1]) & 0xfff8;
}

/** M flag of the Fragment header at fragOff: more fragments follow. */
export function ipv6FragMore(buf: Uint8Array, fragOff: number): boolean {
  return (buf[fragOff + IPV6_FRAG_OFFSET + 1] & 1) === 1;
}

/**
 * Parses an IPv6 address in any RFC 4291 section 2.2 text form ("fd00:1::2", "::",
 * "::ffff:10.0.1.2") into 16 bytes at out[off]; returns 16. Config-time. Zone indices ("%eth0")
 * are rejected. Throws a RangeError naming the input.
 */
export function parseIPv6(text: string, out: Uint8Array, off: number = 0): number {
  const fail = (): never => {
    throw new RangeError(`parse IPv6 address: expected RFC 4291 text like fd00:1::2, got ${JSON.stringify(text)}`);
  };
  const groups: number[] = [];
  let rest = text;
  // A dotted IPv4 tail counts as two groups (RFC 4291 section 2.2, form 3).
  let tail: number[] = [];
  const dot = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(rest);
  if (dot !== null) {
    const parts = dot[2]!.split('.');
    const bytes: number[] = [];
    for (const p of parts) {
      if (!/^(0|[1-9]\d{0,2})$/.test(p) || +p > 255) fail();
      bytes.push(+p);
    }
    tail = [(bytes[0]! << 8) | bytes[1]!, (bytes[2]! << 8) | bytes[3]!];
    rest = dot[1]!;
    // "::1.2.3.4" leaves "::"; "1::2:1.2.3.4" leaves "1::2:": drop the ':' that joined the tail.
    if (rest.endsWith(':') && !rest.endsWith('::')) rest = rest.slice(0, -1);
  }
  const halves = rest.split('::');
  if (halves.length > 2) fail();
  const parseSide = (s: string): number[] => {
    if (s === '') return [];
    return s.split(':').map((g) => {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) fail();
      return parseInt(g, 16);
    });
  };
  const head = parseSide(halves[0]!);
  if (halves.length === 2) {
    const right = parseSide(halves[1]!).concat(tail);
    const missing = 8 - head.length - right.length;
    if (missing < 1) fail();
    groups.push(...head);
    for (let i = 0; i < missing; i++) groups.push(0);
    groups.push(...right);
  } else {
    groups.push(...head, ...tail);
    if (groups.length !== 8) fail();
  }
  for (let i = 0; i < 8; i++) {
    out[off + 2 * i] = groups[i]! >>> 8;
    out[off + 2 * i + 1] = groups[i]!;
  }
  return IPV6_ALEN;
}

/**
 * RFC 5952 canonical text of the address at buf[off]: lower-case hex without leading zeros, the
 * longest run (first on a tie) of two or more zero groups as "::", and IPv4-mapped addresses
 * (::ffff:0:0/96) with a dotted tail (RFC 5952 section 5). Allocates: not per packet.
 */
export function formatIPv6(buf: Uint8Array, off: number = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return g.map((x) => x.toString(16)).join(':');
  const left = g.slice(0, bestStart).map((x) => x.toString(16)).join(':');
  const right = g.slice(bestStart + bestLen).map((x) => x.toString(16)).join(':');
  return `${left}::${right}`;
}
