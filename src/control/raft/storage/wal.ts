// Segmented write-ahead log for Raft hard state, entries and snapshot markers.
// Ideas from etcd server/storage/wal (wal.go, decoder.go, repair.go); see record.ts for framing.
//
// Directory layout: `<seq:016x>-<firstIndex:016x>.wal`, seq counting up from 0, firstIndex the
// index the segment's first new entry was expected to have (last index + 1 when it was cut).
// Every segment begins with a metadata record (salt, seq, first index, caller metadata), then
// the newest snapshot marker and hard state known at the cut, so any suffix of the segment list
// replays on its own once older segments are released.
//
// Replay rules (the log as Raft sees it):
// - An entry whose index is <= the last replayed index replaced the tail (Raft §5.3 log
//   conflict): it truncates the replayed log before its index, then is appended.
// - The last hard state wins.
// - A snapshot marker whose (index, term) matches a replayed entry, or lies below the replayed
//   range, keeps the log; otherwise (log replaced by a leader's snapshot, §7) it empties it.
//
// Torn tail or corruption: a record that fails to parse in the LAST segment is a torn tail when
// no valid record follows it at any 8-byte aligned offset (incomplete final write, bad CRC in the
// final record, zeroed space): it is truncated away. If a valid record follows, bytes that were
// written and synced before later bytes changed: WalCorruptError (VXM_ERR_WAL_CORRUPT). A bad
// record in an earlier segment is always corruption: segments are fdatasync'ed before a cut.
// Limitation: out-of-order writeback of never-synced pages (a later unsynced record durable, an
// earlier one not) is reported as corruption too; etcd's decoder has the same blind spot except
// for all-zero sectors.

import { WalCorruptError, RaftStorageError } from './errors.js';
import { joinPath, type StorageFs } from './fs.js';
import {
  RecordBuffer,
  RECORD_ALIGN,
  REC_ENTRY,
  REC_HARD_STATE,
  REC_METADATA,
  REC_SNAPSHOT,
  decodeEntry,
  decodeHardState,
  decodeMetadata,
  decodeSnapshotMeta,
  readRecord,
  type RawRecord,
  type SegmentHeader,
} from './record.js';
import { EMPTY_HARD_STATE, type Entry, type HardState, type SnapshotMeta } from './types.js';
import { randomBytes } from 'node:crypto';

export interface WalOptions {
  /**
   * Cut a new segment once the active one reaches this size. Default 64 MiB (etcd's
   * SegmentSizeBytes). Smaller segments release disk sooner after compaction and make a
   * recovery scan of the last segment shorter; each cut costs an fdatasync, a create, a rename
   * and a directory fsync, so below a few MiB the cuts show up in the write latency tail.
   */
  segmentBytes?: number;
  /**
   * Largest record payload accepted on replay (a length above it is treated as garbage).
   * Default 64 MiB. Must exceed the largest entry the core proposes plus 24 bytes.
   */
  maxRecordBytes?: number;
  /**
   * Extend each new segment to `segmentBytes` (a sparse ftruncate) before writing to it, as etcd
   * preallocates its 64 MiB segments. Appends then leave the file size alone, so fdatasync
   * flushes the data (and a block allocation once per filesystem block) without a journal
   * commit for the size on every write: on ext4 with three managers syncing at once this cut
   * the fdatasync p50 from ~250 to ~175 µs. Replay treats zeros after the last record as the
   * end of the log. Default false (MemFs copies the whole file on every sync); the Raft driver
   * turns it on for the real disk.
   */
  preallocate?: boolean;
  /** Caller metadata written in every segment header (e.g. cluster and node id). Default empty. */
  metadata?: Uint8Array;
  /**
   * Source of segment salts. Default crypto random. A simulator passes a seeded function so runs
   * are reproducible. Salts only need to differ between files that could reuse each other's blocks.
   */
  randomU32?: () => number;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** Implementation: unsynced records held in memory before they are written anyway. */
const HOLD_BACK_BYTES = 64 * 1024;

export interface WalCounters {
  /** Bytes cut off the last segment on open (torn tail). */
  tornTailBytesTruncated: number;
  /** Torn last segments without a valid header that were removed on open. */
  tornSegmentsRemoved: number;
  /** Segments unlinked by releaseTo(). */
  segmentsReleased: number;
  /** Segments cut. */
  segmentsCut: number;
  /** Entries on replay below the replayed range (stale, ignored). */
  staleEntriesIgnored: number;
  /** fdatasync calls on segment files. */
  syncs: number;
}

interface SegmentInfo {
  name: string;
  seq: number;
  firstIndex: number;
}

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

function parseSegmentName(name: string): SegmentInfo | undefined {
  const m = SEGMENT_RE.exec(name);
  if (!m) return undefined;
  return { name, seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16) };
}

