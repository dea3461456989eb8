// Smooth weighted round robin, as nginx does it (ngx_http_upstream_get_peer): each pick adds
// every eligible backend's weight to its `current`, picks the largest `current` (first in
// input order on a tie) and subtracts the total weight W from the winner.
//
// Contract (tested): the sequence is periodic with period W = sum(weights), and within a
// period backend i is picked exactly w_i times, so EVERY window of W consecutive picks (not
// only aligned ones) holds exactly w_i picks of backend i. Picks of a heavy backend are
// interleaved with the others instead of coming in one burst.
import { checkIndex, eligibleIndices, sameBackends, validateBackends, type Backend, type Scheduler } from './types.js';

export class WeightedRoundRobinScheduler implements Scheduler {
  readonly kind = 'wrr' as const;
  private backends: readonly Backend[] = [];
  private eligible: Int32Array = new Int32Array(0);
  /** weight[k] of eligible[k]. */
  private weight: Float64Array = new Float64Array(0);
  /** nginx's `current_weight`, per eligible backend. */
  private current: Float64Array = new Float64Array(0);
  private total = 0;

  setBackends(backends: readonly Backend[]): void {
    validateBackends(backends);
    // An unchanged set keeps its state, so a periodic resync does not disturb the sequence.
    if (sameBackends(this.backends, backends)) return;
    const copy = backends.map((b) => ({ ...b }));
    const eligible = eligibleIndices(copy);
    const weight = new Float64Array(eligible.length);
    let total = 0;
    for (let k = 0; k < eligible.length; k++) {
      weight[k] = copy[eligible[k]!]!.weight;
      total += weight[k]!;
    }
    // A changed set restarts from zero: the window property holds from this point on.
    this.backends = copy;
    this.eligible = eligible;
    this.weight = weight;
    this.current = new Float64Array(eligible.length);
    this.total = total;
  }

  pick(_hash: number): number {
    const n = this.eligible.length;
    if (n === 0) return -1;
    const current = this.current;
    const weight = this.weight;
    let best = 0;
    let bestValue = -Infinity;
    for (let k = 0; k < n; k++) {
      const c = current[k]! + weight[k]!;
      current[k] = c;
      if (c > bestValue) {
        bestValue = c;
        best = k;
      }
    }
    current[best] = bestValue - this.total;
    return this.eligible[best]!;
  }

  connectionOpened(index: number): void {
    checkIndex(index, this.backends.length);
  }

  connectionClosed(index: number): void {
    checkIndex(index, this.backends.length);
  }
}
