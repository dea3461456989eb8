// The synchronous filesystem seam of the Raft storage. The WAL and snapshotter touch disk only
// through this interface so that a simulator can swap in MemFs (mem-fs.ts), whose crash() drops
// what a real kernel could drop. Calls are synchronous on purpose: the Raft driver persists a
// Ready batch before sending its messages (etcd-io/raft node.go, "Ready" docs), and a blocking
// fdatasync in the driver is the simplest correct way to keep that order.
//
// Contracts every implementation must keep (the WAL relies on them):
// - write() is positional and writes all bytes or throws.
// - Data is durable only after fdatasync()/fsync() of that file returns.
// - A create, rename or unlink is durable only after fsyncDir() of its directory returns.
// - rename() over an existing name is atomic (POSIX rename(2)).

import * as nodeFs from 'node:fs';
import * as nodePath from 'node:path';

export interface StorageFs {
  /** mkdir -p. Does not fsync the parent. */
  mkdirp(dir: string): void;
  /** File names (not paths) in `dir`, sorted; [] if `dir` does not exist. */
  readdir(dir: string): string[];
  exists(path: string): boolean;
  /** Whole file contents. */
  readFile(path: string): Uint8Array;
  /** Open for positional writing; creates the file if missing, truncates it to 0 when `truncate`. */
  openWrite(path: string, truncate: boolean): number;
  write(fd: number, data: Uint8Array, position: number): void;
  ftruncate(fd: number, length: number): void;
  /** Flush data (and the size) of `fd`, not necessarily its other metadata. */
  fdatasync(fd: number): void;
  /**
   * fdatasync without blocking the caller (the real disk: libuv's thread pool), calling `done`
   * once the data is durable. Optional: without it the WAL syncs inline.
   */
  fdatasyncAsync?(fd: number, done: (err: Error | null) => void): void;
  fsync(fd: number): void;
  close(fd: number): void;
  fileSize(path: string): number;
  rename(from: string, to: string): void;
  unlink(path: string): void;
  /** Make creates/renames/unlinks in `dir` durable. */
  fsyncDir(dir: string): void;
}

export function joinPath(dir: string, name: string): string {
  return nodePath.posix.join(dir, name);
}

/** The real disk, through fs.*Sync. */
export class NodeFs implements StorageFs {
  mkdirp(dir: string): void {
    nodeFs.mkdirSync(dir, { recursive: true });
  }
  readdir(dir: string): string[] {
    try {
      return nodeFs.readdirSync(dir).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
  exists(path: string): boolean {
    return nodeFs.existsSync(path);
  }
  readFile(path: string): Uint8Array {
    // A plain Uint8Array view: Buffer#slice would share memory where decoders expect a copy.
    const b = nodeFs.readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  openWrite(path: string, truncate: boolean): number {
    // O_WRONLY|O_CREAT without O_APPEND: writes are positional so a torn tail can be overwritten.
    return nodeFs.openSync(path, truncate ? 'w' : nodeFs.constants.O_WRONLY | nodeFs.constants.O_CREAT, 0o600);
  }
  write(fd: number, data: Uint8Array, position: number): void {
    let done = 0;
    while (done < data.length) {
      done += nodeFs.writeSync(fd, data, done, data.length - done, position + done);
    }
  }
  ftruncate(fd: number, length: number): void {
    nodeFs.ftruncateSync(fd, length);
  }
  fdatasync(fd: number): void {
    nodeFs.fdatasyncSync(fd);
  }
  fdatasyncAsync(fd: number, done: (err: Error | null) => void): void {
    nodeFs.fdatasync(fd, (err) => done(err));
  }
  fsync(fd: number): void {
    nodeFs.fsyncSync(fd);
  }
  close(fd: number): void {
    nodeFs.closeSync(fd);
  }
  fileSize(path: string): number {
    return nodeFs.statSync(path).size;
  }
  rename(from: string, to: string): void {
    nodeFs.renameSync(from, to);
  }
  unlink(path: string): void {
    nodeFs.unlinkSync(path);
  }
  fsyncDir(dir: string): void {
    const fd = nodeFs.openSync(dir, 'r');
    try {
      nodeFs.fsyncSync(fd);
    } finally {
      nodeFs.closeSync(fd);
    }
  }
}
