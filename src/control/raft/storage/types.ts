// Types shared by the Raft core and its storage. The core imports these; the storage persists them.
// Field meanings follow etcd-io/raft raftpb (HardState, Entry, ConfState, SnapshotMetadata).

/** What a node must persist before it sends any message (Raft paper §5.1, Figure 2 "persistent state"). */
export interface HardState {
  term: number;
  /** Node id voted for in `term`; 0 = none. */
  vote: number;
  /** Highest index known committed. Persisted so a restart does not re-apply from 0. */
  commit: number;
}

// WARNING: entry types are persisted in the WAL and sent on the wire. Append-only: never
// renumber or reuse a value, or logs written by an older version will be misread.
export const ENTRY_NORMAL = 0;
export const ENTRY_CONF_CHANGE = 1;

export interface Entry {
  term: number;
  index: number;
  /** ENTRY_NORMAL or ENTRY_CONF_CHANGE (append-only enum above). */
  type: number;
  data: Uint8Array;
}

export interface ConfState {
  voters: number[];
  learners: number[];
}

export interface SnapshotMeta {
  /** Index of the last entry the snapshot covers. */
  index: number;
  /** Term of that entry. */
  term: number;
  /** Membership as of `index`. */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

export const EMPTY_HARD_STATE: Readonly<HardState> = Object.freeze({ term: 0, vote: 0, commit: 0 });

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0;
}

/**
 * etcd's `MustSync`: the hard state's term or vote changed, or entries were appended. A commit
 * index change alone needs no fdatasync (it can be recomputed from a quorum after a crash).
 */
export function mustSync(prev: HardState, next: HardState, appendedEntries: number): boolean {
  return appendedEntries > 0 || prev.term !== next.term || prev.vote !== next.vote;
}