/** The log rebuilt by replay: entries after `offset`, contiguous. */
class ReplayLog {
  offset = -1; // index before entries[0]; -1 until the first entry or marker
  entries: Entry[] = [];

  last(): number {
    return this.offset + this.entries.length;
  }
}

export interface WalReplay {
  hardState: HardState;
  /** Newest snapshot marker, or null if none was ever saved (or all were released). */
  snapshot: SnapshotMeta | null;
  /** All markers found in the retained segments, oldest first. */
  markers: SnapshotMeta[];
  /** Entries after `snapshot` (or from the start when there is none). */
  entries: Entry[];
  metadata: Uint8Array;
  /**
   * Entries after `index` (a snapshot the caller chose to start from). Throws
   * VXM_ERR_SNAPSHOT_MISSING when entries just after `index` were released or replaced.
   */
  entriesAfter(index: number): Entry[];
}

export class Wal {
  readonly counters: WalCounters = {
    tornTailBytesTruncated: 0,
    tornSegmentsRemoved: 0,
    segmentsReleased: 0,
    segmentsCut: 0,
    staleEntriesIgnored: 0,
    syncs: 0,
  };
  private readonly segmentBytes: number;
  private readonly maxRecordBytes: number;
  private readonly metadata: Uint8Array;
  private readonly randomU32: () => number;
  private segments: SegmentInfo[] = [];
  private fd = -1;
  private size = 0;
  private salt = 0;
  private readonly rec = new RecordBuffer();
  private readonly preallocate: boolean;
  /** `rec` holds unsynced records not yet written (see save). */
  private unwritten = false;
  /** Last entry index written (hint for segment names). */
  private lastIndex = 0;
  private hardState: HardState = { ...EMPTY_HARD_STATE };
  private lastSnapshot: SnapshotMeta | null = null;

  private constructor(
    readonly dir: string,
    private readonly fs: StorageFs,
    opts: WalOptions,
  ) {
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.preallocate = opts.preallocate ?? false;
    this.maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.metadata = opts.metadata ?? new Uint8Array(0);
    this.randomU32 = opts.randomU32 ?? (() => randomBytes(4).readUInt32LE(0));
  }

  /**
   * Open the WAL in `dir` (creating an empty one if the directory holds no segment), repair a
   * torn tail, and replay it. Throws WalCorruptError when the log is damaged before its end.
   */
  static open(dir: string, fs: StorageFs, opts: WalOptions = {}): { wal: Wal; replay: WalReplay } {
    const wal = new Wal(dir, fs, opts);
    const replay = wal.recover();
    return { wal, replay };
  }

  private path(name: string): string {
    return joinPath(this.dir, name);
  }

