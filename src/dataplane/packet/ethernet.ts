// Ethernet II frames (IEEE 802.3, the DIX framing of RFC 894 / RFC 2464): only the inner frames
// that VXLAN carries (RFC 7348 section 5), so no preamble, no FCS and no minimum-size padding.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                  Destination MAC address ...                  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   ... Destination (cont.)     |     Source MAC address ...    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                   ... Source (cont.)                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           EtherType           |  payload ...
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// 802.1Q tags are not parsed: the overlay never produces them and a tagged inner frame is
// forwarded or dropped by EtherType (ETHERTYPE_VLAN) like any other unknown type.

import { PR_OK, PR_TRUNCATED } from './parse-reason.js';

// Protocol constants (IEEE 802.3; EtherTypes from the IEEE registry, RFC 894, RFC 826, RFC 2464).
export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;
/** Ethernet header length without 802.1Q tag. */
export const ETH_HLEN = 14;
/** Bytes in a MAC address. */
export const ETH_ALEN = 6;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;

/** PR_OK when an Ethernet header fits in len bytes at off, else PR_TRUNCATED. */
export function checkEthernet(_buf: Uint8Array, _off: number, len: number): number {
  return len >= ETH_HLEN ? PR_OK : PR_TRUNCATED;
}

/** EtherType of the frame at off. */
export function ethType(buf: Uint8Array, off: number): number {
  return (buf[off + ETH_TYPE] << 8) | buf[off + ETH_TYPE + 1];
}

/** Writes dst MAC, src MAC and EtherType at off; returns ETH_HLEN. The MACs may lie inside out. */
export function writeEthernetHeader(
  out: Uint8Array,
  off: number,
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  srcOff: number,
  etherType: number,
): number {
  // Read both MACs before writing, so swapping them in place (a reply) works.
  const d0 = dst[dstOff], d1 = dst[dstOff + 1], d2 = dst[dstOff + 2], d3 = dst[dstOff + 3], d4 = dst[dstOff + 4], d5 = dst[dstOff + 5];
  const s0 = src[srcOff], s1 = src[srcOff + 1], s2 = src[srcOff + 2], s3 = src[srcOff + 3], s4 = src[srcOff + 4], s5 = src[srcOff + 5];
  out[off] = d0; out[off + 1] = d1; out[off + 2] = d2; out[off + 3] = d3; out[off + 4] = d4; out[off + 5] = d5;
  out[off + 6] = s0; out[off + 7] = s1; out[off + 8] = s2; out[off + 9] = s3; out[off + 10] = s4; out[off + 11] = s5;
  out[off + ETH_TYPE] = etherType >>> 8;
  out[off + ETH_TYPE + 1] = etherType;
  return ETH_HLEN;
}

/** Sets the EtherType of the frame at off. */
export function setEthType(out: Uint8Array, off: number, etherType: number): void {
  out[off + ETH_TYPE] = etherType >>> 8;
  out[off + ETH_TYPE + 1] = etherType;
}

/** Copies 6 bytes of MAC from src[srcOff] to out[off]; returns ETH_ALEN. Overlap-safe. */
export function copyMac(out: Uint8Array, off: number, src: Uint8Array, srcOff: number): number {
  const b0 = src[srcOff], b1 = src[srcOff + 1], b2 = src[srcOff + 2];
  const b3 = src[srcOff + 3], b4 = src[srcOff + 4], b5 = src[srcOff + 5];
  out[off] = b0; out[off + 1] = b1; out[off + 2] = b2;
  out[off + 3] = b3; out[off + 4] = b4; out[off + 5] = b5;
  return ETH_ALEN;
}

/** True when the 6-byte MACs at a[aOff] and b[bOff] are equal. */
export function macEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return (
    a[aOff] === b[bOff] && a[aOff + 1] === b[bOff + 1] && a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3] && a[aOff + 4] === b[bOff + 4] && a[aOff + 5] === b[bOff + 5]
  );
}

/** True for ff:ff:ff:ff:ff:ff. */
export function isBroadcastMac(buf: Uint8Array, off: number): boolean {
  return (buf[off] & buf[off + 1] & buf[off + 2] & buf[off + 3] & buf[off + 4] & buf[off + 5]) === 0xff;
}

/** True when the I/G bit (least significant bit of the first byte) is set: multicast or broadcast. */
export function isMulticastMac(buf: Uint8Array, off: number): boolean {
  return (buf[off] & 1) === 1;
}

/**
 * Writes the overlay MAC of an IPv4 address: 02:42 followed by its four bytes, Docker's
 * convention (locally administered, unicast), so that a task's MAC follows from its IP and no
 * ARP table is needed to build inner frames. Returns ETH_ALEN.
 */
export function writeMacFromIPv4(out: Uint8Array, off: number, ipv4U32: number): number {
  out[off] = 0x02;
  out[off + 1] = 0x42;
  out[off + 2] = ipv4U32 >>> 24;
  out[off + 3] = ipv4U32 >>> 16;
  out[off + 4] = ipv4U32 >>> 8;
  out[off + 5] = ipv4U32;
  return ETH_ALEN;
}

/**
 * Writes the Ethernet multicast MAC for an IPv6 multicast address (RFC 2464 section 7): 33:33
 * followed by the last four bytes of the address at ip6[ip6Off]. Returns ETH_ALEN.
 */
export function writeMacFromIPv6Multicast(out: Uint8Array, off: number, ip6: Uint8Array, ip6Off: number): number {
  const b12 = ip6[ip6Off + 12], b13 = ip6[ip6Off + 13], b14 = ip6[ip6Off + 14], b15 = ip6[ip6Off + 15];
  out[off] = 0x33;
  out[off + 1] = 0x33;
  out[off + 2] = b12;
  out[off + 3] = b13;
  out[off + 4] = b14;
  out[off + 5] = b15;
  return ETH_ALEN;
}

const HEX = '0123456789abcdef';

/** "02:42:0a:00:01:02" for the MAC at off (lower case, colon-separated). Allocates: not per packet. */
export function macToString(buf: Uint8Array, off: number = 0): string {
  let s = '';
  for (let i = 0; i < ETH_ALEN; i++) {
    const b = buf[off + i];
    if (i > 0) s += ':';
    s += HEX[b >>> 4]! + HEX[b & 15]!;
  }
  return s;
}

/**
 * Parses "02:42:0a:00:01:02" (also "-" separated, any case) into a new 6-byte Buffer.
 * Config-time. Throws a RangeError naming the input when it is not six hex pairs.
 */
export function parseMac(text: string): Buffer {
  const m = /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/.exec(
    text,
  );
  if (m === null) {
    throw new RangeError(`parse MAC address: expected six hex pairs like 02:42:0a:00:01:02, got ${JSON.stringify(text)}`);
  }
  const out = Buffer.alloc(ETH_ALEN);
  const parts = [m[1], m[3], m[4], m[5], m[6], m[7]];
  for (let i = 0; i < ETH_ALEN; i++) out[i] = parseInt(parts[i]!, 16);
  return out;
}
