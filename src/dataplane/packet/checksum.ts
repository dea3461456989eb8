// The Internet checksum (RFC 1071) and its incremental update (RFC 1624): arithmetic only.
//
// Everything here works on 16-bit big-endian words taken in pairs of bytes starting at the
// offset it is given. A "sum" is an unfolded one's-complement partial sum (a plain non-negative
// integer that may exceed 16 bits); a "checksum" is the folded sum complemented to 16 bits, the
// value that goes on the wire.
//
// Contracts the callers must keep:
//  - A partial sum can be continued (passed as `initial`) only if the next region begins at an
//    even distance from where the first region began: sums are over word pairs, so splitting at
//    an odd point would pair bytes differently (RFC 1071 section 2(B)). The absolute offset in
//    the buffer may be odd; only the distance between regions matters.
//  - A 16-bit field that begins at an odd distance from the start of the checksummed region
//    contributes its byte-swapped value (RFC 1071 section 2(B), byte order independence): pass
//    swap16(old) and swap16(new) to checksumUpdate16 for such a field.
//
// Checksums that need IP packet context (pseudo headers, L4 fill/verify, NAT rewrites) are in
// ip-checksum.ts; the IPv4 header checksum is in ipv4.ts. They are split from this file so that
// ipv4.ts and ipv6.ts can use this arithmetic without an import cycle.

/**
 * Implementation: words summed between folds. Each word is < 2^16, so 2^20 words add < 2^36 and
 * the running sum (folded to < 2^17 before each chunk) stays far below 2^53, where JavaScript
 * numbers stop being exact integers. Folding once per chunk costs nothing measurable.
 */
const WORDS_PER_FOLD = 1 << 20;

/**
 * RFC 1071 partial sum of `len` bytes at `off`, taken as big-endian 16-bit words; an odd last
 * byte is padded with a zero byte on the right (RFC 1071 section 4.1). Returns an unfolded sum
 * (>= 0, < 2^53) that can be passed as `initial` to continue over the next region. Never reads
 * outside [off, off + len); the caller guarantees that range is inside buf.
 */
export function sumWords(buf: Uint8Array, off: number, len: number, initial: number = 0): number {
  let sum = initial > 0x1ffff ? foldSum(initial) : initial;
  const end = off + (len & ~1);
  let i = off;
  while (i < end) {
    const chunkEnd = Math.min(end, i + 2 * WORDS_PER_FOLD);
    for (; i < chunkEnd; i += 2) sum += (buf[i] << 8) | buf[i + 1];
    if (i < end) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  if (len & 1) sum += buf[off + len - 1] << 8;
  return sum;
}

/**
 * Folds a partial sum to 16 bits with end-around carry (RFC 1071 section 4.1), not complemented.
 * A non-zero sum folds to 1..0xffff (one's-complement zero shows as 0xffff), a zero sum to 0.
 */
export function foldSum(sum: number): number {
  // `& 0xffff` is exact for any integer below 2^53: ToInt32 keeps the low 32 bits.
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * The Internet checksum of `len` bytes at `off` (RFC 1071): ~fold(sum) as 16 bits. Over a region
 * that includes a correct checksum field it returns 0, which is how received data is verified.
 */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial: number = 0): number {
  return ~foldSum(sumWords(buf, off, len, initial)) & 0xffff;
}

/**
 * Partial sum of the IPv4 pseudo header (RFC 768, RFC 9293 section 3.1): source, destination,
 * zero + protocol, and the L4 length (header + data). Addresses are unsigned 32-bit values.
 */
export function pseudoHeaderSum4(srcU32: number, dstU32: number, proto: number, length: number): number {
  return (srcU32 >>> 16) + (srcU32 & 0xffff) + (dstU32 >>> 16) + (dstU32 & 0xffff) + proto + length;
}

/**
 * Partial sum of the IPv6 pseudo header (RFC 8200 section 8.1): the two 16-byte addresses read
 * from buf at srcOff/dstOff, the 32-bit upper-layer length and the next header value.
 */
export function pseudoHeaderSum6(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  proto: number,
  length: number,
): number {
  let sum = proto + (length >>> 16) + (length & 0xffff);
  for (let i = 0; i < 16; i += 2) {
    sum += ((buf[srcOff + i] << 8) | buf[srcOff + i + 1]) + ((buf[dstOff + i] << 8) | buf[dstOff + i + 1]);
  }
  return sum;
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word covered by it changes from oldWord to
 * newWord, HC' = ~(~HC + ~m + m'). O(1) instead of re-summing the packet; this is how NAT and
 * TTL decrement keep checksums right (RFC 1624 section 3, as gVisor's checksumUpdate2ByteAligned).
 * The word MUST begin at an even distance from the start of the checksummed region; for a field
 * at an odd distance pass byte-swapped words (swap16). Equal to a full recompute whenever the
 * other covered words are not all zero (always true for IP, whose covered data includes a
 * non-zero version or protocol word).
 */
export function checksumUpdate16(oldChecksum: number, oldWord: number, newWord: number): number {
  return ~foldSum((~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address): both of its 16-bit words change. */
export function checksumUpdate32(oldChecksum: number, oldU32: number, newU32: number): number {
  return (
    ~foldSum(
      (~oldChecksum & 0xffff) +
        (~(oldU32 >>> 16) & 0xffff) +
        (~oldU32 & 0xffff) +
        (newU32 >>> 16) +
        (newU32 & 0xffff),
    ) & 0xffff
  );
}

/**
 * RFC 1624 for a field whose old and new values are given as partial sums (e.g. an IPv6 address:
 * sumWords over its 16 bytes). Same alignment contract as checksumUpdate16.
 */
export function checksumUpdateSum(oldChecksum: number, oldSum: number, newSum: number): number {
  return ~foldSum((~oldChecksum & 0xffff) + (~foldSum(oldSum) & 0xffff) + foldSum(newSum)) & 0xffff;
}

/** Swaps the two bytes of a 16-bit value: for checksum updates of fields at odd distances. */
export function swap16(v: number): number {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}
