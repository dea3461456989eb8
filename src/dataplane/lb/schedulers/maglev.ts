// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI 2016, section 3.4, Algorithm 1), with weights as cilium does them
// (pkg/maglev/maglev.go, after envoy#2982): backends take turns filling the table, a heavier
// backend more often.
//
// The builder is a pure function of (set of eligible backends, M): backends are sorted by
// their stable name before anything else, so every node builds the same table from the same
// set whatever order it learned it in (cilium does the same; katran keeps the caller's order
// instead). Changes go to the dataplane as deltas (`maglevDelta`): only changed slots are
// written, as katran's MaglevHashV2 + Vip.h do.
//
// Properties the tests check: equal to a plain reference implementation of Algorithm 1;
// order-independent; removing one of N backends moves <= 1 % of the slots that did not belong
// to it (minimal disruption); re-adding it restores the old table; equal weights give each
// backend M/N slots give or take a few; weighted shares are proportional.
import { murmur3x86_32Bytes } from './murmur3.js';
import { checkIndex, isEligible, validateBackends, sameBackends, type Backend, type Scheduler } from './types.js';

/**
 * Implementation choice: 65537 (the paper's "small" M) keeps M > 100 * N, the paper's
 * guidance for < 1 % imbalance, up to 655 backends, in 256 KiB per VIP.
 */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
/** Implementation limit: 2^24 slots (64 MiB per table); beyond that builds take seconds. */
export const MAX_MAGLEV_TABLE_SIZE = 1 << 24;
/**
 * Seeds of the two independent name hashes (offset and skip). Protocol for the cluster:
 * every node must use the same values or their tables differ. Never change them in place.
 */
export const MAGLEV_OFFSET_SEED = 0x5bd1e995;
export const MAGLEV_SKIP_SEED = 0x1b873593;

export interface MaglevTable {
  /**
   * slot -> index into `names` (NOT into the caller's array), or -1 in every slot when no
   * backend is eligible. Length M.
   */
  table: Int32Array;
  /**
   * Names of the eligible backends (active, weight > 0) in the order the table refers to:
   * sorted by UTF-16 code units (locale-independent, the same on every node).
   */
  names: readonly string[];
  /** names[k] is backends[inputIndex[k]] of the array given to buildMaglevTable. */
  inputIndex: Int32Array;
}

export interface MaglevDelta {
  /** Slots whose value differs, ascending. */
  slots: Int32Array;
  /** The new value of each of those slots. */
  values: Int32Array;
}

export function isPrime(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 2) return false;
  if (n < 4) return true;
  if (n % 2 === 0 || n % 3 === 0) return false;
  for (let d = 5; d * d <= n; d += 6) {
    if (n % d === 0 || n % (d + 2) === 0) return false;
  }
  return true;
}

/**
 * Throws RangeError unless `m` can be a Maglev table size: a prime (so that every skip in
 * 1..M-1 is coprime to M and each backend's preference list is a full permutation of the
 * slots, paper section 3.4) no larger than MAX_MAGLEV_TABLE_SIZE.
 */
export function validateMaglevTableSize(m: number): void {
  if (!Number.isSafeInteger(m) || m < 2 || m > MAX_MAGLEV_TABLE_SIZE) {
    throw new RangeError(`Invalid Maglev table size: ${m}, use a prime between 2 and ${MAX_MAGLEV_TABLE_SIZE} (default ${DEFAULT_MAGLEV_TABLE_SIZE})`);
  }
  if (!isPrime(m)) {
    throw new RangeError(`Invalid Maglev table size: ${m} is not prime, use a prime such as 251, 4093, 16381 or 65537`);
  }
}

const encoder = new TextEncoder();

