// Source hashing (IPVS `sh`): the flow hash picks an eligible backend, each owning a share of
// the 32-bit hash space proportional to its weight. The same hash always gives the same
// backend while the set is unchanged. It is NOT consistent across set changes (most flows
// move when a backend comes or goes): use maglev for that.
import { checkIndex, eligibleIndices, validateBackends, type Backend, type Scheduler } from './types.js';

/** Above this total weight, x * W may exceed 2^53 and the multiply-shift is not exact. */
const MAX_EXACT_TOTAL = 0x1fffff;
/** Up to this total weight, a direct point -> backend array (<= 256 KiB) replaces the search. */
const MAX_DIRECT_TOTAL = 1 << 16;

export class SourceHashScheduler implements Scheduler {
  readonly kind = 'sh' as const;
  private backends: readonly Backend[] = [];
  private eligible: Int32Array = new Int32Array(0);
  /** end[k] = w_0 + ... + w_k over the eligible backends: k owns [end[k-1], end[k]). */
  private end: Float64Array = new Float64Array(0);
  private total = 0;
  /** owner[t] = eligible backend owning point t, when total <= MAX_DIRECT_TOTAL; else empty. */
  private owner: Int32Array = new Int32Array(0);

  setBackends(backends: readonly Backend[]): void {
    validateBackends(backends);
    const copy = backends.map((b) => ({ ...b }));
    const eligible = eligibleIndices(copy);
    const end = new Float64Array(eligible.length);
    let total = 0;
    for (let k = 0; k < eligible.length; k++) {
      total += copy[eligible[k]!]!.weight;
      end[k] = total;
    }
    this.backends = copy;
    this.eligible = eligible;
    this.end = end;
    this.total = total;
    const owner = new Int32Array(total <= MAX_DIRECT_TOTAL ? total : 0);
    for (let k = 0, t = 0; t < owner.length; t++) {
      while (end[k]! <= t) k++;
      owner[t] = eligible[k]!;
    }
    this.owner = owner;
  }

  pick(hash: number): number {
    const n = this.eligible.length;
    if (n === 0) return -1;
    const x = hash >>> 0;
    // Lemire's multiply-shift maps [0, 2^32) onto [0, W) keeping the high bits of the hash,
    // which are as uniform as the low ones and avoid the modulo bias of small W.
    const t = this.total <= MAX_EXACT_TOTAL ? Math.floor((x * this.total) / 4294967296) : x % this.total;
    if (t < this.owner.length) return this.owner[t]!;
    // First k with end[k] > t (binary search, O(log n), no allocation).
    const end = this.end;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (end[mid]! > t) hi = mid;
      else lo = mid + 1;
    }
    return this.eligible[lo]!;
  }

  connectionOpened(index: number): void {
    checkIndex(index, this.backends.length);
  }

  connectionClosed(index: number): void {
    checkIndex(index, this.backends.length);
  }
}
