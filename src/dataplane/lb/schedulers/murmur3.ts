// MurmurHash3 x86_32 (Austin Appleby, public domain; reference: smhasher MurmurHash3.cpp,
// `MurmurHash3_x86_32`). Hand-written rather than a dependency: it is ~30 lines, runs only on
// the control path (hashing backend names for Maglev), and its output is part of the table
// every node must agree on, so it must never change under us with a package upgrade.
//
// Contract: the result is a function of (UTF-8 bytes of `key`, seed) only, identical to the
// C reference on little-endian input; returned as an unsigned 32-bit integer.

const encoder = new TextEncoder();

export function murmur3x86_32(key: string | Uint8Array, seed: number): number {
  const data = typeof key === 'string' ? encoder.encode(key) : key;
  return murmur3x86_32Bytes(data, data.length, seed);
}

/** The same over the first `len` bytes of `data` (lets callers reuse one scratch buffer). */
export function murmur3x86_32Bytes(data: Uint8Array, len: number, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = len & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  // Tail: the last 1-3 bytes, as the reference's fall-through switch does.
  const rest = len & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= data[blocks + 2]! << 16;
    if (rest >= 2) k ^= data[blocks + 1]! << 8;
    k ^= data[blocks]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= len;
  // fmix32
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
