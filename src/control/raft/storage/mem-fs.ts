// An in-memory StorageFs with crash semantics, for the deterministic simulator and tests.
//
// Model (what a Linux filesystem may legally lose on power failure):
// - File data written since the last fdatasync/fsync of that file is volatile. crash() keeps a
//   random prefix of the volatile writes/truncates, in order; the first dropped write may be torn
//   (a random prefix of its bytes survives) and a torn extension may read back as zeros, as ext4
//   shows for allocated-but-unwritten blocks.
// - Creates, renames and unlinks since the last fsyncDir of their directory are volatile: crash()
//   keeps a random prefix of them per directory (a journal commits them in order).
// - Directories made by mkdirp are durable at once (a simplification: the storage makes its
//   directories once at startup, before it writes anything it must keep).
// Not modelled: out-of-order writeback of unsynced pages (a later page reaching disk before an
// earlier one). The WAL would report that as corruption, see wal.ts "Torn tail or corruption".
//
// Deterministic: every random choice comes from the rng passed to crash().

import * as nodePath from 'node:path';
import type { StorageFs } from './fs.js';

/** A seeded PRNG (mulberry32) returning floats in [0, 1). */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type FileOp = { kind: 'write'; pos: number; data: Uint8Array } | { kind: 'truncate'; len: number };
type DirOp = { kind: 'link'; name: string; ino: number } | { kind: 'unlink'; name: string };

interface Inode {
  /** Current contents: the first `len` bytes of `buf` (buf grows by doubling). */
  buf: Uint8Array;
  len: number;
  durable: Uint8Array;
  pending: FileOp[];
}

export interface CrashOptions {
  /** Keep a random prefix of unsynced work (default). false: drop all of it. */
  keepUnsynced?: boolean;
  /** Allow the first dropped write to survive partially (default true). */
  tornWrites?: boolean;
}

