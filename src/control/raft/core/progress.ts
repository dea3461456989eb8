// The leader's view of one follower, like etcd-io/raft tracker/progress.go and inflights.go.
//
// States (etcd's design, raft thesis §3.5 / §4.2.1 on flow control):
//   probe     : next is a guess; send at most one MsgApp per heartbeat interval until a reply
//               tells where the logs match (entered at election and after any rejection).
//   replicate : logs match up to `match`; pipeline MsgApps optimistically (next = last sent + 1),
//               bounded by Inflights (maxInflightMsgs messages and maxInflightBytes bytes).
//   snapshot  : the follower needs entries we compacted; a snapshot is in flight, send nothing
//               else until it is acknowledged, reported failed, or times out.

export enum ProgressState {
  Probe = 0,
  Replicate = 1,
  Snapshot = 2,
}
export const PROGRESS_STATE_NAMES: readonly string[] = ['StateProbe', 'StateReplicate', 'StateSnapshot'];

/**
 * A ring of in-flight MsgApps (last index and bytes of each), oldest first. Typed arrays so the
 * leader's hot path allocates nothing per message. Full when either cap is reached.
 */
export class Inflights {
  private readonly idx: Float64Array;
  private readonly bytes: Float64Array;
  private start = 0;
  count = 0;
  totalBytes = 0;
  readonly maxMsgs: number;
  readonly maxBytes: number;

  constructor(maxMsgs: number, maxBytes: number) {
    this.maxMsgs = maxMsgs;
    this.maxBytes = maxBytes;
    this.idx = new Float64Array(maxMsgs);
    this.bytes = new Float64Array(maxMsgs);
  }

  /** Record a MsgApp whose last entry is `index`. Contract: callers check full() first. */
  add(index: number, bytes: number): void {
    if (this.count >= this.maxMsgs) throw new Error('raft: inflights overflow');
    const at = (this.start + this.count) % this.maxMsgs;
    this.idx[at] = index;
    this.bytes[at] = bytes;
    this.count++;
    this.totalBytes += bytes;
  }

  /** Acknowledge every message whose last index is <= `to`. */
  freeLE(to: number): void {
    while (this.count > 0 && this.idx[this.start]! <= to) {
      this.totalBytes -= this.bytes[this.start]!;
      this.start = (this.start + 1) % this.maxMsgs;
      this.count--;
    }
    if (this.count === 0) {
      this.start = 0;
      this.totalBytes = 0;
    }
  }

  full(): boolean {
    return this.count >= this.maxMsgs || (this.maxBytes > 0 && this.totalBytes >= this.maxBytes);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.totalBytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state = ProgressState.Probe;
  /** Probe: one MsgApp was sent and not answered yet. */
  msgAppFlowPaused = false;
  /** Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Snapshot state: heartbeat ticks since the snapshot was sent (restart on timeout). */
  snapshotTicks = 0;
  /** Heard from within the current election timeout (check-quorum). */
  recentActive = false;
  /** match when the previous heartbeat response came: a full window with no ack in between is lost. */
  matchAtLastHeartbeat = -1;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, isLearner: boolean, maxInflightMsgs: number, maxInflightBytes: number) {
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(s: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.state = s;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapIndex;
  }

  /** A MsgApp carrying `n` entries up to `last` (`bytes` in total) was sent. */
  sentEntries(n: number, last: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (n > 0) {
        this.next = last + 1;
        this.inflights.add(last, bytes);
      }
    } else if (this.state === ProgressState.Probe) {
      if (n > 0) this.msgAppFlowPaused = true;
    }
  }

  /** An accepting MsgAppResp for index n arrived. False if it is stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejecting MsgAppResp for `rejected` arrived; `matchHint` is where the logs may match
   * (from the follower's hint). False if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.msgAppFlowPaused;
      case ProgressState.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }
}
