// TCP header (RFC 9293 section 3.1). Offsets relative to the start of the TCP header.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |          Source Port          |       Destination Port        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                        Sequence Number                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Acknowledgment Number                      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Data |       |C|E|U|A|P|R|S|F|                               |
//   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//   |       |       |R|E|G|K|H|T|N|N|                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           Checksum            |         Urgent Pointer        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                           [Options]                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { PR_BAD_TCP_DOFF, PR_OK, PR_TRUNCATED } from './parse-reason.js';
import { checksumUpdate16, swap16 } from './checksum.js';

// Protocol constants (RFC 9293 section 3.1; option kinds from RFC 9293 3.2, RFC 7323, RFC 2018).
export const TCP_SRC_PORT = 0;
export const TCP_DST_PORT = 2;
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
export const TCP_DATA_OFF = 12;
export const TCP_FLAGS = 13;
export const TCP_WINDOW = 14;
export const TCP_CSUM = 16;
export const TCP_URGENT = 18;
/** Header length without options (Data Offset 5). */
export const TCP_MIN_HLEN = 20;
/** Header length with the most options (Data Offset 15). */
export const TCP_MAX_HLEN = 60;
export const TCP_FLAG_FIN = 0x01;
export const TCP_FLAG_SYN = 0x02;
export const TCP_FLAG_RST = 0x04;
export const TCP_FLAG_PSH = 0x08;
export const TCP_FLAG_ACK = 0x10;
export const TCP_FLAG_URG = 0x20;
export const TCP_FLAG_ECE = 0x40;
export const TCP_FLAG_CWR = 0x80;
export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;

/**
 * Validates the TCP header at off given the len bytes of segment there: PR_OK, PR_TRUNCATED
 * (len < 20), or PR_BAD_TCP_DOFF (Data Offset < 5 or header longer than len). Options are not
 * validated here (tcpOptionOffset walks them safely).
 */
export function checkTcp(buf: Uint8Array, off: number, len: number): number {
  if (len < TCP_MIN_HLEN) return PR_TRUNCATED;
  const hlen = (buf[off + TCP_DATA_OFF] >>> 4) << 2;
  if (hlen < TCP_MIN_HLEN || hlen > len) return PR_BAD_TCP_DOFF;
  return PR_OK;
}

export function tcpSrcPort(buf: Uint8Array, off: number): number {
  return (buf[off + TCP_SRC_PORT] << 8) | buf[off + TCP_SRC_PORT + 1];
}

export function tcpDstPort(buf: Uint8Array, off: number): number {
  return (buf[off + TCP_DST_PORT] << 8) | buf[off + TCP_DST_PORT + 1];
}

/** Sequence number, unsigned 32-bit. */
export function tcpSeq(buf: Uint8Array, off: number): number {
  return readU32(buf, off + TCP_SEQ);
}

/** Acknowledgment number, unsigned 32-bit. */
export function tcpAck(buf: Uint8Array, off: number): number {
  return readU32(buf, off + TCP_ACK);
}

/** Data Offset in bytes (the field times 4): where the payload starts. */
export function tcpDataOffset(buf: Uint8Array, off: number): number {
  return (buf[off + TCP_DATA_OFF] >>> 4) << 2;
}

/** The flags byte: CWR ECE URG ACK PSH RST SYN FIN (TCP_FLAG_*). */
export function tcpFlags(buf: Uint8Array, off: number): number {
  return buf[off + TCP_FLAGS];
}

/** Window field as sent (not scaled). */
export function tcpWindow(buf: Uint8Array, off: number): number {
  return (buf[off + TCP_WINDOW] << 8) | buf[off + TCP_WINDOW + 1];
}

export function tcpChecksum(buf: Uint8Array, off: number): number {
  return (buf[off + TCP_CSUM] << 8) | buf[off + TCP_CSUM + 1];
}

export function tcpUrgent(buf: Uint8Array, off: number): number {
  return (buf[off + TCP_URGENT] << 8) | buf[off + TCP_URGENT + 1];
}