function fsError(code: string, syscall: string, path: string): Error {
  const err = new Error(`${code}: ${syscall} '${path}'`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  err.path = path;
  return err;
}

function applyOp(data: Uint8Array, op: FileOp): Uint8Array {
  if (op.kind === 'truncate') {
    const out = new Uint8Array(op.len);
    out.set(data.subarray(0, Math.min(op.len, data.length)));
    return out;
  }
  const end = op.pos + op.data.length;
  const out = end > data.length ? new Uint8Array(end) : data;
  if (out !== data) out.set(data);
  out.set(op.data, op.pos);
  return out;
}

function setLength(node: Inode, len: number): void {
  if (len > node.buf.length) {
    const grown = new Uint8Array(Math.max(len, node.buf.length * 2, 4096));
    grown.set(node.buf.subarray(0, node.len));
    node.buf = grown;
  } else if (len < node.len) {
    node.buf.fill(0, len, node.len);
  }
  node.len = len;
}

export class MemFs implements StorageFs {
  private readonly inodes = new Map<number, Inode>();
  private readonly dirs = new Map<string, Map<string, number>>();
  private readonly durableDirs = new Map<string, Map<string, number>>();
  private readonly pendingDirOps = new Map<string, DirOp[]>();
  private readonly fds = new Map<number, number>();
  private nextIno = 1;
  private nextFd = 3;
  /** Counters for tests and benchmarks. */
  readonly stats = { fdatasyncs: 0, fsyncs: 0, dirFsyncs: 0, writes: 0, crashes: 0 };

  private split(path: string): [string, string] {
    const p = nodePath.posix.normalize(path);
    return [nodePath.posix.dirname(p), nodePath.posix.basename(p)];
  }

  private dir(dir: string, syscall: string): Map<string, number> {
    const d = this.dirs.get(nodePath.posix.normalize(dir));
    if (!d) throw fsError('ENOENT', syscall, dir);
    return d;
  }

  private lookup(path: string, syscall: string): number {
    const [d, name] = this.split(path);
    const ino = this.dir(d, syscall).get(name);
    if (ino === undefined) throw fsError('ENOENT', syscall, path);
    return ino;
  }

  private dirOp(dir: string, op: DirOp): void {
    const d = this.dirs.get(dir)!;
    if (op.kind === 'link') d.set(op.name, op.ino);
    else d.delete(op.name);
    this.pendingDirOps.get(dir)!.push(op);
  }

  private inodeOf(fd: number, syscall: string): Inode {
    const ino = this.fds.get(fd);
    if (ino === undefined) throw fsError('EBADF', syscall, `fd ${fd}`);
    return this.inodes.get(ino)!;
  }

  mkdirp(dir: string): void {
    const parts = nodePath.posix.normalize(dir).split('/');
    let p = parts[0] === '' ? '/' : '.';
    for (const part of parts) {
      if (part === '') continue;
      p = nodePath.posix.join(p, part);
      if (!this.dirs.has(p)) {
        this.dirs.set(p, new Map());
        this.durableDirs.set(p, new Map());
        this.pendingDirOps.set(p, []);
      }
    }
  }

  readdir(dir: string): string[] {
    const d = this.dirs.get(nodePath.posix.normalize(dir));
    return d ? [...d.keys()].sort() : [];
  }

  exists(path: string): boolean {
    const [d, name] = this.split(path);
    if (this.dirs.has(nodePath.posix.normalize(path))) return true;
    return this.dirs.get(d)?.has(name) ?? false;
  }

  readFile(path: string): Uint8Array {
    const node = this.inodes.get(this.lookup(path, 'open'))!;
    return node.buf.slice(0, node.len);
  }

  openWrite(path: string, truncate: boolean): number {
    const [d, name] = this.split(path);
    const dir = this.dir(d, 'open');
    let ino = dir.get(name);
    if (ino === undefined) {
      ino = this.nextIno++;
      this.inodes.set(ino, { buf: new Uint8Array(0), len: 0, durable: new Uint8Array(0), pending: [] });
      this.dirOp(d, { kind: 'link', name, ino });
    } else if (truncate) {
      const node = this.inodes.get(ino)!;
      setLength(node, 0);
      node.pending.push({ kind: 'truncate', len: 0 });
    }
    const fd = this.nextFd++;
    this.fds.set(fd, ino);
    return fd;
  }

  write(fd: number, data: Uint8Array, position: number): void {
    const node = this.inodeOf(fd, 'write');
    const end = position + data.length;
    if (end > node.len) setLength(node, end);
    node.buf.set(data, position);
    node.pending.push({ kind: 'write', pos: position, data: data.slice() });
    this.stats.writes++;
  }

  ftruncate(fd: number, length: number): void {
    const node = this.inodeOf(fd, 'ftruncate');
    setLength(node, length);
    node.pending.push({ kind: 'truncate', len: length });
  }

  fdatasync(fd: number): void {
    const node = this.inodeOf(fd, 'fdatasync');
    node.durable = node.buf.slice(0, node.len);
    node.pending = [];
    this.stats.fdatasyncs++;
  }

  fsync(fd: number): void {
    const node = this.inodeOf(fd, 'fsync');
    node.durable = node.buf.slice(0, node.len);
    node.pending = [];
    this.stats.fsyncs++;
  }

  close(fd: number): void {
    if (!this.fds.delete(fd)) throw fsError('EBADF', 'close', `fd ${fd}`);
  }

  fileSize(path: string): number {
    return this.inodes.get(this.lookup(path, 'stat'))!.len;
  }

  rename(from: string, to: string): void {
    const ino = this.lookup(from, 'rename');
    const [fd, fname] = this.split(from);
    const [td, tname] = this.split(to);
    this.dir(td, 'rename');
    this.dirOp(fd, { kind: 'unlink', name: fname });
    this.dirOp(td, { kind: 'link', name: tname, ino });
  }

  unlink(path: string): void {
    this.lookup(path, 'unlink');
    const [d, name] = this.split(path);
    this.dirOp(d, { kind: 'unlink', name });
  }

  fsyncDir(dir: string): void {
    const d = nodePath.posix.normalize(dir);
    this.durableDirs.set(d, new Map(this.dir(d, 'fsync')));
    this.pendingDirOps.set(d, []);
    this.stats.dirFsyncs++;
  }

  /**
   * Simulate power loss: every unsynced change is dropped or (a random prefix) kept, all file
   * descriptors become invalid. Inodes no longer linked anywhere are freed.
   */
  crash(rng: () => number, opts: CrashOptions = {}): void {
    const keep = opts.keepUnsynced ?? true;
    const torn = opts.tornWrites ?? true;
    for (const node of this.inodes.values()) {
      let data = node.durable;
      const n = node.pending.length;
      const k = keep ? Math.floor(rng() * (n + 1)) : 0;
      for (let i = 0; i < k; i++) data = applyOp(data === node.durable ? data.slice() : data, node.pending[i]!);
      const next = node.pending[k];
      if (keep && torn && next?.kind === 'write' && next.data.length > 1 && rng() < 0.5) {
        const len = 1 + Math.floor(rng() * (next.data.length - 1));
        const part = rng() < 0.5 ? next.data.subarray(0, len) : new Uint8Array(len);
        data = applyOp(data === node.durable ? data.slice() : data, { kind: 'write', pos: next.pos, data: part });
      }
      node.durable = data === node.durable ? data : data.slice();
      node.buf = node.durable.slice();
      node.len = node.buf.length;
      node.pending = [];
    }
    for (const [dir, ops] of this.pendingDirOps) {
      const durable = this.durableDirs.get(dir)!;
      const k = keep ? Math.floor(rng() * (ops.length + 1)) : 0;
      for (let i = 0; i < k; i++) {
        const op = ops[i]!;
        if (op.kind === 'link') durable.set(op.name, op.ino);
        else durable.delete(op.name);
      }
      this.dirs.set(dir, new Map(durable));
      this.pendingDirOps.set(dir, []);
    }
    this.fds.clear();
    const live = new Set<number>();
    for (const d of this.dirs.values()) for (const ino of d.values()) live.add(ino);
    for (const ino of [...this.inodes.keys()]) if (!live.has(ino)) this.inodes.delete(ino);
    this.stats.crashes++;
  }

  /** Test helper: overwrite bytes of a file in place and durably (simulates media corruption). */
  corrupt(path: string, offset: number, xorMask: number): void {
    const node = this.inodes.get(this.lookup(path, 'open'))!;
    if (offset >= node.len) throw fsError('EINVAL', 'corrupt', path);
    node.buf[offset]! ^= xorMask;
    node.durable = node.buf.slice(0, node.len);
    node.pending = [];
  }
}