/** offset in [0, M), skip in [1, M): the paper's permutation[i][j] = (offset + j * skip) mod M. */
export function maglevOffsetSkip(name: string, m: number, scratch?: Uint8Array): { offset: number; skip: number } {
  // Encode once, hash twice; builds pass a scratch buffer so 1000 names cost no 1000 copies.
  let bytes: Uint8Array;
  let len: number;
  if (scratch !== undefined && scratch.length >= name.length * 3) {
    len = encoder.encodeInto(name, scratch).written;
    bytes = scratch;
  } else {
    bytes = encoder.encode(name);
    len = bytes.length;
  }
  return {
    offset: murmur3x86_32Bytes(bytes, len, MAGLEV_OFFSET_SEED) % m,
    skip: (murmur3x86_32Bytes(bytes, len, MAGLEV_SKIP_SEED) % (m - 1)) + 1,
  };
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Builds the Maglev lookup table of size `m` for the eligible backends of `backends`
 * (active with weight > 0; draining and down ones take no new flows and get no slots).
 * Values index the returned `names` (sorted name order), not `backends`: see MaglevTable.
 * Throws RangeError on an invalid set or table size.
 *
 * Cost: O(M log M) probes with equal weights (paper section 3.4), no per-backend
 * permutation arrays: each backend's next preferred slot is advanced in place.
 */
export function buildMaglevTable(backends: readonly Backend[], m: number = DEFAULT_MAGLEV_TABLE_SIZE): MaglevTable {
  validateMaglevTableSize(m);
  validateBackends(backends);
  const order: number[] = [];
  for (let i = 0; i < backends.length; i++) if (isEligible(backends[i]!)) order.push(i);
  order.sort((x, y) => byCodeUnits(backends[x]!.name, backends[y]!.name));
  const n = order.length;
  const names = order.map((i) => backends[i]!.name);
  const inputIndex = Int32Array.from(order);
  const table = new Int32Array(m).fill(-1);
  if (n === 0) return { table, names, inputIndex };

  // Int32 state: M <= 2^24, so slot arithmetic (c + skip < 2M) stays in small integers.
  const next = new Int32Array(n); // the slot backend k would take next: permutation[k][next[k]]
  const skip = new Int32Array(n);
  const weight = new Float64Array(n);
  const taken = new Float64Array(n);
  let total = 0;
  let equalWeights = true;
  let longest = 0;
  for (const name of names) longest = Math.max(longest, name.length);
  const scratch = new Uint8Array(longest * 3); // UTF-8 needs at most 3 bytes per UTF-16 unit
  for (let k = 0; k < n; k++) {
    const os = maglevOffsetSkip(names[k]!, m, scratch);
    next[k] = os.offset;
    skip[k] = os.skip;
    weight[k] = backends[order[k]!]!.weight;
    total += weight[k]!;
    if (weight[k] !== weight[0]) equalWeights = false;
  }
  if (!equalWeights) {
    // The turn test is scale-invariant (both sides are linear in the weights), so dividing by
    // the weights' gcd changes nothing but the size of the numbers: {2, 4} builds as {1, 2}.
    let g = weight[0]!;
    for (let t = 1; t < n; t++) g = gcd(g, weight[t]!);
    for (let t = 0; t < n; t++) weight[t]! /= g;
    total /= g;
    // The turn test compares numbers up to about M * W * N; keep it exact.
    if (m * total * n > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`Invalid backend weights: total weight ${total} is too large for a table of ${m} slots, use smaller weights`);
    }
  }
  let k = 0; // s mod n
  for (let s = 0; s < m; s++) {
    let turn = k;
    if (!equalWeights) {
      // Turn-taking (cilium): backend t may take step s once (s+1) * w_t >= w_t / N + taken_t * W
      // (multiplied by N here to stay in integers), so it fills about w_t / W of the slots.
      // With equal weights this always holds for t = s mod N (the paper's round robin), hence
      // the fast path. Some backend always qualifies: if none did, summing the inequalities
      // over t would give W * N < W.
      while ((s + 1) * weight[turn]! * n < weight[turn]! + taken[turn]! * total * n) {
        turn = turn + 1 === n ? 0 : turn + 1;
      }
      taken[turn]!++;
    }
    let c = next[turn]!;
    const sk = skip[turn]!;
    while (table[c]! >= 0) {
      c += sk;
      if (c >= m) c -= m;
    }
    table[c] = turn;
    c += sk;
    if (c >= m) c -= m;
    next[turn] = c;
    k = k + 1 === n ? 0 : k + 1;
  }
  return { table, names, inputIndex };
}