  private recover(): WalReplay {
    const fs = this.fs;
    fs.mkdirp(this.dir);
    let dirty = false;
    for (const name of fs.readdir(this.dir)) {
      if (name.endsWith('.wal.tmp')) (fs.unlink(this.path(name)), (dirty = true));
    }
    this.segments = fs
      .readdir(this.dir)
      .map(parseSegmentName)
      .filter((s): s is SegmentInfo => s !== undefined)
      .sort((a, b) => a.seq - b.seq);
    // Segments are only ever unlinked from the front (releaseTo) and created at seq + 1 after a
    // directory fsync, so a gap in the sequence is an interrupted release whose unlinks reached
    // the disk out of order: what lies before the last gap was being released. Finish the job.
    for (let i = this.segments.length - 1; i > 0; i--) {
      if (this.segments[i]!.seq !== this.segments[i - 1]!.seq + 1) {
        for (const old of this.segments.slice(0, i)) fs.unlink(this.path(old.name));
        this.segments = this.segments.slice(i);
        dirty = true;
        break;
      }
    }

    const log = new ReplayLog();
    const markers: SnapshotMeta[] = [];
    let hs: HardState = { ...EMPTY_HARD_STATE };
    let metadata: Uint8Array = this.metadata;
    let activeEnd = 0;

    for (let si = 0; si < this.segments.length; si++) {
      const seg = this.segments[si]!;
      const isLast = si === this.segments.length - 1;
      const file = this.path(seg.name);
      const buf = fs.readFile(file);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const head = readRecord(buf, view, 0, 0, this.maxRecordBytes);
      const header = head && head.type === REC_METADATA ? decodeMetadata(head.payload) : undefined;
      if (!head || !header) {
        // A segment is renamed into place only after its header is synced, so a bad header is
        // damage. The one benign case: the last segment is all zeros (or empty).
        if (isLast && isAllZero(buf, 0)) {
          fs.unlink(file);
          this.segments.pop();
          this.counters.tornSegmentsRemoved++;
          dirty = true;
          break;
        }
        throw new WalCorruptError(file, 0, 'unreadable segment header');
      }
      if (header.seq !== seg.seq) throw new WalCorruptError(file, 0, 'segment header does not match its file name');
      metadata = header.metadata;
      this.salt = header.salt;
      let off = head.size;
      for (;;) {
        if (off >= buf.length) break;
        const r = readRecord(buf, view, off, header.salt, this.maxRecordBytes);
        if (!r) {
          // Zeros to the end: preallocated space never written (a segment cut early, e.g. after
          // segmentBytes changed, keeps its zeros; a missing entry there shows as a gap below).
          if (isAllZero(buf, off)) break;
          if (!isLast || this.findValidAfter(buf, view, off, header.salt)) {
            throw new WalCorruptError(file, off, 'record fails its checksum or framing');
          }
          break; // torn tail: everything from `off` is dropped below
        }
        const applied = this.applyRecord(r, log, markers, file);
        if (applied === 'hs') hs = decodeHardState(r.payload)!;
        off += r.size;
      }
      activeEnd = off;
      if (isLast && off < buf.length && !isAllZero(buf, off)) {
        // A torn record: cut it off (which also zeroes it if the segment is extended again).
        this.counters.tornTailBytesTruncated += buf.length - off;
        const fd = fs.openWrite(file, false);
        fs.ftruncate(fd, off);
        if (this.preallocate) fs.ftruncate(fd, Math.max(off, this.segmentBytes));
        fs.fdatasync(fd);
        fs.close(fd);
      }
    }
    if (dirty) fs.fsyncDir(this.dir);

    this.hardState = hs;
    this.lastSnapshot = markers.length > 0 ? markers[markers.length - 1]! : null;
    this.lastIndex = Math.max(log.last(), this.lastSnapshot?.index ?? 0, 0);
    if (this.segments.length === 0) {
      this.createSegment(0, this.lastIndex + 1);
    } else {
      const active = this.segments[this.segments.length - 1]!;
      this.fd = fs.openWrite(this.path(active.name), false);
      this.size = activeEnd;
    }

    const snapshot = this.lastSnapshot;
    const entriesAfter = (index: number): Entry[] => {
      if (log.offset < 0) return [];
      if (index < log.offset) {
        throw new RaftStorageError(
          'VXM_ERR_SNAPSHOT_MISSING',
          `open raft WAL: entries after index ${index} are gone (the log starts at ${log.offset + 1}); ` +
            'restore the newer snapshot file, or move the raft data directory aside and rejoin to restore from a peer',
        );
      }
      return log.entries.slice(Math.min(index - log.offset, log.entries.length));
    };
    return {
      hardState: { ...hs },
      snapshot,
      markers,
      entries: entriesAfter(snapshot ? snapshot.index : Math.max(log.offset, 0)),
      metadata,
      entriesAfter,
    };
  }

