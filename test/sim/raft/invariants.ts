// Raft safety invariants, checked incrementally as the simulation runs (Raft paper §5.2-§5.4,
// Figure 3). The simulator calls a hook at every point where a node's durable log, commit
// index, role or state machine changes, and every hook runs inside the event that caused the
// change, so a violation stops the run at the first event (step) that breaks an invariant:
//
// - Election safety: at most one leader per term (checked whenever a node is seen leading).
// - Log matching: if two logs hold an entry with the same index and term, the logs are identical
//   up to it. Checked exactly by induction: every (index, term) ever persisted by any node must
//   always come with the same data and the same term at index-1. Together these imply identical
//   prefixes (down to the snapshot both logs start from).
// - Leader completeness: an entry committed in term t is in the log of every leader of a term
//   > t (checked when a node becomes leader, against every commit seen so far, and when a commit
//   is first seen, against the current leaders of a higher term than the observer's).
// - State machine safety: no two nodes apply different entries at the same index, entries are
//   applied in order without gaps, and state machine snapshots taken or installed at the same
//   index are byte-identical.
// - Acknowledged writes: recorded with their index; finalCheck() proves each is in the final
//   committed log.
//
// Cost: O(1) per persisted or applied entry (maps keyed by index and term), O(log span) per new
// leader. Memory: one record per distinct (index, term) seen during the run.

import { VxmeshError } from '../../../src/errors.js';
import type { Entry } from '../../../src/control/raft/core/types.js';

/** A Raft safety property does not hold: a bug in the core, the storage or the harness. */
export class InvariantViolation extends VxmeshError {
  readonly invariant: string;
  constructor(invariant: string, message: string) {
    super('VXM_ERR_SIM_INVARIANT', `${invariant}: ${message}`);
    this.name = 'InvariantViolation';
    this.invariant = invariant;
  }
}

/** What the monitor reads of a node's log (the core's view: stable plus unstable). */
export interface LogView {
  /** Term of entry i, undefined if compacted away or beyond the end. */
  term(i: number): number | undefined;
  lastIndex(): number;
}

export interface LeaderView {
  id: number;
  term: number;
  log: LogView;
}

/** Terms fit in 22 bits for the numeric (index, term) key; a run never gets near 4 M terms. */
const TERM_LIMIT = 1 << 22;

interface EntryRecord {
  prevTerm: number;
  data: Uint8Array;
  node: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(b: Uint8Array, max = 24): string {
  let s = '';
  for (let i = 0; i < Math.min(b.length, max); i++) s += b[i]!.toString(16).padStart(2, '0');
  return b.length > max ? `${s}...(${b.length} bytes)` : s;
}

export class SafetyMonitor {
  private readonly leaderOfTerm = new Map<number, number>();
  private readonly entries = new Map<number, EntryRecord>();
  /** committedTerm[i]: term of the entry committed at index i (as first observed). */
  private readonly committedTerm: number[] = [];
  private maxCommitted = 0;
  private readonly lastCommitSeen = new Map<number, number>();
  private readonly appliedTerm: number[] = [];
  private readonly appliedData: (Uint8Array | undefined)[] = [];
  private readonly snapshotAt = new Map<number, Uint8Array>();
  private readonly acked: { index: number; data: Uint8Array; what: string }[] = [];
  /** Distinct (term, leader) pairs seen: the number of elections won. */
  elections = 0;

  /** The current leaders (role Leader, any term); set by the cluster. */
  leaders: () => Iterable<LeaderView> = () => [];

  // ------------------------------------------------------------------ election safety, completeness

