// RaftStorage: what a Raft core reads (etcd-io/raft Storage: InitialState, Entries, Term,
// FirstIndex, LastIndex, Snapshot) and what its driver writes (append, hard state, snapshots,
// compaction), kept in memory like raft's MemoryStorage and made durable through the WAL and
// the snapshot files before each call returns.
//
// Layout under `dir`: `wal/` (wal.ts) and `snap/` (snapshot.ts).
//
// Order of writes for a snapshot (as etcd's server does): snapshot file (atomic) -> WAL marker
// (synced) -> prune old snapshot files -> release WAL segments. On open, a snapshot file counts
// only if the WAL has a marker for it (or it is older than every marker kept), so a crash
// between the file and the marker falls back to the previous snapshot.

import { RaftStorageError } from './errors.js';
import { joinPath, type StorageFs } from './fs.js';
import { Snapshotter, type SnapshotFileInfo } from './snapshot.js';
import {
  ENTRY_CONF_CHANGE,
  mustSync,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  type SnapshotMeta,
} from './types.js';
import { Wal, type WalOptions } from './wal.js';

export interface RaftStorageOptions extends WalOptions {
  /**
   * Snapshot files kept. Default 3. WAL segments are released only up to the OLDEST kept
   * snapshot, so a corrupt newest file can fall back to an older one; more files cost disk
   * (each is a full state copy) and keep more WAL around.
   */
  keepSnapshots?: number;
}

export interface RaftStorageCounters {
  /** Snapshot files skipped on open because they failed their checksum. */
  snapshotCorruptSkipped: number;
  /** Snapshot files without a WAL marker (crash before the marker) removed on open. */
  snapshotOrphansRemoved: number;
  snapshotsPruned: number;
}

function copyConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}

/** Approximate bytes an entry occupies on the wire; used by entries(maxBytes). */
function entrySize(e: Entry): number {
  return 24 + e.data.length;
}

export class RaftStorage {
  readonly counters: RaftStorageCounters = { snapshotCorruptSkipped: 0, snapshotOrphansRemoved: 0, snapshotsPruned: 0 };
  private hardState: HardState;
  private snap: Snapshot;
  /** Compaction point: ents[i] has index offset + 1 + i; term(offset) = offsetTerm. */
  private offset: number;
  private offsetTerm: number;
  private ents: Entry[];
  private readonly keepSnapshots: number;

  private constructor(
    readonly wal: Wal,
    readonly snapshotter: Snapshotter,
    hs: HardState,
    snap: Snapshot,
    ents: Entry[],
    keepSnapshots: number,
  ) {
    this.hardState = hs;
    this.snap = snap;
    this.offset = snap.meta.index;
    this.offsetTerm = snap.meta.term;
    this.ents = ents;
    this.keepSnapshots = keepSnapshots;
  }

