// Lifeguard local health awareness (Lifeguard paper section 4.1 "Local Health Aware Probe";
// memberlist awareness.go). The score counts recent evidence that *we* are the slow one: missed
// nacks (the relays we asked are healthy yet we heard nothing), failed probes without relays,
// and having to refute a suspicion about ourselves. Successful probes lower it. Probe interval
// and probe timeout are multiplied by (score + 1), so a struggling node probes less often and
// waits longer instead of accusing healthy members.

export class Awareness {
  private score = 0;
  /** `max` is awarenessMaxMultiplier: the score stays in [0, max - 1]. */
  constructor(private readonly max: number) {}
  applyDelta(delta: number): void {
    let s = this.score + delta;
    if (s < 0) s = 0;
    else if (s > this.max - 1) s = this.max - 1;
    this.score = s;
  }
  get healthScore(): number {
    return this.score;
  }
  scale(ms: number): number {
    return ms * (this.score + 1);
  }
}
