// UDP header (RFC 768). Offsets relative to the start of the UDP header.
//
//    0      7 8     15 16    23 24    31
//   +--------+--------+--------+--------+
//   |     Source      |   Destination   |
//   |      Port       |      Port       |
//   +--------+--------+--------+--------+
//   |                 |                 |
//   |     Length      |    Checksum     |
//   +--------+--------+--------+--------+
//   |          data octets ...
//   +---------------- ...
//
// Checksum rules (RFC 768; RFC 8200 section 8.1): over IPv4 a transmitted 0 means "no checksum"
// and a computed 0 is sent as 0xffff; over IPv6 the checksum is mandatory. The fill/verify
// helpers in ip-checksum.ts apply them.

import { PR_BAD_UDP_LEN, PR_OK, PR_TRUNCATED } from './parse-reason.js';

// Protocol constants (RFC 768).
export const UDP_SRC_PORT = 0;
export const UDP_DST_PORT = 2;
export const UDP_LEN = 4;
export const UDP_CSUM = 6;
export const UDP_HLEN = 8;

/**
 * Validates the UDP header at off given the len bytes of IP payload there: PR_OK, PR_TRUNCATED
 * (len < 8), or PR_BAD_UDP_LEN (Length < 8 or > len). A Length below len is valid (the rest is
 * IP padding, which Linux trims the same way); the datagram is udpLength bytes.
 */
export function checkUdp(buf: Uint8Array, off: number, len: number): number {
  if (len < UDP_HLEN) return PR_TRUNCATED;
  const ulen = (buf[off + UDP_LEN] << 8) | buf[off + UDP_LEN + 1];
  if (ulen < UDP_HLEN || ulen > len) return PR_BAD_UDP_LEN;
  return PR_OK;
}

export function udpSrcPort(buf: Uint8Array, off: number): number {
  return (buf[off + UDP_SRC_PORT] << 8) | buf[off + UDP_SRC_PORT + 1];
}

export function udpDstPort(buf: Uint8Array, off: number): number {
  return (buf[off + UDP_DST_PORT] << 8) | buf[off + UDP_DST_PORT + 1];
}

/** Length field: header plus data, in bytes. */
export function udpLength(buf: Uint8Array, off: number): number {
  return (buf[off + UDP_LEN] << 8) | buf[off + UDP_LEN + 1];
}

export function udpChecksum(buf: Uint8Array, off: number): number {
  return (buf[off + UDP_CSUM] << 8) | buf[off + UDP_CSUM + 1];
}

/**
 * Writes an 8-byte UDP header and returns UDP_HLEN. `length` covers header plus data. The
 * checksum is written as given (default 0): fill it afterwards with fillL4Checksum4/6.
 */
export function writeUdpHeader(
  out: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  length: number,
  checksum: number = 0,
): number {
  out[off] = srcPort >>> 8;
  out[off + 1] = srcPort;
  out[off + 2] = dstPort >>> 8;
  out[off + 3] = dstPort;
  out[off + 4] = length >>> 8;
  out[off + 5] = length;
  out[off + 6] = checksum >>> 8;
  out[off + 7] = checksum;
  return UDP_HLEN;
}
