// Lifeguard dynamic suspicion timeout (Lifeguard paper, section 4.2 "Dynamic Suspicion
// Timeouts"; memberlist suspicion.go, rewritten without timers: the core asks for the deadline
// and checks it on tick).
//
// A suspicion starts at `max` and shrinks logarithmically towards `min` as independent members
// confirm it:   timeout(c) = max(min, max - (max - min) * log(c + 1) / log(k + 1))
// where c is the number of confirmations and k the number expected. With k = 0 (too few
// members to expect any, or Lifeguard off) the timeout is `min` from the start.

/** Timeout after `c` of `k` expected confirmations, in whole ms. */
export function suspicionRemainingTimeout(c: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs;
  const frac = Math.log(c + 1) / Math.log(k + 1);
  const raw = Math.floor(maxMs - frac * (maxMs - minMs));
  return raw < minMs ? minMs : raw;
}

/** One member's suspicion. Confirmations are counted once per distinct accuser. */
export class Suspicion {
  readonly confirmers = new Set<string>();
  private confirmations = 0;
  deadline: number;
  constructor(
    readonly start: number,
    /** Confirmations expected (0: fixed timeout = min). */
    readonly k: number,
    readonly minMs: number,
    readonly maxMs: number,
    /** The accuser that started it; its repeats are not confirmations. */
    from: string,
  ) {
    this.confirmers.add(from);
    this.deadline = start + (k < 1 ? minMs : maxMs);
  }
  /** Record `from`'s accusation. True if it was new (the caller re-broadcasts it); shrinks the deadline. */
  confirm(from: string): boolean {
    if (this.confirmations >= this.k || this.confirmers.has(from)) return false;
    this.confirmers.add(from);
    this.confirmations++;
    this.deadline = this.start + suspicionRemainingTimeout(this.confirmations, this.k, this.minMs, this.maxMs);
    return true;
  }
  get confirmationCount(): number {
    return this.confirmations;
  }
}
