// Weighted least connections (IPVS `wlc`): the eligible backend with the smallest
// conns/weight, ties broken in round-robin order so equal backends share new flows evenly.
//
// Contract: `pick` does not count the flow. The caller calls `connectionOpened(i)` when the
// flow is established (conntrack insert) and `connectionClosed(i)` when it ends. Counts are
// kept per backend NAME across setBackends (a draining backend still holds its flows), and
// are tracked for ineligible backends too.
import { checkIndex, eligibleIndices, validateBackends, type Backend, type Scheduler } from './types.js';

export class LeastConnectionsScheduler implements Scheduler {
  readonly kind = 'lc' as const;
  private backends: readonly Backend[] = [];
  private eligible: Int32Array = new Int32Array(0);
  /** Open connections per backend index (all backends, eligible or not). */
  private conns: Float64Array = new Float64Array(0);
  /** Weight per backend index (a typed array: no object loads in the pick loop). */
  private weight: Float64Array = new Float64Array(0);
  /** Position in `eligible` where the tie-breaking scan starts. */
  private cursor = 0;

  setBackends(backends: readonly Backend[]): void {
    validateBackends(backends);
    const copy = backends.map((b) => ({ ...b }));
    const byName = new Map<string, number>();
    for (let i = 0; i < this.backends.length; i++) byName.set(this.backends[i]!.name, this.conns[i]!);
    const conns = new Float64Array(copy.length);
    for (let i = 0; i < copy.length; i++) conns[i] = byName.get(copy[i]!.name) ?? 0;
    this.backends = copy;
    this.eligible = eligibleIndices(copy);
    this.conns = conns;
    this.weight = Float64Array.from(copy, (b) => b.weight);
    this.cursor = this.eligible.length === 0 ? 0 : this.cursor % this.eligible.length;
  }

  pick(_hash: number): number {
    const n = this.eligible.length;
    if (n === 0) return -1;
    const eligible = this.eligible;
    const conns = this.conns;
    const weight = this.weight;
    let bestK = this.cursor;
    let bestI = eligible[bestK]!;
    let bestConns = conns[bestI]!;
    let bestWeight = weight[bestI]!;
    for (let step = 1; step < n; step++) {
      let k = this.cursor + step;
      if (k >= n) k -= n;
      const i = eligible[k]!;
      const c = conns[i]!;
      const w = weight[i]!;
      // c/w < bestConns/bestWeight without division (weights are > 0 here). Strictly less:
      // on a tie the earlier one in rotation order wins.
      if (c * bestWeight < bestConns * w) {
        bestK = k;
        bestI = i;
        bestConns = c;
        bestWeight = w;
      }
    }
    this.cursor = bestK + 1 === n ? 0 : bestK + 1;
    return bestI;
  }

  connectionOpened(index: number): void {
    checkIndex(index, this.backends.length);
    this.conns[index]!++;
  }

  /** Closing more flows than were opened is ignored (the count stays at 0). */
  connectionClosed(index: number): void {
    checkIndex(index, this.backends.length);
    if (this.conns[index]! > 0) this.conns[index]!--;
  }

  /** Open connections of backend `index` (for metrics and tests). */
  connections(index: number): number {
    checkIndex(index, this.backends.length);
    return this.conns[index]!;
  }
}
