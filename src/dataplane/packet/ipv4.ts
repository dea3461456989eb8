// IPv4 header (RFC 791 section 3.1). Offsets relative to the start of the IP header.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version|  IHL  |Type of Service|          Total Length         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Identification        |Flags|      Fragment Offset    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Time to Live |    Protocol   |         Header Checksum       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                       Source Address                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Destination Address                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Options                    |    Padding    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Addresses are handled as unsigned 32-bit numbers in host order (10.0.1.2 is 0x0a000102), the
// same representation as PV_ADDR in io/packet-vec.ts. Options are carried, never interpreted.

import { PR_BAD_HDR_CSUM, PR_BAD_IHL, PR_BAD_TOTAL_LEN, PR_BAD_VERSION, PR_OK, PR_TRUNCATED } from './parse-reason.js';
import { checksumUpdate16, foldSum, internetChecksum, sumWords } from './checksum.js';

// Protocol constants (RFC 791 section 3.1).
export const IPV4_VER_IHL = 0;
export const IPV4_TOS = 1;
export const IPV4_TOTAL_LEN = 2;
export const IPV4_ID = 4;
export const IPV4_FLAGS_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTO = 9;
export const IPV4_CSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
/** Header length without options (IHL 5). */
export const IPV4_MIN_HLEN = 20;
/** Header length with the most options (IHL 15). */
export const IPV4_MAX_HLEN = 60;
/** Flags/fragment word: Don't Fragment. */
export const IPV4_FLAG_DF = 0x4000;
/** Flags/fragment word: More Fragments. */
export const IPV4_FLAG_MF = 0x2000;
/** Flags/fragment word: fragment offset, in units of 8 bytes. */
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;
/** The smallest MTU every IPv4 link must carry (RFC 791 section 3.2, "68 octets"). */
export const IPV4_MIN_MTU = 68;
/** Implementation: TTL of packets we originate (ICMP errors), Linux's default ip_default_ttl. */
export const IPV4_DEFAULT_TTL = 64;

/**
 * Validates the IPv4 header at off against the len bytes available there. Returns PR_OK, or:
 * PR_TRUNCATED (len < 20), PR_BAD_VERSION (not 4), PR_BAD_IHL (IHL < 5 or the header does not
 * fit in len), PR_BAD_TOTAL_LEN (Total Length < header length or > len), PR_BAD_HDR_CSUM.
 * Fragments are valid here: ask ipv4IsFragment / ipv4FragOffset. After PR_OK every reader below
 * is in bounds, and the datagram is ipv4TotalLen bytes (len may be larger: link padding).
 */
export function checkIPv4(buf: Uint8Array, off: number, len: number): number {
  if (len < IPV4_MIN_HLEN) return PR_TRUNCATED;
  const vi = buf[off];
  if (vi >>> 4 !== 4) return PR_BAD_VERSION;
  const hlen = (vi & 15) << 2;
  if (hlen < IPV4_MIN_HLEN || hlen > len) return PR_BAD_IHL;
  const total = (buf[off + IPV4_TOTAL_LEN] << 8) | buf[off + IPV4_TOTAL_LEN + 1];
  if (total < hlen || total > len) return PR_BAD_TOTAL_LEN;
  if (foldSum(sumWords(buf, off, hlen)) !== 0xffff) return PR_BAD_HDR_CSUM;
  return PR_OK;
}

/** Version nibble (4 for IPv4, 6 for IPv6: use it to dispatch a TUN packet). */
export function ipVersion(buf: Uint8Array, off: number): number {
  return buf[off] >>> 4;
}

/** Header length in bytes (IHL * 4). */
export function ipv4HeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off] & 15) << 2;
}

export function ipv4Tos(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_TOS];
}

/** Total Length: header plus data, in bytes. */
export function ipv4TotalLen(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_TOTAL_LEN] << 8) | buf[off + IPV4_TOTAL_LEN + 1];
}

export function ipv4Id(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_ID] << 8) | buf[off + IPV4_ID + 1];
}

/** The raw flags + fragment offset word (mask with IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_FRAG_OFFSET_MASK). */
export function ipv4FlagsFrag(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_FLAGS_FRAG] << 8) | buf[off + IPV4_FLAGS_FRAG + 1];
}

/** The flag bits alone, in place (compare with IPV4_FLAG_DF / IPV4_FLAG_MF). */
export function ipv4Flags(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_FLAGS_FRAG] << 8) & 0xe000;
}

/** Don't Fragment is set. */
export function ipv4Df(buf: Uint8Array, off: number): boolean {
  return (buf[off + IPV4_FLAGS_FRAG] & 0x40) !== 0;
}

/** More Fragments is set. */
export function ipv4Mf(buf: Uint8Array, off: number): boolean {
  return (buf[off + IPV4_FLAGS_FRAG] & 0x20) !== 0;
}

/** Fragment offset in bytes (the field times 8). 0 for whole datagrams and first fragments. */
export function ipv4FragOffset(buf: Uint8Array, off: number): number {
  return (((buf[off + IPV4_FLAGS_FRAG] << 8) | buf[off + IPV4_FLAGS_FRAG + 1]) & IPV4_FRAG_OFFSET_MASK) << 3;
}