/**
 * Writes a 20-byte header (Data Offset 5, urgent pointer 0, checksum 0: fill it afterwards with
 * fillL4Checksum4/6) and returns TCP_MIN_HLEN.
 */
export function writeTcpHeader(
  out: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
): number {
  out[off] = srcPort >>> 8;
  out[off + 1] = srcPort;
  out[off + 2] = dstPort >>> 8;
  out[off + 3] = dstPort;
  writeU32(out, off + TCP_SEQ, seq);
  writeU32(out, off + TCP_ACK, ack);
  out[off + TCP_DATA_OFF] = 5 << 4;
  out[off + TCP_FLAGS] = flags;
  out[off + TCP_WINDOW] = window >>> 8;
  out[off + TCP_WINDOW + 1] = window;
  out[off + TCP_CSUM] = 0;
  out[off + TCP_CSUM + 1] = 0;
  out[off + TCP_URGENT] = 0;
  out[off + TCP_URGENT + 1] = 0;
  return TCP_MIN_HLEN;
}

/**
 * Absolute offset of the first option of the given kind (its kind byte) in the header at off,
 * or -1 when absent or when the options are malformed before it (a length below 2 or running
 * past Data Offset). Precondition: checkTcp passed. No allocation.
 */
export function tcpOptionOffset(buf: Uint8Array, off: number, kind: number): number {
  const end = off + ((buf[off + TCP_DATA_OFF] >>> 4) << 2);
  let p = off + TCP_MIN_HLEN;
  while (p < end) {
    const k = buf[p];
    if (k === TCPOPT_EOL) return -1;
    if (k === TCPOPT_NOP) {
      p++;
      continue;
    }
    if (p + 2 > end) return -1;
    const l = buf[p + 1];
    if (l < 2 || p + l > end) return -1;
    if (k === kind) return p;
    p += l;
  }
  return -1;
}

/** The MSS option value (RFC 9293 section 3.7.1), or -1 when the header has no valid MSS option. */
export function tcpMss(buf: Uint8Array, off: number): number {
  const p = tcpOptionOffset(buf, off, TCPOPT_MSS);
  if (p < 0 || buf[p + 1] !== 4) return -1;
  return (buf[p + 2] << 8) | buf[p + 3];
}

/**
 * Lowers the MSS option to maxMss when it is larger (MSS clamping, so that TCP through the
 * overlay never sends segments that need the 50 bytes of VXLAN headroom it does not have).
 * Updates the checksum incrementally (RFC 1624), byte-swapping when the value sits at an odd
 * distance from the header start, unless `checksumPartial`: then the checksum field holds only
 * the pseudo-header sum (virtio-net NEEDS_CSUM / Linux CHECKSUM_PARTIAL) and the device sums the
 * options later, so it must not change. Returns true when the option was rewritten.
 */
export function tcpClampMss(buf: Uint8Array, off: number, maxMss: number, checksumPartial: boolean = false): boolean {
  const p = tcpOptionOffset(buf, off, TCPOPT_MSS);
  if (p < 0 || buf[p + 1] !== 4) return false;
  const v = p + 2;
  const old = (buf[v] << 8) | buf[v + 1];
  if (old <= maxMss) return false;
  buf[v] = maxMss >>> 8;
  buf[v + 1] = maxMss;
  if (!checksumPartial) {
    const odd = ((v - off) & 1) === 1;
    const c = checksumUpdate16(tcpChecksum(buf, off), odd ? swap16(old) : old, odd ? swap16(maxMss) : maxMss);
    buf[off + TCP_CSUM] = c >>> 8;
    buf[off + TCP_CSUM + 1] = c;
  }
  return true;
}

function readU32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

function writeU32(out: Uint8Array, o: number, v: number): void {
  out[o] = v >>> 24;
  out[o + 1] = v >>> 16;
  out[o + 2] = v >>> 8;
  out[o + 3] = v;
}
