// The Raft state machine (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm", and Ongaro's thesis), structured like etcd-io/raft raft.go: pure and
// single-threaded. Inputs: tick(), step(msg), propose(), readIndex(), transferLeader(),
// applyConfChange(). Outputs accumulate in `msgs`, `readStates` and the log's unstable part,
// and are handed out by RawNode.ready(). No I/O, no clock, no Math.random.

import type { RaftConfig } from './config.js';
import { validateRaftConfig } from './config.js';
import { ConfChangeError, NotLeaderError, ProposalDroppedError } from './errors.js';
import { Progress, ProgressState, PROGRESS_STATE_NAMES } from './progress.js';
import { RaftLog } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import { decodeConfChange } from './codec.js';
import type { ConfChange, ConfState, Entry, Message, ReadState, Snapshot } from './types.js';
import {
  CAMPAIGN_TRANSFER, ConfChangeType, CONF_CHANGE_NAMES, ENTRY_CONF_CHANGE, ENTRY_NORMAL, entryBytes,
  MessageType, newMessage, Role, ROLE_NAMES,
} from './types.js';

const enum VoteResult {
  Pending,
  Won,
  Lost,
}

export interface ProgressStatus {
  match: number;
  next: number;
  state: string;
  inflight: number;
  isLearner: boolean;
  recentActive: boolean;
}

export interface Status {
  id: number;
  term: number;
  vote: number;
  role: string;
  leader: number;
  commit: number;
  applied: number;
  leadTransferee: number;
  /** Per-peer replication progress; only on the leader. */
  progress: Map<number, ProgressStatus>;
  conf: ConfState;
}

