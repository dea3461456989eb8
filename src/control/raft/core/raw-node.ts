// RawNode: the caller's handle on the Raft core, like etcd-io/raft rawnode.go, with the Ready
// contract of node.go. The driver loop is:
//
//   on timer (every DEFAULT_TICK_MS): node.tick()
//   on message from a peer:            node.step(decodeMessage(bytes).msg)
//   while (node.hasReady()) {
//     const rd = node.ready();
//     1. persist rd.snapshot (if any), then rd.entries, then rd.hardState (if any), in that
//        order; fsync when rd.mustSync.
//     2. send rd.messages — only AFTER step 1 completed. A vote or an append acknowledgement
//        sent before the state behind it is durable can elect two leaders or lose a committed
//        entry after a crash (Raft §5.1: respond after updating stable storage).
//        Documented exception: a leader may send its MsgApp/MsgSnap messages before its own
//        write completes (thesis §10.2.1); the core counts the leader's own copy for commit
//        only in advance(), after the write. The driver can only tell those apart by type and
//        `from === self && leader`; sending everything after the write is always correct.
//     3. apply rd.snapshot to the state machine, then rd.committedEntries in order; for an
//        ENTRY_CONF_CHANGE entry call node.applyConfChange(decodeConfChange(e.data)).
//     4. hand rd.readStates to waiting readers: a read may be served once applied >= index.
//     5. node.advance()
//   }

import type { RaftConfig } from './config.js';
import { encodeConfChange } from './codec.js';
import type { Status } from './raft.js';
import { Raft } from './raft.js';
import type { ConfChange, ConfState, Entry, HardState, Message, ReadState, Snapshot, SoftState } from './types.js';

export interface Ready {
  /** Leader and role, only when changed since the last Ready. Not persisted. */
  softState: SoftState | null;
  /** Term, vote and commit, only when changed. Persist before sending messages. */
  hardState: HardState | null;
  /** Entries to append to stable storage (may overwrite a conflicting suffix). */
  entries: Entry[];
  /** A snapshot received from the leader, to persist and then apply. */
  snapshot: Snapshot | null;
  /** Committed entries to apply, in order. They may include entries of `entries`: persist first. */
  committedEntries: Entry[];
  /** Messages to send after persisting (see the file comment). */
  messages: Message[];
  readStates: ReadState[];
  /** The write of this Ready must be fsynced (term/vote changed or entries were appended). */
  mustSync: boolean;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private pending: Ready | null = null;

  constructor(cfg: RaftConfig) {
    this.raft = new Raft(cfg);
    this.prevSoft = this.softState();
    this.prevHard = this.hardState();
  }

  private softState(): SoftState {
    return { lead: this.raft.lead, role: this.raft.role };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  /** Advance logical time by one tick. */
  tick(): void {
    this.raft.tick();
  }

  /** Start an election now (tests, or an operator forcing one). */
  campaign(): void {
    this.raft.hup(false);
  }

  /** Feed a message from a peer. Messages of local-only types are ignored. */
  step(m: Message): void {
    if (m.type === 0 || m.type === 1 || m.type === 2 || m.type === 10 || m.type === 12) return;
    if (m.to !== this.raft.id) return;
    this.raft.step(m);
  }

  /** Append a normal entry; returns its index and term. Throws NotLeaderError or ProposalDroppedError. */
  propose(data: Uint8Array): { index: number; term: number } {
    return this.raft.propose(data);
  }

  /** Propose a membership change; throws ConfChangeError if it cannot be proposed now. */
  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    return this.raft.proposeConfChange(cc, encodeConfChange(cc));
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Linearizable read barrier; the result arrives in Ready.readStates with the same ctx. */
  readIndex(ctx: Uint8Array): void {
    this.raft.readIndex(ctx);
  }

  transferLeader(to: number): void {
    this.raft.transferLeader(to);
  }

  reportUnreachable(id: number): void {
    this.raft.reportUnreachable(id);
  }

  reportSnapshotFailure(id: number): void {
    this.raft.reportSnapshotFailure(id);
  }

  hasReady(): boolean {
    if (this.pending !== null) return false;
    const r = this.raft;
    const ss = this.softState();
    if (ss.lead !== this.prevSoft.lead || ss.role !== this.prevSoft.role) return true;
    const hs = this.hardState();
    if (hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit) return true;
    if (r.log.unstable.snapshot !== null || r.log.unstable.entries.length > 0) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    return r.log.hasNextCommittedEnts();
  }

  /** Collect the pending work. Contract: call advance() before the next ready(). */
  ready(): Ready {
    if (this.pending !== null) throw new Error('raft: ready() called twice without advance()');
    const r = this.raft;
    const ss = this.softState();
    const hs = this.hardState();
    const softChanged = ss.lead !== this.prevSoft.lead || ss.role !== this.prevSoft.role;
    const hardChanged = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit;
    const entries = r.log.unstable.entries.slice();
    const rd: Ready = {
      softState: softChanged ? ss : null,
      hardState: hardChanged ? hs : null,
      entries,
      snapshot: r.log.unstable.snapshot,
      committedEntries: r.log.nextCommittedEnts(r.cfg.maxCommittedSizePerReady),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: entries.length > 0 || hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (softChanged) this.prevSoft = ss;
    if (hardChanged) this.prevHard = hs;
    this.pending = rd;
    return rd;
  }

  /** The last Ready was persisted, sent and applied. */
  advance(): void {
    const rd = this.pending;
    if (rd === null) return;
    this.pending = null;
    const r = this.raft;
    if (rd.snapshot !== null) {
      r.onSnapshotStable(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > r.log.applied) r.log.applied = Math.min(rd.snapshot.meta.index, r.log.committed);
    }
    r.onApplied(rd.committedEntries);
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      r.onStable(last.index, last.term);
    }
  }

  status(): Status {
    return this.raft.status();
  }
}
