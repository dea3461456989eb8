// Shapes shared by the Raft core, its storage and its driver: the persisted ones (HardState,
// Entry, ConfState, Snapshot) are declared once, in ../storage/types.ts, and re-exported here.

export { ENTRY_CONF_CHANGE, ENTRY_NORMAL, type ConfState, type Entry, type HardState, type Snapshot, type SnapshotMeta } from '../storage/types.js';
import type { ConfState, Entry, HardState, Snapshot } from '../storage/types.js';

/**
 * What the core reads of the stable log (etcd-io/raft storage.go `Storage`).
 * Contract: the core only calls `term(i)` for firstIndex()-1 <= i <= lastIndex() and
 * `entries(lo, hi)` for firstIndex() <= lo < hi <= lastIndex()+1, so an implementation may
 * throw outside those ranges. `entries` returns at least one entry when lo < hi even if that
 * entry alone exceeds maxBytes.
 */
export interface Storage {
  initialState(): { hardState: HardState; conf: ConfState };
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

// WARNING: the numbers below are protocol. Do not change them, only append new ones:
// changing them breaks compatibility with managers running an older version.
// (Wire enums are append-only, as hashicorp/memberlist net.go says of its messageType.)
export enum MessageType {
  /** Local: start an election (campaign). Never sent on the wire. */
  Hup = 0,
  /** Local: leader should broadcast heartbeats. Never sent on the wire. */
  Beat = 1,
  /** Local: a proposal. Never sent on the wire (followers refuse proposals, no forwarding). */
  Prop = 2,
  App = 3,
  AppResp = 4,
  Vote = 5,
  VoteResp = 6,
  /** One chunk of a snapshot: snapshot.data is bytes [snapOffset, snapOffset+len) of snapTotal. */
  Snap = 7,
  Heartbeat = 8,
  HeartbeatResp = 9,
  /** Local: the transport could not reach `from`. */
  Unreachable = 10,
  /** Follower -> leader: reject=true means the snapshot transfer failed and must restart. */
  SnapStatus = 11,
  /** Local: leader checks that a quorum was active in the last election timeout. */
  CheckQuorum = 12,
  /** `from` is the transferee; a follower forwards it to the leader. */
  TransferLeader = 13,
  TimeoutNow = 14,
  ReadIndex = 15,
  ReadIndexResp = 16,
  PreVote = 17,
  PreVoteResp = 18,
}

export const MESSAGE_TYPE_NAMES: readonly string[] = [
  'MsgHup', 'MsgBeat', 'MsgProp', 'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgVoteResp', 'MsgSnap',
  'MsgHeartbeat', 'MsgHeartbeatResp', 'MsgUnreachable', 'MsgSnapStatus', 'MsgCheckQuorum',
  'MsgTransferLeader', 'MsgTimeoutNow', 'MsgReadIndex', 'MsgReadIndexResp', 'MsgPreVote', 'MsgPreVoteResp',
];
export const MESSAGE_TYPE_COUNT = MESSAGE_TYPE_NAMES.length;

/** Types that exist only inside one node; the codec refuses to encode or decode them. */
export function isLocalMessage(t: MessageType): boolean {
  return t === MessageType.Hup || t === MessageType.Beat || t === MessageType.Prop ||
    t === MessageType.Unreachable || t === MessageType.CheckQuorum;
}

/** A Raft message. Plain object: every field is always present (see newMessage). */
export interface Message {
  type: MessageType;
  to: number;
  from: number;
  term: number;
  /** App: term of the entry at `index` (prev). Vote: candidate's last log term. AppResp reject: hint term. */
  logTerm: number;
  /** App: index preceding `entries`. AppResp: match (accept) or rejected index. Vote: last log index. ReadIndexResp: read index. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppResp reject: the follower's index to probe from (fast backtracking, etcd raft.go handleAppendEntries). */
  rejectHint: number;
  /** ReadIndex request context, or CAMPAIGN_TRANSFER on a Vote forced by leader transfer. */
  context: Uint8Array;
  /** Snap: the snapshot's metadata and this chunk's bytes. */
  snapshot: Snapshot | null;
  snapOffset: number;
  snapTotal: number;
}

const EMPTY = new Uint8Array(0);
export const EMPTY_BYTES: Uint8Array = EMPTY;

export function newMessage(p: Partial<Message> & { type: MessageType }): Message {
  return {
    type: p.type,
    to: p.to ?? 0,
    from: p.from ?? 0,
    term: p.term ?? 0,
    logTerm: p.logTerm ?? 0,
    index: p.index ?? 0,
    entries: p.entries ?? [],
    commit: p.commit ?? 0,
    reject: p.reject ?? false,
    rejectHint: p.rejectHint ?? 0,
    context: p.context ?? EMPTY,
    snapshot: p.snapshot ?? null,
    snapOffset: p.snapOffset ?? 0,
    snapTotal: p.snapTotal ?? 0,
  };
}

/** Context of a MsgVote sent after MsgTimeoutNow: voters ignore their leader lease for it. */
export const CAMPAIGN_TRANSFER: Uint8Array = new Uint8Array([0x43, 0x54]); // "CT"

export enum Role {
  Follower = 0,
  PreCandidate = 1,
  Candidate = 2,
  Leader = 3,
}
export const ROLE_NAMES: readonly string[] = ['StateFollower', 'StatePreCandidate', 'StateCandidate', 'StateLeader'];

export interface SoftState {
  lead: number;
  role: Role;
}

/** The result of a ReadIndex request: reads may be served once applied >= index. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

// Membership change types carried in ENTRY_CONF_CHANGE entries. Protocol: append-only.
export enum ConfChangeType {
  AddVoter = 0,
  AddLearner = 1,
  Remove = 2,
  PromoteLearner = 3,
}
export const CONF_CHANGE_NAMES: readonly string[] = ['add-voter', 'add-learner', 'remove', 'promote'];

export interface ConfChange {
  type: ConfChangeType;
  nodeId: number;
  /** Opaque to the core, replicated with the change (etcd's Context): the driver puts the new member's address here. */
  context?: Uint8Array;
}

export function entryBytes(e: Entry): number {
  // Payload plus a fixed overhead so that empty entries still cost something in batching.
  return e.data.length + 16;
}
