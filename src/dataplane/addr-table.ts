// An open-addressing hash map from an IP address to an int32 value, on typed arrays, so a
// lookup on the hot path allocates nothing and boxes nothing (a Map keyed by u32 addresses
// above 2^30 would box them as heap numbers). Linear probing with backward-shift deletion
// (no tombstones), so lookups stay short however many deletes the control plane makes.
// Writes (set/delete) happen on the control path and may grow the arrays; lookups never do.

const EMPTY = -1;
/** Implementation: grow past half full, so probe sequences stay around 1.5 slots on average. */
const MAX_LOAD = 0.5;

export class AddrTable {
  /** 1 for IPv4 keys, 4 for IPv6 keys (big-endian 32-bit words). */
  readonly words: 1 | 4;
  #keys: Int32Array;
  #values: Int32Array; // EMPTY marks a free slot
  #mask: number;
  #size = 0;

  constructor(words: 1 | 4, initialCapacity = 64) {
    this.words = words;
    let cap = 16;
    while (cap < initialCapacity * 2) cap <<= 1;
    this.#mask = cap - 1;
    this.#keys = new Int32Array(cap * words);
    this.#values = new Int32Array(cap).fill(EMPTY);
  }

  get size(): number {
    return this.#size;
  }

  /** Value for an IPv4 address (u32 or int32), or -1. */
  get4(ip: number): number {
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    const k = ip | 0;
    let i = hash1(k) & mask;
    for (;;) {
      const v = values[i]!;
      if (v === EMPTY) return -1;
      if (keys[i] === k) return v;
      i = (i + 1) & mask;
    }
  }

  /** Value for the IPv6 address in buf[off, off+16), or -1. */
  get6(buf: Uint8Array, off: number): number {
    const w0 = word(buf, off), w1 = word(buf, off + 4), w2 = word(buf, off + 8), w3 = word(buf, off + 12);
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    let i = hash4(w0, w1, w2, w3) & mask;
    for (;;) {
      const v = values[i]!;
      if (v === EMPTY) return -1;
      const b = i << 2;
      if (keys[b] === w0 && keys[b + 1] === w1 && keys[b + 2] === w2 && keys[b + 3] === w3) return v;
      i = (i + 1) & mask;
    }
  }

  /** Sets key → value (value ≥ 0). `key` is a u32 for IPv4 tables, 16 bytes for IPv6 ones. */
  set(key: number | Uint8Array, value: number): void {
    if (value < 0) throw new RangeError('AddrTable values must be non-negative');
    if ((this.#size + 1) > (this.#mask + 1) * MAX_LOAD) this.#grow();
    const w = this.#toWords(key);
    const i = this.#find(w);
    if (this.#values[i] === EMPTY) this.#size++;
    this.#keys.set(w, i * this.words);
    this.#values[i] = value;
  }

  /** Removes key; returns whether it was present. */
  delete(key: number | Uint8Array): boolean {
    const w = this.#toWords(key);
    let i = this.#find(w);
    if (this.#values[i] === EMPTY) return false;
    const mask = this.#mask;
    const n = this.words;
    this.#values[i] = EMPTY;
    this.#size--;
    // Backward-shift: pull later members of the probe run into the hole so no lookup stops early.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (this.#values[j] === EMPTY) return true;
      const home = this.#home(j);
      // Move j into the hole i when its home slot is not cyclically within (i, j].
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        this.#keys.copyWithin(i * n, j * n, j * n + n);
        this.#values[i] = this.#values[j]!;
        this.#values[j] = EMPTY;
        i = j;
      }
    }
  }

  /** Every (key words, value) pair; for dumps and tests, not the hot path. */
  *entries(): Generator<[Int32Array, number]> {
    for (let i = 0; i <= this.#mask; i++) {
      const v = this.#values[i]!;
      if (v !== EMPTY) yield [this.#keys.slice(i * this.words, i * this.words + this.words), v];
    }
  }

  #home(slot: number): number {
    const k = this.#keys;
    if (this.words === 1) return hash1(k[slot]!) & this.#mask;
    const b = slot << 2;
    return hash4(k[b]!, k[b + 1]!, k[b + 2]!, k[b + 3]!) & this.#mask;
  }

  #find(w: Int32Array): number {
    const mask = this.#mask;
    const keys = this.#keys;
    const n = this.words;
    let i = (n === 1 ? hash1(w[0]!) : hash4(w[0]!, w[1]!, w[2]!, w[3]!)) & mask;
    for (;;) {
      if (this.#values[i] === EMPTY) return i;
      let same = true;
      for (let x = 0; x < n; x++) if (keys[i * n + x] !== w[x]) { same = false; break; }
      if (same) return i;
      i = (i + 1) & mask;
    }
  }

  #toWords(key: number | Uint8Array): Int32Array {
    if (typeof key === 'number') {
      if (this.words !== 1) throw new TypeError('IPv6 table needs a 16-byte key');
      return Int32Array.of(key | 0);
    }
    if (this.words !== 4 || key.length !== 16) throw new TypeError('IPv4 table needs a number key');
    return Int32Array.of(word(key, 0), word(key, 4), word(key, 8), word(key, 12));
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldValues = this.#values;
    const n = this.words;
    const cap = (this.#mask + 1) * 2;
    this.#mask = cap - 1;
    this.#keys = new Int32Array(cap * n);
    this.#values = new Int32Array(cap).fill(EMPTY);
    this.#size = 0;
    for (let i = 0; i < oldValues.length; i++) {
      const v = oldValues[i]!;
      if (v === EMPTY) continue;
      const w = oldKeys.subarray(i * n, i * n + n);
      const j = this.#find(w);
      this.#keys.set(w, j * n);
      this.#values[j] = v;
      this.#size++;
    }
  }
}

function word(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

function hash1(k: number): number {
  // Fibonacci hashing; the top bits are the well-mixed ones, fold them down.
  const h = Math.imul(k, 0x9e3779b1);
  return (h ^ (h >>> 16)) >>> 0;
}

function hash4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a, 0x9e3779b1);
  h = Math.imul(h ^ b, 0x85ebca6b);
  h = Math.imul(h ^ c, 0xc2b2ae35);
  h = Math.imul(h ^ d, 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}
