// Seeded pseudo-random numbers for deterministic simulation.
//
// Generator: sfc32 (Chris Doty-Humphrey's "small fast chaotic" PRNG, PractRand-clean to 2^42+
// bytes), 128 bits of state, seeded through splitmix32-style finalisers so that nearby seeds (1, 2,
// 3 ...) give unrelated streams. It is NOT cryptographic: it exists so that a failing run replays
// bit for bit from one printed seed.
//
// Contract: the output sequence of `new Rng(seed)` is a pure function of `seed` and of the calls
// made on that instance, on every platform and Node version (only 32-bit integer arithmetic via
// Math.imul / `| 0` / `>>> 0` is used; float() divides an integer by 2^32, which is exact).
// Changing this file's arithmetic changes every recorded seed's meaning: treat it as a format.

const TWO_POW_32 = 4294967296;

/** murmur3's fmix32: a bijective avalanche on 32 bits. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units of a label, with a caller-chosen basis (two bases = 64 bits). */
function fnv1a(label: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Snapshot of an Rng (copy it, store it, restore it with Rng.fromState). */
export interface RngState { readonly a: number; readonly b: number; readonly c: number; readonly d: number; readonly k0: number; readonly k1: number }

export class Rng {
  // sfc32 state.
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  // The stream's identity (derived from the seed or from parent key + fork label). fork() reads
  // only this, never the running state, so a child stream does not depend on how many numbers the
  // parent drew before forking: adding a draw to node 3 never perturbs node 7's stream.
  private k0 = 0;
  private k1 = 0;

  /**
   * @param seed any finite number; integers up to 2^53 use all their bits (the high 21 bits are
   * mixed in separately), so 64-bit-looking seeds printed by a fuzzer still differ in practice.
   */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`Rng seed must be a finite number, got ${seed}`);
    const s = Math.trunc(Math.abs(seed));
    const lo = s % TWO_POW_32 >>> 0;
    const hi = Math.floor(s / TWO_POW_32) >>> 0;
    this.initKey(fmix32(lo ^ 0x9e3779b9) ^ fmix32(hi + 0x7f4a7c15), fmix32(hi ^ 0x85ebca6b) ^ fmix32(lo + 0x632be5ab) ^ (seed < 0 ? 0x5bd1e995 : 0));
  }

  private initKey(k0: number, k1: number): void {
    this.k0 = k0 >>> 0;
    this.k1 = k1 >>> 0;
    // splitmix32-like expansion of the 64-bit key into sfc32's a, b, c; d is sfc32's counter.
    let x = (this.k0 ^ Math.imul(this.k1, 0x9e3779b9)) >>> 0;
    x = (x + 0x9e3779b9) >>> 0; this.a = fmix32(x);
    x = (x + 0x9e3779b9) >>> 0; this.b = fmix32(x ^ this.k1);
    x = (x + 0x9e3779b9) >>> 0; this.c = fmix32(x);
    this.d = 1;
    // sfc32's author recommends discarding the first outputs after seeding (12 rounds).
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Next uint32 (sfc32 step). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution (enough for probabilities and delays). */
  float(): number {
    return this.next() / TWO_POW_32;
  }

  /** Uniform integer in [0, n), unbiased (rejection as in OpenBSD arc4random_uniform). 1 <= n <= 2^32. */
  int(n: number): number {
    if (!(n >= 1 && n <= TWO_POW_32) || Math.floor(n) !== n) throw new RangeError(`Rng.int(n) needs an integer 1 <= n <= 2^32, got ${n}`);
    if (n === 1) return 0;
    const min = (TWO_POW_32 - n) % n; // values below min would bias toward small results
    for (;;) {
      const x = this.next();
      if (x >= min) return x % n;
    }
  }

  /** Uniform float in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** true with probability p. Always consumes exactly one draw, whatever p is. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[]): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }

  /**
   * An independent stream named `label` (e.g. `node:17`, `net`, `faults`). Deterministic in
   * (this stream's seed, label) only: it neither reads nor advances this stream's running state,
   * so forking the same label twice gives the same stream (use distinct labels).
   */
  fork(label: string): Rng {
    const child = new Rng(0); // same construction path => same hidden class as every Rng
    child.initKey(
      fmix32(this.k0 ^ fnv1a(label, 0x811c9dc5)) ^ this.k1,
      fmix32(this.k1 ^ fnv1a(label, 0x050c5d1f) ^ 0xa5a5a5a5) ^ Math.imul(this.k0, 0x27d4eb2f),
    );
    return child;
  }

  /** A copy with identical state: both produce the same sequence from here on. */
  clone(): Rng {
    return Rng.fromState(this.state());
  }

  state(): RngState {
    return { a: this.a, b: this.b, c: this.c, d: this.d, k0: this.k0, k1: this.k1 };
  }

  static fromState(s: RngState): Rng {
    const r = new Rng(0);
    r.a = s.a | 0; r.b = s.b | 0; r.c = s.c | 0; r.d = s.d | 0;
    r.k0 = s.k0 >>> 0; r.k1 = s.k1 >>> 0;
    return r;
  }
}