/** True for any fragment (MF set or offset non-zero): the L4 checksum cannot be checked alone. */
export function ipv4IsFragment(buf: Uint8Array, off: number): boolean {
  return (((buf[off + IPV4_FLAGS_FRAG] << 8) | buf[off + IPV4_FLAGS_FRAG + 1]) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0;
}

export function ipv4Ttl(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_TTL];
}

/** Protocol number (IPPROTO_* in ip-proto.ts). */
export function ipv4Proto(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_PROTO];
}

export function ipv4HeaderChecksum(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_CSUM] << 8) | buf[off + IPV4_CSUM + 1];
}

/** Source address, unsigned 32-bit. */
export function ipv4Src(buf: Uint8Array, off: number): number {
  return readU32(buf, off + IPV4_SRC);
}

/** Destination address, unsigned 32-bit. */
export function ipv4Dst(buf: Uint8Array, off: number): number {
  return readU32(buf, off + IPV4_DST);
}

/** Recomputes and stores the header checksum over IHL * 4 bytes. */
export function fillIPv4HeaderChecksum(buf: Uint8Array, off: number): void {
  buf[off + IPV4_CSUM] = 0;
  buf[off + IPV4_CSUM + 1] = 0;
  const c = internetChecksum(buf, off, (buf[off] & 15) << 2);
  buf[off + IPV4_CSUM] = c >>> 8;
  buf[off + IPV4_CSUM + 1] = c;
}

/** True when the header checksum over IHL * 4 bytes verifies. */
export function verifyIPv4HeaderChecksum(buf: Uint8Array, off: number): boolean {
  return foldSum(sumWords(buf, off, (buf[off] & 15) << 2)) === 0xffff;
}

/**
 * Writes a 20-byte header (no options, TOS 0) with its checksum and returns IPV4_MIN_HLEN.
 * flagsFrag is the raw flags/fragment word (e.g. IPV4_FLAG_DF); src/dst are unsigned 32-bit.
 */
export function writeIPv4Header(
  out: Uint8Array,
  off: number,
  totalLen: number,
  id: number,
  flagsFrag: number,
  ttl: number,
  proto: number,
  src: number,
  dst: number,
): number {
  out[off] = 0x45;
  out[off + IPV4_TOS] = 0;
  out[off + IPV4_TOTAL_LEN] = totalLen >>> 8;
  out[off + IPV4_TOTAL_LEN + 1] = totalLen;
  out[off + IPV4_ID] = id >>> 8;
  out[off + IPV4_ID + 1] = id;
  out[off + IPV4_FLAGS_FRAG] = flagsFrag >>> 8;
  out[off + IPV4_FLAGS_FRAG + 1] = flagsFrag;
  out[off + IPV4_TTL] = ttl;
  out[off + IPV4_PROTO] = proto;
  writeU32(out, off + IPV4_SRC, src);
  writeU32(out, off + IPV4_DST, dst);
  out[off + IPV4_CSUM] = 0;
  out[off + IPV4_CSUM + 1] = 0;
  const c = internetChecksum(out, off, IPV4_MIN_HLEN);
  out[off + IPV4_CSUM] = c >>> 8;
  out[off + IPV4_CSUM + 1] = c;
  return IPV4_MIN_HLEN;
}

/** Sets the TOS byte, updating the header checksum incrementally (RFC 1624). */
export function setIPv4Tos(buf: Uint8Array, off: number, tos: number): void {
  const oldWord = (buf[off] << 8) | buf[off + IPV4_TOS];
  buf[off + IPV4_TOS] = tos;
  const newWord = (buf[off] << 8) | buf[off + IPV4_TOS];
  setU16(buf, off + IPV4_CSUM, checksumUpdate16(ipv4HeaderChecksum(buf, off), oldWord, newWord));
}

/**
 * Decrements the TTL by one and updates the header checksum incrementally (RFC 1812 section
 * 5.3.1, RFC 1624). Returns the new TTL. The caller decides about TTL <= 1 first (a router sends
 * Time Exceeded instead of forwarding); a TTL of 0 is left as it is and 0 is returned.
 */
export function ipv4DecrementTtl(buf: Uint8Array, off: number): number {
  const ttl = buf[off + IPV4_TTL];
  if (ttl === 0) return 0;
  const proto = buf[off + IPV4_PROTO];
  buf[off + IPV4_TTL] = ttl - 1;
  setU16(buf, off + IPV4_CSUM, checksumUpdate16(ipv4HeaderChecksum(buf, off), (ttl << 8) | proto, ((ttl - 1) << 8) | proto));
  return ttl - 1;
}

/**
 * Parses dotted-quad "10.0.1.2" into an unsigned 32-bit value. Config-time. Rejects leading
 * zeros ("010" is octal to some parsers, decimal to others) with a RangeError naming the input.
 */
export function parseIPv4(text: string): number {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (m !== null) {
    const a = +m[1]!, b = +m[2]!, c = +m[3]!, d = +m[4]!;
    if (a < 256 && b < 256 && c < 256 && d < 256) return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  }
  throw new RangeError(`parse IPv4 address: expected dotted quad like 10.0.1.2, got ${JSON.stringify(text)}`);
}

/** "10.0.1.2" for an unsigned 32-bit address. */
export function formatIPv4(u32: number): string {
  return `${u32 >>> 24}.${(u32 >>> 16) & 255}.${(u32 >>> 8) & 255}.${u32 & 255}`;
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

function setU16(out: Uint8Array, o: number, v: number): void {
  out[o] = v >>> 8;
  out[o + 1] = v;
}
