// An in-memory Storage for tests and the simulator, like etcd-io/raft storage.go MemoryStorage.
// ents[0] is a dummy entry holding the index and term of the last snapshot (or 0/0).

import { CompactedError, UnavailableError } from './errors.js';
import type { ConfState, Entry, HardState, Snapshot, Storage } from './types.js';
import { entryBytes } from './types.js';

export class MemoryStorage implements Storage {
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot;
  private ents: Entry[];

  /** `conf` is the bootstrap configuration, recorded as a snapshot at index 0. */
  constructor(conf: ConfState = { voters: [], learners: [] }) {
    this.snap = { meta: { index: 0, term: 0, conf: cloneConf(conf) }, data: new Uint8Array(0) };
    this.ents = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: { ...this.hardState }, conf: cloneConf(this.snap.meta.conf) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(i: number): number {
    const off = this.offset();
    if (i < off) throw new CompactedError(`read term ${i}: compacted up to ${off}`);
    if (i - off >= this.ents.length) throw new UnavailableError(`read term ${i}: last index is ${this.lastIndex()}`);
    return this.ents[i - off]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const off = this.offset();
    if (lo <= off) throw new CompactedError(`read entries from ${lo}: compacted up to ${off}`);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(`read entries to ${hi}: last index is ${this.lastIndex()}`);
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - off]!;
      size += entryBytes(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replace everything with `snap` (a follower restoring a snapshot sent by the leader). */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) throw new CompactedError(`apply snapshot ${snap.meta.index}: have snapshot ${this.snap.meta.index}`);
    this.snap = { meta: { index: snap.meta.index, term: snap.meta.term, conf: cloneConf(snap.meta.conf) }, data: snap.data };
    this.ents = [{ term: snap.meta.term, index: snap.meta.index, type: 0, data: new Uint8Array(0) }];
  }

  /** Record a snapshot of the state machine at applied index `i` (does not compact). */
  createSnapshot(i: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.meta.index) throw new CompactedError(`create snapshot ${i}: have snapshot ${this.snap.meta.index}`);
    if (i > this.lastIndex()) throw new UnavailableError(`create snapshot ${i}: last index is ${this.lastIndex()}`);
    this.snap = { meta: { index: i, term: this.term(i), conf: cloneConf(conf) }, data };
    return this.snap;
  }

  /** Drop entries before `i` (i becomes the dummy entry). Callers must not compact beyond applied. */
  compact(i: number): void {
    const off = this.offset();
    if (i <= off) throw new CompactedError(`compact to ${i}: compacted up to ${off}`);
    if (i > this.lastIndex()) throw new UnavailableError(`compact to ${i}: last index is ${this.lastIndex()}`);
    const e = this.ents[i - off]!;
    this.ents = [{ term: e.term, index: e.index, type: 0, data: new Uint8Array(0) }, ...this.ents.slice(i - off + 1)];
  }

  /** Append entries, truncating any conflicting suffix (the entries must be contiguous). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    let ents = entries;
    if (ents[ents.length - 1]!.index < first) return; // all compacted
    if (ents[0]!.index < first) ents = ents.slice(first - ents[0]!.index);
    const at = ents[0]!.index - this.offset();
    if (at > this.ents.length) throw new UnavailableError(`append at ${ents[0]!.index}: last index is ${this.lastIndex()}`);
    this.ents = this.ents.slice(0, at).concat(ents);
  }
}

export function cloneConf(c: ConfState): ConfState {
  return { voters: c.voters.slice(), learners: c.learners.slice() };
}
