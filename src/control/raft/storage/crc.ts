// CRC-32 (IEEE 802.3 polynomial, the one zlib and gzip use) with a chaining seed.
//
// Choice: zlib.crc32 rather than CRC-32C (Castagnoli, etcd's pick). Node >= 20.15 ships
// zlib.crc32(data, seed) natively (zlib's braided/SIMD code, GB/s), while CRC-32C would be a
// table loop in JS (~0.5-1 GB/s) for no practical gain here: both detect every burst error up to
// 32 bits and any odd number of flipped bits in records of our size; Castagnoli's better Hamming
// distance matters for hardware links, not for torn sectors, which the framing catches anyway.
// Older Node 20 lacks zlib.crc32, so a table fallback computes the identical value.

import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** Slow reference implementation; exported for the differential test. */
export function crc32Table(data: Uint8Array, seed = 0): number {
  const t = (table ??= makeTable());
  let c = (seed ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

type Crc32Fn = (data: Uint8Array, seed?: number) => number;
const native = (zlib as unknown as { crc32?: Crc32Fn }).crc32;

/** crc32(a ++ b) === crc32(b, crc32(a)). */
export const crc32: Crc32Fn = typeof native === 'function' ? (d, s = 0) => native(d, s) : crc32Table;