interface SnapshotReceive {
  from: number;
  index: number;
  term: number;
  total: number;
  buf: Uint8Array;
  got: number;
  failed: boolean;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Raft {
  readonly id: number;
  readonly cfg: RaftConfig;
  readonly log: RaftLog;
  term = 0;
  vote = 0;
  lead = 0;
  role = Role.Follower;

  /** Progress of every member (voters and learners), including this node. */
  readonly prs = new Map<number, Progress>();
  readonly voters = new Set<number>();
  readonly learners = new Set<number>();
  /** Sorted member IDs, so that broadcasts (and golden transcripts) are deterministic. */
  private memberIds: number[] = [];
  private matchScratch = new Float64Array(0);
  readonly removed: Set<number>;

  /** Outbox; drained by RawNode.ready(). */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  private readonly votes = new Map<number, boolean>();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee = 0;
  /** Index of the last conf change appended by this leader; another may be proposed once applied >= it. */
  pendingConfIndex = 0;
  uncommittedSize = 0;
  private readonly readOnly = new ReadOnly();
  private pendingReadIndexMessages: Message[] = [];
  private snapRecv: SnapshotReceive | null = null;

  constructor(cfg: RaftConfig) {
    validateRaftConfig(cfg);
    this.cfg = cfg;
    this.id = cfg.id;
    this.removed = new Set(cfg.removedIds);
    this.log = new RaftLog(cfg.storage);
    const { hardState, conf } = cfg.storage.initialState();
    this.setConf(conf);
    if (hardState.term !== 0 || hardState.vote !== 0 || hardState.commit !== 0) {
      if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex()) {
        throw new Error(`raft: stored commit ${hardState.commit} is outside [${this.log.committed}, ${this.log.lastIndex()}]`);
      }
      this.log.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (cfg.applied > 0) this.log.appliedTo(Math.min(cfg.applied, this.log.committed));
    this.becomeFollower(this.term, 0);
  }

  // ---------------------------------------------------------------- membership tracking

  private setConf(conf: ConfState): void {
    this.prs.clear();
    this.voters.clear();
    this.learners.clear();
    for (const v of conf.voters) this.voters.add(v);
    for (const l of conf.learners) if (!this.voters.has(l)) this.learners.add(l);
    const next = this.log.lastIndex() + 1;
    for (const id of [...this.voters, ...this.learners]) this.prs.set(id, this.newProgress(next, this.learners.has(id)));
    this.refreshMemberIds();
  }

  private newProgress(next: number, learner: boolean): Progress {
    return new Progress(next, learner, this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
  }

  private refreshMemberIds(): void {
    this.memberIds = [...this.prs.keys()].sort((a, b) => a - b);
    this.matchScratch = new Float64Array(this.voters.size);
  }

  confState(): ConfState {
    return { voters: [...this.voters].sort((a, b) => a - b), learners: [...this.learners].sort((a, b) => a - b) };
  }

  private quorum(): number {
    return (this.voters.size >> 1) + 1;
  }

  /** The largest index replicated on a quorum of voters (Raft §5.3). */
  private quorumMatch(): number {
    const n = this.voters.size;
    if (n === 0) return 0;
    const m = this.matchScratch;
    let k = 0;
    for (const v of this.voters) m[k++] = this.prs.get(v)!.match;
    m.sort();
    return m[n - this.quorum()]!;
  }

  private voteResult(): VoteResult {
    let granted = 0;
    let rejected = 0;
    for (const v of this.voters) {
      const g = this.votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) return VoteResult.Won;
    if (rejected > this.voters.size - q) return VoteResult.Lost;
    return VoteResult.Pending;
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.voters) if (v === this.id || this.prs.get(v)!.recentActive) active++;
    return active >= this.quorum();
  }

  /** A voter with no snapshot pending may campaign. Learners and removed nodes never do. */
  promotable(): boolean {
    return this.voters.has(this.id) && this.log.unstable.snapshot === null && this.snapRecv === null;
  }

  // ---------------------------------------------------------------- state transitions

  private send(m: Message): void {
    if (m.from === 0) m.from = this.id;
    // Vote traffic carries its own term (a pre-vote uses term+1 without bumping ours);
    // everything else is stamped with the current term.
    if (m.term === 0 && m.type !== MessageType.Vote && m.type !== MessageType.PreVote && m.type !== MessageType.VoteResp && m.type !== MessageType.PreVoteResp) {
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  private resetRandomizedElectionTimeout(): void {
    const e = this.cfg.electionTicks;
    const r = Math.floor(this.cfg.random(e));
    this.randomizedElectionTimeout = e + (r >= 0 && r < e ? r : 0);
  }

  private stableLastIndex(): number {
    const u = this.log.unstable;
    if (u.snapshot !== null) return 0;
    return u.entries.length > 0 ? u.offset - 1 : this.log.lastIndex();
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = 0;
    }
    this.lead = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.votes.clear();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.prs) {
      const np = this.newProgress(next, pr.isLearner);
      if (id === this.id) np.match = this.stableLastIndex();
      this.prs.set(id, np);
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly.clear();
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: number): void {
    this.reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomePreCandidate(): void {
    // Pre-vote (thesis §9.6): neither the term nor the vote changes.
    this.votes.clear();
    this.lead = 0;
    this.role = Role.PreCandidate;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    const self = this.prs.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conservatively assume the tail of the log may hold an unapplied conf change.
    this.pendingConfIndex = this.log.lastIndex();
    // §5.4.2 / §8: an entry of the new term lets the leader commit everything before it, and
    // is what ReadIndex waits for. It does not count against the uncommitted-size cap.
    this.log.append([{ term: this.term, index: this.log.lastIndex() + 1, type: ENTRY_NORMAL, data: new Uint8Array(0) }]);
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    if (this.role === Role.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.stepLeaderCheckQuorum();
      if (this.role !== Role.Leader) return;
      // A transfer that did not finish within an election timeout is abandoned (thesis §3.10).
      if (this.leadTransferee !== 0) this.abortLeaderTransfer();
    }
    for (const id of this.memberIds) {
      const pr = this.prs.get(id)!;
      if (pr.state !== ProgressState.Snapshot) continue;
      if (++pr.snapshotTicks > this.cfg.snapshotTimeoutTicks) {
        // A chunk (or the reply) was lost: probe again, which restarts the transfer.
        pr.pendingSnapshot = 0;
        pr.becomeProbe();
        pr.msgAppFlowPaused = true;
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private stepLeaderCheckQuorum(): void {
    if (!this.quorumActive()) {
      this.becomeFollower(this.term, 0);
      return;
    }
    for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
  }

  // ---------------------------------------------------------------- elections

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.MAX_SAFE_INTEGER) ?? [];
    for (const e of ents) if (e.type === ENTRY_CONF_CHANGE) return true;
    return false;
  }

  /** Start an election now (MsgHup). `transfer`: forced by MsgTimeoutNow, skips pre-vote and leases. */
  hup(transfer: boolean): void {
    if (this.role === Role.Leader) return;
    if (!this.promotable()) return;
    // A node must not campaign with a committed but unapplied conf change: its view of the
    // voters may be stale (etcd raft.go hup).
    if (this.hasUnappliedConfChanges()) return;
    if (this.cfg.preVote && !transfer) this.campaign(true, false);
    else this.campaign(false, transfer);
  }

  private campaign(pre: boolean, transfer: boolean): void {
    let term: number;
    let type: MessageType;
    if (pre) {
      this.becomePreCandidate();
      type = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      type = MessageType.Vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === VoteResult.Won) {
      // Single-voter cluster.
      if (pre) this.campaign(false, transfer);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.memberIds) {
      if (id === this.id || !this.voters.has(id)) continue;
      this.send(newMessage({ type, to: id, term, index: lastIndex, logTerm: lastTerm, context: transfer ? CAMPAIGN_TRANSFER : undefined }));
    }
  }

  private poll(id: number, granted: boolean): VoteResult {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return this.voteResult();
  }

  // ---------------------------------------------------------------- step

  /** Process one message from a peer (or a local one). Never throws on peer input. */
  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.cfg.checkQuorum && this.lead !== 0 && this.electionElapsed < this.cfg.electionTicks;
        // Leader lease (thesis §4.2.3): we heard from a leader within the minimum election
        // timeout, so this candidate is likely a disruptive rejoiner; ignore it.
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // Granted pre-vote at term+1: the term is bumped when the real campaign starts.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, 0);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (e.g. after a partition healed while we ignored its rejoin votes)
        // learns of the new term from this reply and steps down.
        this.send(newMessage({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.send(newMessage({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(false);
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        const canVote = this.vote === m.from || (this.vote === 0 && this.lead === 0) || (m.type === MessageType.PreVote && m.term > this.term);
        // §5.4.1 election restriction.
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          this.send(newMessage({ type: respType, to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(newMessage({ type: respType, to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        break;
    }
    switch (this.role) {
      case Role.Leader:
        this.stepLeader(m);
        break;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        break;
      default:
        this.stepFollower(m);
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        this.stepLeaderCheckQuorum();
        return;
      case MessageType.ReadIndex:
        this.leaderReadIndex(m);
        return;
      default:
        break;
    }
    const pr = this.prs.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case MessageType.AppResp:
        this.leaderAppResp(m, pr);
        return;
      case MessageType.HeartbeatResp: {
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        // A full replicate window that got no acknowledgement over a whole heartbeat round was
        // lost (every MsgApp of it); nothing else would ever free it. Probe again from match+1
        // (etcd resumes one append on heartbeat responses for the same reason).
        if (pr.state === ProgressState.Replicate && pr.inflights.full() && pr.match === pr.matchAtLastHeartbeat) pr.becomeProbe();
        pr.matchAtLastHeartbeat = pr.match;
        if (pr.match < this.log.lastIndex() || pr.state === ProgressState.Probe) this.sendAppend(m.from);
        if (m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (acks === undefined) return;
        let votersAcked = 0;
        for (const a of acks) if (this.voters.has(a)) votersAcked++;
        if (votersAcked < this.quorum()) return;
        for (const rs of this.readOnly.advance(m.context)) this.respondReadIndex(rs.from, rs.index, rs.ctx);
        return;
      }
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        pr.recentActive = true;
        if (m.reject) {
          // The follower lost a chunk or could not apply: restart after the next heartbeat.
          pr.pendingSnapshot = 0;
          pr.becomeProbe();
          pr.msgAppFlowPaused = true;
        }
        return;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader: {
        if (pr.isLearner) return;
        const transferee = m.from;
        if (this.leadTransferee !== 0) {
          if (this.leadTransferee === transferee) return;
          this.abortLeaderTransfer();
        }
        if (transferee === this.id) return;
        // Thesis §3.10: catch the transferee up, then tell it to campaign at once.
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
        else this.sendAppend(transferee);
        return;
      }
      default:
        return;
    }
  }

  private leaderAppResp(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let probe = m.rejectHint;
      if (m.logTerm > 0) probe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, probe)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe)) {
      if (pr.state === ProgressState.Probe) {
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.log.firstIndex()) {
        // The follower has the snapshot (or caught up otherwise): resume normal replication.
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Replicate) {
        pr.inflights.freeLE(m.index);
      }
      if (this.maybeCommit()) {
        this.releasePendingReadIndexMessages();
        // With piggybackCommit the commit index goes out with the next MsgApp or heartbeat.
        if (!this.cfg.piggybackCommit) this.bcastAppend();
        else if (oldPaused) this.sendAppend(m.from);
      } else if (oldPaused) {
        this.sendAppend(m.from);
      }
      // Keep the pipeline full.
      while (this.maybeSendAppend(m.from, false)) {
        // loop
      }
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapChunk(m);
        return;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp: {
        if (m.type !== myResp) return;
        const res = this.poll(m.from, !m.reject);
        if (res === VoteResult.Won) {
          if (this.role === Role.PreCandidate) {
            this.campaign(false, false);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === VoteResult.Lost) {
          this.becomeFollower(this.term, 0);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapChunk(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === 0) return;
        m.to = this.lead;
        this.msgs.push(m);
        return;
      case MessageType.TimeoutNow:
        this.hup(true);
        return;
      case MessageType.ReadIndex:
        if (this.lead === 0) return;
        this.send(newMessage({ type: MessageType.ReadIndex, to: this.lead, context: m.context }));
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, requestCtx: m.context });
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower handlers

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: lastNew }));
      return;
    }
    // Fast backtracking (etcd raft.go): tell the leader the largest index <= m.index whose
    // term is <= m.logTerm; the leader skips every entry in between in one round trip.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }));
  }

  private handleHeartbeat(m: Message): void {
    // m.commit <= the follower's match as the leader knows it, so it is within our log.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(newMessage({ type: MessageType.HeartbeatResp, to: m.from, context: m.context }));
  }

  private snapFail(m: Message, index: number, term: number): void {
    this.snapRecv = { from: m.from, index, term, total: 0, buf: new Uint8Array(0), got: 0, failed: true };
    this.send(newMessage({ type: MessageType.SnapStatus, to: m.from, index, reject: true }));
  }

  /** Reassemble MsgSnap chunks; any gap fails the transfer and tells the leader to restart. */
  private handleSnapChunk(m: Message): void {
    const s = m.snapshot;
    if (s === null) return;
    const meta = s.meta;
    let r = this.snapRecv;
    if (m.snapOffset === 0) {
      if (m.snapTotal > this.cfg.maxSnapshotBytes || s.data.length > m.snapTotal) {
        this.snapFail(m, meta.index, meta.term);
        return;
      }
      r = this.snapRecv = { from: m.from, index: meta.index, term: meta.term, total: m.snapTotal, buf: new Uint8Array(m.snapTotal), got: 0, failed: false };
    }
    if (r === null || r.index !== meta.index || r.term !== meta.term || r.from !== m.from) {
      // The first chunk was lost (or belongs to an older transfer).
      this.snapFail(m, meta.index, meta.term);
      return;
    }
    if (r.failed) return; // already reported; wait for the leader to restart at offset 0
    if (m.snapOffset !== r.got || m.snapTotal !== r.total || r.got + s.data.length > r.total) {
      this.snapFail(m, meta.index, meta.term);
      return;
    }
    r.buf.set(s.data, r.got);
    r.got += s.data.length;
    if (r.got < r.total) return;
    this.snapRecv = null;
    const snap: Snapshot = { meta, data: r.buf };
    if (this.restore(snap)) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
    }
  }

  /** Install a snapshot from the leader. False if it is stale or already covered by our log. */
  private restore(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    if (this.role !== Role.Follower) {
      this.becomeFollower(this.term + 1, 0);
      return false;
    }
    const c = s.meta.conf;
    if (!c.voters.includes(this.id) && !c.learners.includes(this.id)) return false;
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.log.restore(s);
    this.setConf(c);
    const self = this.prs.get(this.id);
    if (self !== undefined) self.match = 0;
    return true;
  }

  // ---------------------------------------------------------------- leader replication

  private maybeCommit(): boolean {
    return this.log.maybeCommit(this.quorumMatch(), this.term);
  }

  private sendAppend(to: number): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Send one MsgApp (or start a snapshot) to `to` if its progress allows. With sendIfEmpty
   * false nothing is sent when there are no new entries. Returns whether a message was sent.
   */
  private maybeSendAppend(to: number, sendIfEmpty: boolean): boolean {
    if (to === this.id) return false;
    const pr = this.prs.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = prevTerm === undefined ? undefined : this.log.entries(pr.next, this.cfg.maxSizePerMsg);
    if (prevTerm === undefined || ents === undefined) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entryBytes(e);
    this.send(newMessage({ type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed }));
    pr.sentEntries(ents.length, ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex, bytes);
    return true;
  }

  private sendSnapshot(to: number, pr: Progress): boolean {
    if (!pr.recentActive) return false; // do not ship a snapshot to a node that may be down
    const snap = this.log.snapshot();
    if (snap.meta.index === 0) return false;
    pr.becomeSnapshot(snap.meta.index);
    const total = snap.data.length;
    const chunk = this.cfg.snapshotChunkBytes;
    // All chunks go out at once; TCP keeps them in order. A gap makes the follower report
    // failure, a lost tail is caught by snapshotTimeoutTicks.
    for (let off = 0; ; off += chunk) {
      const end = Math.min(off + chunk, total);
      this.send(newMessage({
        type: MessageType.Snap, to, snapshot: { meta: snap.meta, data: snap.data.subarray(off, end) }, snapOffset: off, snapTotal: total,
      }));
      if (end >= total) break;
    }
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.memberIds) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    const ctx = this.readOnly.lastPendingCtx();
    for (const id of this.memberIds) {
      if (id === this.id) continue;
      const pr = this.prs.get(id)!;
      // Never tell a follower to commit beyond what it is known to have (it may lack entries).
      this.send(newMessage({ type: MessageType.Heartbeat, to: id, commit: Math.min(pr.match, this.log.committed), context: ctx }));
    }
  }

  private sendTimeoutNow(to: number): void {
    this.send(newMessage({ type: MessageType.TimeoutNow, to }));
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = 0;
  }

  // ---------------------------------------------------------------- ReadIndex (thesis §6.4)

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private leaderReadIndex(m: Message): void {
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      this.respondReadIndex(m.from, this.log.committed, m.context);
      return;
    }
    // §6.4 step 1: until the leader commits an entry of its term it does not know the
    // latest commit index; hold the read until then.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.startReadIndex(m);
  }

  private startReadIndex(m: Message): void {
    this.readOnly.addRequest(this.log.committed, m.from, m.context);
    this.readOnly.recvAck(this.id, m.context);
    for (const id of this.memberIds) {
      if (id === this.id) continue;
      const pr = this.prs.get(id)!;
      this.send(newMessage({ type: MessageType.Heartbeat, to: id, commit: Math.min(pr.match, this.log.committed), context: m.context }));
    }
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.startReadIndex(m);
  }

  private respondReadIndex(from: number, index: number, ctx: Uint8Array): void {
    if (from === 0 || from === this.id) this.readStates.push({ index, requestCtx: ctx });
    else this.send(newMessage({ type: MessageType.ReadIndexResp, to: from, index, context: ctx }));
  }

  // ---------------------------------------------------------------- caller API

  private leaderOrThrow(): void {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.id, this.lead);
    if (!this.prs.has(this.id)) throw new ProposalDroppedError(`propose on manager ${this.id}: this manager was removed from the configuration, send the request to another manager`);
    if (this.leadTransferee !== 0) {
      throw new ProposalDroppedError(`propose on manager ${this.id}: leadership transfer to manager ${this.leadTransferee} in progress, retry after it completes`);
    }
  }

  private appendProposal(type: number, data: Uint8Array): { index: number; term: number } {
    const size = data.length;
    const max = this.cfg.maxUncommittedEntriesSize;
    if (this.uncommittedSize > 0 && size > 0 && this.uncommittedSize + size > max) {
      throw new ProposalDroppedError(
        `propose on manager ${this.id}: ${this.uncommittedSize} bytes are not yet applied (cap ${max}), retry after followers catch up`,
      );
    }
    this.uncommittedSize += size;
    const e: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.append([e]);
    // The leader's own copy counts for commit only once persisted (see onStable); MsgApps may
    // go out before that (thesis §10.2.1).
    this.bcastAppend();
    return { index: e.index, term: e.term };
  }

  /** Append a normal entry. Throws NotLeaderError / ProposalDroppedError. */
  propose(data: Uint8Array): { index: number; term: number } {
    this.leaderOrThrow();
    return this.appendProposal(ENTRY_NORMAL, data);
  }

  /** Propose a one-server membership change (thesis §4.1). Throws ConfChangeError when it cannot be proposed. */
  proposeConfChange(cc: ConfChange, encoded: Uint8Array): { index: number; term: number } {
    this.leaderOrThrow();
    if (this.pendingConfIndex > this.log.applied) {
      throw new ConfChangeError('VXM_ERR_CONF_CHANGE_PENDING', `propose conf change: change at index ${this.pendingConfIndex} is not applied yet, retry after it is`);
    }
    const id = cc.nodeId;
    const name = CONF_CHANGE_NAMES[cc.type] ?? String(cc.type);
    const invalid = (why: string): never => {
      throw new ConfChangeError('VXM_ERR_CONF_CHANGE_INVALID', `propose conf change ${name} ${id}: ${why}`);
    };
    if (!Number.isSafeInteger(id) || id <= 0) invalid('node ID must be a positive integer');
    if (cc.type !== ConfChangeType.Remove && this.removed.has(id)) {
      throw new ConfChangeError('VXM_ERR_NODE_ID_REMOVED', `propose conf change ${name} ${id}: ID ${id} was removed and cannot be reused, give the manager a new ID`);
    }
    switch (cc.type) {
      case ConfChangeType.AddVoter:
        if (this.voters.has(id)) invalid('already a voter');
        break;
      case ConfChangeType.AddLearner:
        if (this.voters.has(id)) invalid('is a voter (demotion is not supported)');
        if (this.learners.has(id)) invalid('already a learner');
        break;
      case ConfChangeType.PromoteLearner:
        if (!this.learners.has(id)) invalid('not a learner');
        break;
      case ConfChangeType.Remove:
        if (!this.prs.has(id)) invalid('not a member');
        if (this.voters.has(id) && this.voters.size === 1) invalid('cannot remove the last voter');
        break;
      default:
        invalid('unknown change type');
    }
    const r = this.appendProposal(ENTRY_CONF_CHANGE, encoded);
    this.pendingConfIndex = r.index;
    return r;
  }

  /**
   * Apply a committed conf change (call when the ENTRY_CONF_CHANGE entry is applied, like etcd's
   * ApplyConfChange). Changes that do not fit the current configuration are ignored, so every
   * node applies the same log to the same result. Returns the new configuration.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const id = cc.nodeId;
    const next = Math.max(this.log.lastIndex(), 1);
    switch (cc.type) {
      case ConfChangeType.AddVoter:
      case ConfChangeType.PromoteLearner: {
        if (this.voters.has(id)) break;
        if (cc.type === ConfChangeType.PromoteLearner && !this.learners.has(id)) break;
        const pr = this.prs.get(id);
        if (pr !== undefined) pr.isLearner = false;
        else {
          const np = this.newProgress(next, false);
          np.recentActive = true;
          this.prs.set(id, np);
        }
        this.learners.delete(id);
        this.voters.add(id);
        break;
      }
      case ConfChangeType.AddLearner: {
        if (this.voters.has(id) || this.learners.has(id)) break;
        const np = this.newProgress(next, true);
        np.recentActive = true;
        this.prs.set(id, np);
        this.learners.add(id);
        break;
      }
      case ConfChangeType.Remove:
        if (!this.prs.has(id)) break;
        if (this.voters.has(id) && this.voters.size === 1) break;
        this.prs.delete(id);
        this.voters.delete(id);
        this.learners.delete(id);
        this.removed.add(id);
        break;
      default:
        break;
    }
    this.refreshMemberIds();
    if (this.role === Role.Leader) {
      if (!this.voters.has(this.id)) {
        // Removing the leader: it led until the change committed; now it steps down and the
        // remaining voters elect a new leader after an election timeout.
        this.becomeFollower(this.term, 0);
      } else {
        if (this.leadTransferee !== 0 && !this.voters.has(this.leadTransferee)) this.abortLeaderTransfer();
        // The quorum changed: entries may now be committed.
        if (this.maybeCommit()) this.releasePendingReadIndexMessages();
        this.bcastAppend();
      }
    }
    return this.confState();
  }

  /** Decode and apply an ENTRY_CONF_CHANGE entry's data; undefined if the bytes are not a ConfChange. */
  applyConfChangeEntry(data: Uint8Array): ConfState | undefined {
    const cc = decodeConfChange(data);
    return cc === undefined ? undefined : this.applyConfChange(cc);
  }

  /** Linearizable read (thesis §6.4): the answer arrives as a ReadState in a later Ready. */
  readIndex(ctx: Uint8Array): void {
    if (this.role === Role.Leader) {
      this.leaderReadIndex(newMessage({ type: MessageType.ReadIndex, from: this.id, context: ctx }));
    } else if (this.role === Role.Follower && this.lead !== 0) {
      this.send(newMessage({ type: MessageType.ReadIndex, to: this.lead, context: ctx }));
    } else {
      throw new NotLeaderError(this.id, this.lead);
    }
  }

  /** Ask the leader to hand leadership to `to` (thesis §3.10). */
  transferLeader(to: number): void {
    if (this.role === Role.Leader) {
      this.stepLeader(newMessage({ type: MessageType.TransferLeader, from: to, to: this.id }));
    } else if (this.lead !== 0) {
      // etcd convention: `from` names the transferee, the leader is the recipient.
      this.msgs.push(newMessage({ type: MessageType.TransferLeader, from: to, to: this.lead, term: this.term }));
    } else {
      throw new NotLeaderError(this.id, 0);
    }
  }

  /** The transport could not deliver to `id`: stop pipelining to it. */
  reportUnreachable(id: number): void {
    if (this.role === Role.Leader) this.stepLeader(newMessage({ type: MessageType.Unreachable, from: id }));
  }

  /** The transport failed to deliver a snapshot to `id`: restart the transfer after a heartbeat. */
  reportSnapshotFailure(id: number): void {
    if (this.role === Role.Leader) this.stepLeader(newMessage({ type: MessageType.SnapStatus, from: id, reject: true }));
  }

  /** Entries up to (index, term) are durable. The leader counts itself for commit from now on. */
  onStable(index: number, term: number): void {
    this.log.unstable.stableTo(index, term);
    if (this.role !== Role.Leader) return;
    const self = this.prs.get(this.id);
    if (self === undefined) return;
    if (self.maybeUpdate(Math.min(this.stableLastIndex(), this.log.lastIndex())) && this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      if (!this.cfg.piggybackCommit) this.bcastAppend();
    }
  }

  onSnapshotStable(index: number): void {
    this.log.unstable.stableSnapTo(index);
  }

  /** Committed entries were handed to the application. */
  onApplied(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    this.log.appliedTo(ents[ents.length - 1]!.index);
    if (this.role === Role.Leader) {
      let s = 0;
      for (const e of ents) s += e.data.length;
      this.uncommittedSize = Math.max(0, this.uncommittedSize - s);
    }
  }

  status(): Status {
    const progress = new Map<number, ProgressStatus>();
    if (this.role === Role.Leader) {
      for (const id of this.memberIds) {
        const pr = this.prs.get(id)!;
        progress.set(id, {
          match: pr.match, next: pr.next, state: PROGRESS_STATE_NAMES[pr.state]!, inflight: pr.inflights.count,
          isLearner: pr.isLearner, recentActive: pr.recentActive,
        });
      }
    }
    return {
      id: this.id, term: this.term, vote: this.vote, role: ROLE_NAMES[this.role]!, leader: this.lead,
      commit: this.log.committed, applied: this.log.applied, leadTransferee: this.leadTransferee, progress, conf: this.confState(),
    };
  }
}