  /** Apply one verified record to the replay state. */
  private applyRecord(r: RawRecord, log: ReplayLog, markers: SnapshotMeta[], file: string): 'hs' | 'other' {
    switch (r.type) {
      case REC_ENTRY: {
        const e = decodeEntry(r.payload);
        if (!e) throw new WalCorruptError(file, r.offset, 'malformed entry record');
        if (log.offset < 0 || log.entries.length === 0) {
          // First entry seen (older segments released) or first after a marker: the log starts
          // here; a jump past the marker is compacted history, checked by entriesAfter().
          if (log.offset >= 0 && e.index <= log.offset) {
            this.counters.staleEntriesIgnored++;
            return 'other';
          }
          log.offset = e.index - 1;
          log.entries.push(e);
        } else if (e.index <= log.offset) {
          this.counters.staleEntriesIgnored++;
        } else if (e.index > log.last() + 1) {
          throw new WalCorruptError(file, r.offset, `entry ${e.index} follows entry ${log.last()} (missing entries)`);
        } else {
          log.entries.length = e.index - log.offset - 1; // conflict: later write wins
          log.entries.push(e);
        }
        return 'other';
      }
      case REC_HARD_STATE:
        if (!decodeHardState(r.payload)) throw new WalCorruptError(file, r.offset, 'malformed hard state record');
        return 'hs';
      case REC_SNAPSHOT: {
        const m = decodeSnapshotMeta(r.payload);
        if (!m) throw new WalCorruptError(file, r.offset, 'malformed snapshot record');
        const prev = markers[markers.length - 1];
        if (prev && prev.index === m.index && prev.term === m.term) {
          markers[markers.length - 1] = m; // repeated in a segment header, or forced conf rewrite
        } else {
          markers.push(m);
        }
        if (log.offset < 0) {
          log.offset = m.index;
        } else if (m.index > log.offset) {
          const matches = m.index <= log.last() && log.entries[m.index - log.offset - 1]!.term === m.term;
          if (!matches) {
            log.entries = [];
            log.offset = m.index;
          }
        }
        return 'other';
      }
      case REC_METADATA:
        throw new WalCorruptError(file, r.offset, 'metadata record inside a segment');
      default:
        throw new WalCorruptError(file, r.offset, `unknown record type ${r.type}`);
    }
  }

  /** Is there any record that verifies at an aligned offset after `from`? */
  private findValidAfter(buf: Uint8Array, view: DataView, from: number, salt: number): boolean {
    for (let off = from + RECORD_ALIGN; off + 12 <= buf.length; off += RECORD_ALIGN) {
      // Cheap pre-checks before the CRC: a zero length word and zero type is zeroed space.
      if (buf[off + 4] === 0) continue;
      if (readRecord(buf, view, off, salt, this.maxRecordBytes)) return true;
    }
    return false;
  }

  private createSegment(seq: number, firstIndex: number): void {
    const fs = this.fs;
    const name = segmentName(seq, firstIndex);
    const tmp = this.path(name + '.tmp');
    const salt = this.randomU32() >>> 0;
    const header: SegmentHeader = { salt, seq, firstIndex, metadata: this.metadata };
    const rec = this.rec;
    rec.reset();
    rec.addMetadata(header);
    if (this.lastSnapshot) rec.addSnapshot(this.lastSnapshot, salt);
    rec.addHardState(this.hardState, salt);
    // Write the head to a temp name and rename it into place so a segment never exists without
    // a durable header (etcd gets the same from its file pipeline of preallocated temp files).
    const fd = fs.openWrite(tmp, true);
    if (this.preallocate) fs.ftruncate(fd, this.segmentBytes);
    fs.write(fd, rec.bytes(), 0);
    fs.fdatasync(fd);
    fs.rename(tmp, this.path(name));
    fs.fsyncDir(this.dir);
    this.counters.syncs++;
    this.fd = fd;
    this.size = rec.len;
    this.salt = salt;
    this.segments.push({ name, seq, firstIndex });
  }

  /** Sync and close the active segment, start the next one. */
  private cut(): void {
    this.fs.fdatasync(this.fd);
    this.counters.syncs++;
    this.fs.close(this.fd);
    this.fd = -1;
    const last = this.segments[this.segments.length - 1]!;
    this.createSegment(last.seq + 1, this.lastIndex + 1);
    this.counters.segmentsCut++;
  }

  private writeRecords(sync: boolean): void {
    const bytes = this.rec.bytes();
    this.unwritten = false;
    this.fs.write(this.fd, bytes, this.size);
    this.size += bytes.length;
    if (this.size >= this.segmentBytes) {
      this.cut(); // syncs what was just written
    } else if (sync) {
      this.fs.fdatasync(this.fd);
      this.counters.syncs++;
    }
  }

  /** Write records held back by an unsynced save. */
  private writeHeldBack(): void {
    if (this.unwritten) this.writeRecords(false);
  }

