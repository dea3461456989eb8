// Snapshot files: one file per snapshot, written atomically, checksummed, newest valid wins.
//
// Name: `<term:016x>-<index:016x>.snap` (etcd's snap/snapshotter.go convention). Contents:
//
//   0        4        6        8        12
//   | magic  | version| 0      | crc    | index u64 | term u64 | conf | data len u64 | data |
//
// crc = crc32 of every byte after offset 12. A file that fails the check is renamed to
// `<name>.broken` (kept for the operator, out of the rotation) and counted.
//
// Atomicity: write `<name>.tmp`, fsync, rename to `<name>`, fsync the directory. A crash at any
// point leaves either no new file (and the previous snapshots intact) or the complete new one.

import { crc32 } from './crc.js';
import { joinPath, type StorageFs } from './fs.js';
import { confSize, decodeConf, encodeConf, getU64, putU64 } from './record.js';
import type { Snapshot, SnapshotMeta } from './types.js';

/** Implementation constant: 'VXSN' little-endian. */
const SNAP_MAGIC = 0x4e535856;
const SNAP_VERSION = 1;
const SNAP_HEADER_BYTES = 12;

const SNAP_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export interface SnapshotFileInfo {
  name: string;
  term: number;
  index: number;
}

export interface SnapshotterCounters {
  /** Snapshot files that failed their checksum or framing and were skipped (renamed .broken). */
  corruptSkipped: number;
  /** Old snapshot files removed by prune(). */
  pruned: number;
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function snapshotName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

export function encodeSnapshot(snap: Snapshot): Uint8Array {
  const { meta, data } = snap;
  const body = 16 + confSize(meta.conf) + 8 + data.length;
  const buf = new Uint8Array(SNAP_HEADER_BYTES + body);
  const view = new DataView(buf.buffer);
  view.setUint32(0, SNAP_MAGIC, true);
  view.setUint16(4, SNAP_VERSION, true);
  let p = SNAP_HEADER_BYTES;
  putU64(view, p, meta.index);
  putU64(view, p + 8, meta.term);
  p = encodeConf(view, p + 16, meta.conf);
  putU64(view, p, data.length);
  buf.set(data, p + 8);
  view.setUint32(8, crc32(buf.subarray(SNAP_HEADER_BYTES)), true);
  return buf;
}

/** Decode and verify; undefined for anything that is not an intact snapshot file. */
export function decodeSnapshot(buf: Uint8Array): Snapshot | undefined {
  if (buf.length < SNAP_HEADER_BYTES + 16) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0, true) !== SNAP_MAGIC || view.getUint16(4, true) !== SNAP_VERSION || view.getUint16(6, true) !== 0) {
    return undefined;
  }
  if (crc32(buf.subarray(SNAP_HEADER_BYTES)) !== view.getUint32(8, true)) return undefined;
  const index = getU64(view, SNAP_HEADER_BYTES);
  const term = getU64(view, SNAP_HEADER_BYTES + 8);
  const c = decodeConf(view, SNAP_HEADER_BYTES + 16, buf.length);
  if (!c || c.next + 8 > buf.length) return undefined;
  const len = getU64(view, c.next);
  if (c.next + 8 + len !== buf.length) return undefined;
  const meta: SnapshotMeta = { index, term, conf: c.conf };
  return { meta, data: buf.slice(c.next + 8) };
}

export class Snapshotter {
  readonly counters: SnapshotterCounters = { corruptSkipped: 0, pruned: 0 };

  constructor(
    readonly dir: string,
    private readonly fs: StorageFs,
  ) {
    fs.mkdirp(dir);
    let dirty = false;
    for (const name of fs.readdir(dir)) {
      if (name.endsWith('.snap.tmp')) (fs.unlink(joinPath(dir, name)), (dirty = true));
    }
    if (dirty) fs.fsyncDir(dir);
  }

  /** Snapshot files, newest (highest index, then term) first. */
  list(): SnapshotFileInfo[] {
    const out: SnapshotFileInfo[] = [];
    for (const name of this.fs.readdir(this.dir)) {
      const m = SNAP_RE.exec(name);
      if (m) out.push({ name, term: parseInt(m[1]!, 16), index: parseInt(m[2]!, 16) });
    }
    return out.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  /** Write `snap` atomically (see the header comment). Returns the file name. */
  save(snap: Snapshot): string {
    const name = snapshotName(snap.meta.term, snap.meta.index);
    const tmp = joinPath(this.dir, name + '.tmp');
    const fd = this.fs.openWrite(tmp, true);
    try {
      this.fs.write(fd, encodeSnapshot(snap), 0);
      this.fs.fsync(fd);
    } finally {
      this.fs.close(fd);
    }
    this.fs.rename(tmp, joinPath(this.dir, name));
    this.fs.fsyncDir(this.dir);
    return name;
  }

  /** Load and verify one file; a corrupt one is renamed `.broken` and counted. */
  load(info: SnapshotFileInfo): Snapshot | undefined {
    const path = joinPath(this.dir, info.name);
    const snap = decodeSnapshot(this.fs.readFile(path));
    if (snap && snap.meta.index === info.index && snap.meta.term === info.term) return snap;
    this.counters.corruptSkipped++;
    this.fs.rename(path, path + '.broken');
    this.fs.fsyncDir(this.dir);
    return undefined;
  }

  /** The newest file that verifies and passes `accept`; corrupt ones are skipped and counted. */
  loadNewest(accept: (info: SnapshotFileInfo) => boolean = () => true): Snapshot | undefined {
    for (const info of this.list()) {
      if (!accept(info)) continue;
      const snap = this.load(info);
      if (snap) return snap;
    }
    return undefined;
  }

  /** Keep the newest `keep` files, unlink the rest. Returns how many were removed. */
  prune(keep: number): number {
    const files = this.list();
    let n = 0;
    for (const f of files.slice(Math.max(keep, 1))) {
      this.fs.unlink(joinPath(this.dir, f.name));
      n++;
    }
    if (n > 0) this.fs.fsyncDir(this.dir);
    this.counters.pruned += n;
    return n;
  }

  remove(name: string): void {
    this.fs.unlink(joinPath(this.dir, name));
    this.fs.fsyncDir(this.dir);
  }
}
