// Round robin over the eligible backends, in input order (IPVS `rr`). Weights only gate
// eligibility (0 = none); use wrr for weighted shares.
import { checkIndex, eligibleIndices, validateBackends, type Backend, type Scheduler } from './types.js';

export class RoundRobinScheduler implements Scheduler {
  readonly kind = 'rr' as const;
  private backends: readonly Backend[] = [];
  private eligible: Int32Array = new Int32Array(0);
  /** Position in `eligible` of the next pick. */
  private cursor = 0;
  /** Name of the backend picked last: the rotation resumes after it across setBackends. */
  private lastName: string | undefined;

  setBackends(backends: readonly Backend[]): void {
    validateBackends(backends);
    const copy = backends.map((b) => ({ ...b }));
    const eligible = eligibleIndices(copy);
    // Keep the rotation: continue right after the backend picked last if it is still
    // eligible, so an unchanged set (a periodic resync) does not restart at backend 0.
    let cursor = eligible.length === 0 ? 0 : this.cursor % eligible.length;
    if (this.lastName !== undefined) {
      for (let k = 0; k < eligible.length; k++) {
        if (copy[eligible[k]!]!.name === this.lastName) {
          cursor = (k + 1) % eligible.length;
          break;
        }
      }
    }
    this.backends = copy;
    this.eligible = eligible;
    this.cursor = cursor;
  }

  pick(_hash: number): number {
    const n = this.eligible.length;
    if (n === 0) return -1;
    const i = this.eligible[this.cursor]!;
    this.cursor = this.cursor + 1 === n ? 0 : this.cursor + 1;
    this.lastName = this.backends[i]!.name;
    return i;
  }

  connectionOpened(index: number): void {
    checkIndex(index, this.backends.length);
  }

  connectionClosed(index: number): void {
    checkIndex(index, this.backends.length);
  }
}