  /**
   * Persist entries then the hard state (null: unchanged) in one write, then fdatasync when
   * `sync`. Entries go first so a torn write can never leave a commit index pointing past the
   * entries. Use `mustSync` (types.ts) to decide `sync`: the Raft driver must not send the
   * Ready's messages until a synced save returned.
   *
   * An unsynced save of a hard state alone is held in memory and written with the next save
   * of entries, sync(), syncAsync(), a snapshot marker or close() (or once HOLD_BACK_BYTES pile
   * up), as etcd's WAL encoder buffers until its next sync: one write(2) fewer on the commit
   * path. A crash may lose it either way: the Raft driver saves a hard state unsynced only when
   * its commit index alone changed (mustSync), and Raft recomputes that from a quorum.
   */
  save(hs: HardState | null, entries: readonly Entry[], opts: { sync: boolean }): void {
    if (this.fd < 0) throw new RaftStorageError('VXM_ERR_WAL_STATE', 'save raft WAL: the WAL is closed');
    if (hs === null && entries.length === 0) return;
    const rec = this.rec;
    if (!this.unwritten) rec.reset();
    for (const e of entries) rec.addEntry(e, this.salt);
    if (hs) rec.addHardState(hs, this.salt);
    if (entries.length > 0) this.lastIndex = entries[entries.length - 1]!.index;
    if (hs) this.hardState = { ...hs };
    if (opts.sync || entries.length > 0 || rec.len >= HOLD_BACK_BYTES) this.writeRecords(opts.sync);
    else this.unwritten = true;
  }

  /**
   * Record that a snapshot file for `meta` is durable; always synced. `logReplaced` tells the
   * WAL that entries after meta.index are gone (a leader's snapshot, Raft §7).
   */
  saveSnapshot(meta: SnapshotMeta, logReplaced: boolean): void {
    if (this.fd < 0) throw new RaftStorageError('VXM_ERR_WAL_STATE', 'save raft WAL: the WAL is closed');
    const rec = this.rec;
    if (!this.unwritten) rec.reset();
    rec.addSnapshot(meta, this.salt);
    this.lastSnapshot = meta;
    if (logReplaced || meta.index > this.lastIndex) this.lastIndex = meta.index;
    this.writeRecords(true);
  }

  /** fdatasync the active segment. */
  sync(): void {
    this.writeHeldBack();
    this.fs.fdatasync(this.fd);
    this.counters.syncs++;
  }

  /**
   * sync() without blocking the caller where the fs can (NodeFs). Contract: nothing else may
   * touch this WAL (no save, no cut, no close) until `done` has been called.
   */
  syncAsync(done: (err: Error | null) => void): void {
    const fs = this.fs;
    this.writeHeldBack();
    if (!fs.fdatasyncAsync) {
      this.sync();
      done(null);
      return;
    }
    fs.fdatasyncAsync(this.fd, (err) => {
      if (!err) this.counters.syncs++;
      done(err);
    });
  }

  /**
   * Unlink segments holding only entries <= `index` (every entry of segment i is below the first
   * index of segment i+1). The active segment is never released. The caller must only pass an
   * index covered by a snapshot file it keeps. Returns the number of segments released.
   */
  releaseTo(index: number): number {
    let n = 0;
    while (this.segments.length > 1 && this.segments[1]!.firstIndex - 1 <= index) {
      this.fs.unlink(this.path(this.segments[0]!.name));
      this.segments.shift();
      n++;
    }
    if (n > 0) {
      this.fs.fsyncDir(this.dir);
      this.counters.segmentsReleased += n;
    }
    return n;
  }

  /** Segment file names, oldest first. */
  segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  close(): void {
    if (this.fd >= 0) {
      this.writeHeldBack();
      this.fs.fdatasync(this.fd);
      this.fs.close(this.fd);
      this.fd = -1;
    }
  }
}

function isAllZero(buf: Uint8Array, from: number): boolean {
  // Word-wise over the aligned middle: a preallocated segment has megabytes of zeros to check.
  let i = from;
  for (; i < buf.length && (buf.byteOffset + i) % 4 !== 0; i++) if (buf[i] !== 0) return false;
  const words = (buf.length - i) >>> 2;
  const w = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
  for (let k = 0; k < words; k++) if (w[k] !== 0) return false;
  for (i += words * 4; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Open (or create) the WAL in `dir`; see Wal.open. */
export function openWal(dir: string, fs: StorageFs, opts: WalOptions = {}): { wal: Wal; replay: WalReplay } {
  return Wal.open(dir, fs, opts);
}
