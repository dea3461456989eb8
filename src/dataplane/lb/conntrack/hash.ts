// Word mixers for the conntrack and affinity indexes. Pure int32 arithmetic (Math.imul), no
// allocation, so V8 keeps every intermediate as a small integer. Implementation constants: the
// multipliers are murmur3/xxhash primes; any odd constants with good avalanche would do.

/** Folds one 32-bit word into h. */
export function hashMix(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Final avalanche; returns a u32. */
export function hashEnd(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Big-endian 32-bit word of b at o, as an int32. */
export function be32(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

/** Smallest power of two ≥ n (n ≥ 1). */
export function pow2AtLeast(n: number): number {
  let c = 1;
  while (c < n) c *= 2;
  return c;
}