/**
 * The slots where `next` differs from `prev`, with their new values: what a table writer
 * must write to turn `prev` into `next`. Equal tables give an empty delta.
 *
 * Contract: compare tables in ONE labelling. Values from buildMaglevTable index the sorted
 * names, which shift when a backend is added or removed; relabel both tables to stable IDs
 * (`relabelMaglevTable`) before diffing across set changes, or every slot after the change
 * point shows up as changed.
 */
export function maglevDelta(prev: Int32Array, next: Int32Array): MaglevDelta {
  if (prev.length !== next.length) {
    throw new RangeError(`Invalid Maglev delta: tables have ${prev.length} and ${next.length} slots, diff tables of the same size`);
  }
  let count = 0;
  for (let i = 0; i < prev.length; i++) if (prev[i] !== next[i]) count++;
  const slots = new Int32Array(count);
  const values = new Int32Array(count);
  let k = 0;
  for (let i = 0; i < prev.length; i++) {
    if (prev[i] !== next[i]) {
      slots[k] = i;
      values[k] = next[i]!;
      k++;
    }
  }
  return { slots, values };
}

/** Maps each value v >= 0 to ids[v] (-1 stays -1): sorted-name indices to stable IDs. */
export function relabelMaglevTable(table: Int32Array, ids: ArrayLike<number>): Int32Array {
  const out = new Int32Array(table.length);
  for (let i = 0; i < table.length; i++) {
    const v = table[i]!;
    out[i] = v < 0 ? -1 : ids[v]!;
  }
  return out;
}

export interface MaglevOptions {
  /** Table size M, a prime (default 65537). */
  tableSize?: number;
}

export class MaglevScheduler implements Scheduler {
  readonly kind = 'maglev' as const;
  readonly tableSize: number;
  /** 2^32 mod M: turns the int32 remainder of a negative (signed) hash into the uint32 one. */
  private readonly wrap: number;
  private backends: readonly Backend[] = [];
  private built: MaglevTable;
  /** slot -> index into the array given to setBackends (-1: none): one load per pick. */
  private lookup: Int32Array;

  constructor(options: MaglevOptions = {}) {
    const m = options.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    validateMaglevTableSize(m);
    this.tableSize = m;
    this.wrap = 2 ** 32 % m;
    this.built = buildMaglevTable([], m);
    this.lookup = this.built.table;
  }

  setBackends(backends: readonly Backend[]): void {
    validateBackends(backends);
    if (sameBackends(this.backends, backends)) return;
    const built = buildMaglevTable(backends, this.tableSize);
    const lookup = relabelMaglevTable(built.table, built.inputIndex);
    this.backends = backends.map((b) => ({ ...b }));
    this.built = built;
    this.lookup = lookup;
  }

  /**
   * The current build in sorted-name labelling (for the table writer and its deltas).
   * Shared, not copied: read it, never write to it.
   */
  get table(): MaglevTable {
    return this.built;
  }

  /**
   * table[(hash as uint32) mod M]. Computed with int32 operations only: `(hash >>> 0) % M`
   * is a float modulo in V8 (uint32 does not fit a small integer) and cost ~3x more. For a
   * negative int32 s, (s + 2^32) mod M = (s mod M + 2^32 mod M) mod M, and every term stays
   * within +-2M < 2^31 because M <= 2^24.
   */
  pick(hash: number): number {
    const m = this.tableSize;
    const s = hash | 0;
    let r = s % m;
    if (s < 0) {
      r += this.wrap;
      if (r < 0) r += m;
    }
    return this.lookup[r]!;
  }

  connectionOpened(index: number): void {
    checkIndex(index, this.backends.length);
  }

  connectionClosed(index: number): void {
    checkIndex(index, this.backends.length);
  }
}