  /**
   * Open (or create) the storage in `dir`. Throws WalCorruptError (VXM_ERR_WAL_CORRUPT) for a
   * damaged log, RaftStorageError VXM_ERR_SNAPSHOT_MISSING when no usable snapshot reaches the
   * start of the log.
   */
  static open(dir: string, fs: StorageFs, opts: RaftStorageOptions = {}): RaftStorage {
    fs.mkdirp(dir);
    const snapshotter = new Snapshotter(joinPath(dir, 'snap'), fs);
    const { wal, replay } = Wal.open(joinPath(dir, 'wal'), fs, opts);
    let orphans = 0;
    const newestMarker = replay.snapshot;
    const oldestMarker = replay.markers[0];
    const accept = (info: SnapshotFileInfo): boolean => {
      if (newestMarker === null || info.index > newestMarker.index) {
        // Written but never recorded in the WAL: the snapshot was not acknowledged.
        snapshotter.remove(info.name);
        orphans++;
        return false;
      }
      if (replay.markers.some((m) => m.index === info.index && m.term === info.term)) return true;
      if (replay.markers.some((m) => m.index === info.index)) return false; // a replaced snapshot
      // Older than every marker kept: its marker was in a released segment.
      return oldestMarker !== undefined && info.index < oldestMarker.index;
    };
    const loaded = snapshotter.loadNewest(accept);
    const snap: Snapshot = loaded ?? { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) };
    let ents: Entry[];
    try {
      ents = replay.entriesAfter(snap.meta.index);
    } catch (err) {
      wal.close();
      throw err;
    }
    if (!loaded && newestMarker && newestMarker.index > 0 && ents.length > 0 && ents[0]!.index !== 1) {
      wal.close();
      throw new RaftStorageError(
        'VXM_ERR_SNAPSHOT_MISSING',
        `open raft storage: no readable snapshot file in ${joinPath(dir, 'snap')} for the WAL's snapshot at index ${newestMarker.index}; ` +
          'move the raft data directory aside and rejoin the cluster to restore from a peer',
      );
    }
    const hs = { ...replay.hardState };
    // A crash after the marker but before the next hard state leaves commit behind the
    // snapshot; the snapshot is committed by definition (etcd raft would panic otherwise).
    if (hs.commit < snap.meta.index) hs.commit = snap.meta.index;
    const s = new RaftStorage(wal, snapshotter, hs, snap, ents, opts.keepSnapshots ?? 3);
    s.counters.snapshotCorruptSkipped = snapshotter.counters.corruptSkipped;
    s.counters.snapshotOrphansRemoved = orphans;
    return s;
  }

  /** etcd raft Storage.InitialState. */
  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: copyConf(this.snap.meta.conf) };
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length;
  }

  /** Term of entry `i`; the snapshot's term for its index. */
  term(i: number): number {
    const off = this.offset;
    if (i < off) throw new RaftStorageError('VXM_ERR_RAFT_COMPACTED', `raft term(${i}): compacted below ${off + 1}; send a snapshot`);
    if (i === off) return this.offsetTerm;
    if (i > this.lastIndex()) {
      throw new RaftStorageError('VXM_ERR_RAFT_UNAVAILABLE', `raft term(${i}): beyond the last index ${this.lastIndex()}`);
    }
    return this.ents[i - off - 1]!.term;
  }

  /**
   * Entries [lo, hi), at least one if any, at most `maxBytes` of (24 + data) each beyond the
   * first (etcd's limitSize). The returned array is a copy; the entries are shared, do not mutate.
   */
  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const off = this.offset;
    if (lo <= off) throw new RaftStorageError('VXM_ERR_RAFT_COMPACTED', `raft entries(${lo}, ${hi}): compacted below ${off + 1}; send a snapshot`);
    if (hi > this.lastIndex() + 1 || lo > hi) {
      throw new RaftStorageError('VXM_ERR_RAFT_UNAVAILABLE', `raft entries(${lo}, ${hi}): beyond the last index ${this.lastIndex()}`);
    }
    let end = lo - off - 1;
    const stop = hi - off - 1;
    let size = 0;
    while (end < stop) {
      size += entrySize(this.ents[end]!);
      if (size > maxBytes && end > lo - off - 1) break;
      end++;
    }
    return this.ents.slice(lo - off - 1, end);
  }

  /** The current snapshot (etcd raft Storage.Snapshot). */
  snapshot(): Snapshot {
    return this.snap;
  }

  hardStateNow(): HardState {
    return { ...this.hardState };
  }

  /**
   * Persist a Ready: entries (possibly replacing a conflicting tail, Raft §5.3) and the hard state
   * (null: unchanged) in one WAL write, synced when etcd's MustSync says so (or `sync` forces it).
   * Entries at or below the snapshot are skipped (already compacted).
   */
  save(hs: HardState | null, entries: readonly Entry[], opts: { sync?: boolean } = {}): void {
    let list = entries;
    const first = this.firstIndex();
    if (list.length > 0 && list[0]!.index < first) {
      list = list.filter((e) => e.index >= first);
    }
    if (list.length > 0) {
      const start = list[0]!.index;
      if (start > this.lastIndex() + 1) {
        throw new RaftStorageError('VXM_ERR_RAFT_UNAVAILABLE', `raft append: entry ${start} leaves a gap after ${this.lastIndex()}`);
      }
      for (let i = 1; i < list.length; i++) {
        if (list[i]!.index !== list[i - 1]!.index + 1) {
          throw new RaftStorageError('VXM_ERR_RAFT_UNAVAILABLE', `raft append: entries are not contiguous at ${list[i]!.index}`);
        }
      }
    }
    const sync = opts.sync ?? mustSync(this.hardState, hs ?? this.hardState, list.length);
    this.wal.save(hs, list, { sync });
    if (list.length > 0) {
      this.ents.length = list[0]!.index - this.firstIndex();
      for (const e of list) this.ents.push(e);
    }
    if (hs) this.hardState = { ...hs };
  }

  /**
   * Make everything saved so far durable without blocking (save(..., {sync: false}) first).
   * Contract: no other call on this storage until `done` runs.
   */
  syncAsync(done: (err: Error | null) => void): void {
    this.wal.syncAsync(done);
  }

  /** Append entries (in memory and WAL, synced). */
  append(entries: readonly Entry[]): void {
    this.save(null, entries, { sync: entries.length > 0 });
  }

  /** Persist a new hard state; synced if term or vote changed. */
  setHardState(hs: HardState): void {
    this.save(hs, []);
  }

  /**
   * Install a snapshot received from the leader (Raft §7). If the log holds the snapshot's last
   * entry with the same term, the entries after it stay (they are consistent by the Log Matching
   * Property); otherwise the whole log is replaced. (etcd's MemoryStorage always replaces it; its
   * core only installs non-matching snapshots, so both agree on what the core can observe.)
   */
  applySnapshot(snap: Snapshot): void {
    const cur = this.snap.meta.index;
    if (snap.meta.index <= cur) {
      throw new RaftStorageError('VXM_ERR_RAFT_SNAP_OUT_OF_DATE', `raft applySnapshot(${snap.meta.index}): already have a snapshot at ${cur}`);
    }
    const i = snap.meta.index;
    const matches = i <= this.lastIndex() && this.term(i) === snap.meta.term;
    this.snapshotter.save(snap);
    this.wal.saveSnapshot(snap.meta, !matches);
    this.ents = matches ? this.ents.slice(i - this.offset) : [];
    this.offset = i;
    this.offsetTerm = snap.meta.term;
    this.snap = snap;
    this.counters.snapshotsPruned += this.snapshotter.prune(this.keepSnapshots);
  }

  /**
   * Snapshot the applied state at `index` (<= commit). Does not compact: call compact() once
   * followers have caught up enough (etcd keeps SnapshotCatchUpEntries before the snapshot).
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    const cur = this.snap.meta.index;
    if (index <= cur) {
      throw new RaftStorageError('VXM_ERR_RAFT_SNAP_OUT_OF_DATE', `raft createSnapshot(${index}): already have a snapshot at ${cur}`);
    }
    if (index > this.hardState.commit || index > this.lastIndex()) {
      throw new RaftStorageError(
        'VXM_ERR_RAFT_UNAVAILABLE',
        `raft createSnapshot(${index}): beyond the commit index ${this.hardState.commit}; snapshot only applied entries`,
      );
    }
    const meta: SnapshotMeta = { index, term: this.term(index), conf: copyConf(conf) };
    const snap: Snapshot = { meta, data };
    this.snapshotter.save(snap);
    this.wal.saveSnapshot(meta, false);
    this.snap = snap;
    this.counters.snapshotsPruned += this.snapshotter.prune(this.keepSnapshots);
    return snap;
  }

  /**
   * Drop the log up to and including `index`, which the current snapshot must cover (so
   * snapshot() can always serve a follower that needs entries below firstIndex()), and release
   * WAL segments fully covered by the OLDEST snapshot file kept.
   */
  compact(index: number): void {
    if (index <= this.offset) {
      throw new RaftStorageError('VXM_ERR_RAFT_COMPACTED', `raft compact(${index}): already compacted to ${this.offset}`);
    }
    if (index > this.snap.meta.index) {
      throw new RaftStorageError(
        'VXM_ERR_RAFT_UNAVAILABLE',
        `raft compact(${index}): the snapshot covers only up to ${this.snap.meta.index}; create a snapshot first`,
      );
    }
    const term = this.term(index);
    this.ents = this.ents.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
    const files = this.snapshotter.list();
    const oldest = files.length > 0 ? files[files.length - 1]!.index : 0;
    this.wal.releaseTo(Math.min(index, oldest));
  }

  /**
   * Make this node the only voter, for disaster recovery when a quorum is lost for good (swarm's
   * `--force-new-cluster`, etcd's restartAsStandaloneNode). Call right after open(), before the
   * core starts.
   *
   * Choice: append one committed ENTRY_CONF_CHANGE entry rather than rewrite the snapshot's
   * ConfState. Entries between the snapshot and the commit index are committed and must still be
   * applied, and any conf change among them would override a rewritten snapshot ConfState when
   * applied; an entry appended after them is applied last and wins. Rewriting the snapshot would
   * also need the state machine's data at the commit index, which the storage does not have.
   * Uncommitted entries are dropped (they were never acknowledged to clients); the new entry has
   * the current term and index commit+1, and the hard state's commit moves onto it.
   *
   * `encodeConfChange` turns the target ConfState into the core's conf-change entry payload (the
   * core owns that format). The core must apply pending conf changes before campaigning, as etcd
   * raft does, so the node elects itself under the new configuration.
   */
  forceNewCluster(selfId: number, encodeConfChange: (conf: ConfState) => Uint8Array): Entry {
    const hs = { ...this.hardState };
    const index = hs.commit + 1;
    const entry: Entry = {
      term: hs.term,
      index,
      type: ENTRY_CONF_CHANGE,
      data: encodeConfChange({ voters: [selfId], learners: [] }),
    };
    const next: HardState = { term: hs.term, vote: hs.vote, commit: index };
    // The WAL's conflict rule drops every replayed entry after hs.commit on the next open.
    this.save(next, [entry], { sync: true });
    return entry;
  }

  close(): void {
    this.wal.close();
  }
}