  /** Node `id` is leader in `term` (call whenever it is observed leading). */
  observeLeader(id: number, term: number, log: LogView): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev === id) return;
    if (prev !== undefined) throw new InvariantViolation('election safety', `term ${term} has two leaders: ${prev} and ${id}`);
    this.leaderOfTerm.set(term, id);
    this.elections++;
    // Leader completeness against every commit seen so far.
    if (log.lastIndex() < this.maxCommitted) {
      throw new InvariantViolation('leader completeness', `leader ${id} of term ${term} has last index ${log.lastIndex()} but index ${this.maxCommitted} is committed`);
    }
    for (let i = this.maxCommitted; i >= 1; i--) {
      const t = log.term(i);
      if (t === undefined) break; // compacted: covered by the leader's snapshot (committed by definition)
      const c = this.committedTerm[i];
      if (c !== undefined && c !== t) {
        throw new InvariantViolation('leader completeness', `leader ${id} of term ${term} has term ${t} at index ${i}, but the committed entry there has term ${c}`);
      }
    }
  }

  /**
   * Node `id` (in `term`) now knows commit index `commit`. Records the committed terms and checks
   * them against other nodes' commits and the current leaders of later terms.
   */
  observeCommit(id: number, term: number, commit: number, log: LogView): void {
    const from = this.lastCommitSeen.get(id) ?? 0;
    if (commit <= from) {
      this.lastCommitSeen.set(id, commit);
      return;
    }
    this.lastCommitSeen.set(id, commit);
    for (let i = from + 1; i <= commit; i++) {
      const t = log.term(i);
      if (t === undefined) continue; // inside a snapshot
      const c = this.committedTerm[i];
      if (c === undefined) {
        this.committedTerm[i] = t;
        if (i > this.maxCommitted) this.maxCommitted = i;
        // Leaders of a later term than the observer's must already hold it.
        for (const l of this.leaders()) {
          if (l.term <= term) continue;
          const lt = l.log.term(i);
          if (lt !== undefined && lt !== t) {
            throw new InvariantViolation('leader completeness', `index ${i} (term ${t}) committed as seen by node ${id} in term ${term}, but leader ${l.id} of term ${l.term} has term ${lt} there`);
          }
          if (lt === undefined && l.log.lastIndex() < i) {
            throw new InvariantViolation('leader completeness', `index ${i} committed as seen by node ${id} in term ${term}, but leader ${l.id} of term ${l.term} ends at ${l.log.lastIndex()}`);
          }
        }
      } else if (c !== t) {
        throw new InvariantViolation('state machine safety', `node ${id} considers index ${i} committed with term ${t}, another node committed term ${c} there`);
      }
    }
  }

  /** A restarted node: its commit index restarts from what its storage kept. */
  resetNode(id: number, commit: number): void {
    this.lastCommitSeen.set(id, commit);
  }

  // ------------------------------------------------------------------ log matching

  /** Node `id` persisted `ents`; `termAt` reads its log after the write. */
  observePersisted(id: number, ents: readonly Entry[], termAt: (i: number) => number | undefined): void {
    for (const e of ents) {
      if (e.term >= TERM_LIMIT) throw new InvariantViolation('harness', `term ${e.term} exceeds the monitor's key space`);
      const prevTerm = termAt(e.index - 1);
      if (prevTerm === undefined) continue; // entry below the node's snapshot: skipped by storage
      const key = e.index * TERM_LIMIT + e.term;
      const rec = this.entries.get(key);
      if (rec === undefined) {
        this.entries.set(key, { prevTerm, data: e.data, node: id });
        continue;
      }
      if (rec.prevTerm !== prevTerm) {
        throw new InvariantViolation('log matching', `entry (index ${e.index}, term ${e.term}) follows term ${prevTerm} on node ${id} but term ${rec.prevTerm} on node ${rec.node}`);
      }
      if (!sameBytes(rec.data, e.data)) {
        throw new InvariantViolation('log matching', `entry (index ${e.index}, term ${e.term}) differs: node ${id} has ${hex(e.data)}, node ${rec.node} has ${hex(rec.data)}`);
      }
    }
  }

  // ------------------------------------------------------------------ state machine safety

  /** Node `id`, whose last applied index is `applied`, applies entry `e`. */
  observeApply(id: number, applied: number, e: Entry): void {
    if (e.index !== applied + 1) {
      throw new InvariantViolation('state machine safety', `node ${id} applies index ${e.index} after ${applied} (gap or repeat)`);
    }
    const t = this.appliedTerm[e.index];
    if (t === undefined) {
      this.appliedTerm[e.index] = e.term;
      this.appliedData[e.index] = e.data;
    } else if (t !== e.term || !sameBytes(this.appliedData[e.index]!, e.data)) {
      throw new InvariantViolation('state machine safety', `node ${id} applies (index ${e.index}, term ${e.term}, ${hex(e.data)}) where another node applied (term ${t}, ${hex(this.appliedData[e.index]!)})`);
    }
    const c = this.committedTerm[e.index];
    if (c !== undefined && c !== e.term) {
      throw new InvariantViolation('state machine safety', `node ${id} applies index ${e.index} of term ${e.term}, the committed entry there has term ${c}`);
    }
  }

  /** A state machine snapshot at `index` (taken by a node or installed from a leader). */
  observeSnapshot(id: number, index: number, term: number, data: Uint8Array): void {
    const c = this.committedTerm[index];
    if (c !== undefined && c !== term) {
      throw new InvariantViolation('state machine safety', `node ${id} has a snapshot at index ${index} of term ${term}, the committed entry there has term ${c}`);
    }
    const prev = this.snapshotAt.get(index);
    if (prev === undefined) this.snapshotAt.set(index, data);
    else if (!sameBytes(prev, data)) {
      throw new InvariantViolation('state machine safety', `node ${id}'s state at index ${index} differs from another node's state at the same index`);
    }
  }

  // ------------------------------------------------------------------ acknowledged writes

  /** A client saw its write applied at `index` with entry payload `data`. */
  observeAck(index: number, data: Uint8Array, what: string): void {
    this.acked.push({ index, data, what });
  }

  get ackedWrites(): number {
    return this.acked.length;
  }

  /** Every acknowledged write is in the final committed log (`finalCommit` = the cluster's commit after it settled). */
  finalCheck(finalCommit: number): void {
    for (const a of this.acked) {
      if (a.index > finalCommit) {
        throw new InvariantViolation('acknowledged write lost', `${a.what} was acknowledged at index ${a.index}, the final commit index is ${finalCommit}`);
      }
      const d = this.appliedData[a.index];
      if (d === undefined || !sameBytes(d, a.data)) {
        throw new InvariantViolation('acknowledged write lost', `${a.what} was acknowledged at index ${a.index}, the committed log has ${d === undefined ? 'nothing recorded' : hex(d)} there`);
      }
    }
  }

  /** The term of the entry applied at `index`, if any node applied it. */
  appliedTermAt(index: number): number | undefined {
    return this.appliedTerm[index];
  }
}
