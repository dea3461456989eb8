// Shared helpers for the Raft storage tests.

import { MemFs, seededRng } from '../../../../src/control/raft/storage/mem-fs.js';
import type { StorageFs } from '../../../../src/control/raft/storage/fs.js';
import type { Entry, HardState } from '../../../../src/control/raft/storage/types.js';

export { MemFs, seededRng };

export function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, type: 0, data: new TextEncoder().encode(text) };
}

export function range(lo: number, hi: number, term: number, size?: number): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) {
    out.push(size === undefined ? entry(i, term) : { index: i, term, type: 0, data: new Uint8Array(size).fill(i & 0xff) });
  }
  return out;
}

/** Compact description for deepEqual: "index/term:data-length". */
export function describe(es: readonly Entry[]): string[] {
  return es.map((e) => `${e.index}/${e.term}/${e.type}:${Buffer.from(e.data).toString('hex')}`);
}

export function hs(term: number, vote: number, commit: number): HardState {
  return { term, vote, commit };
}

/** A counter-based salt source so MemFs runs are reproducible. */
export function saltSource(seed = 1): () => number {
  const rng = seededRng(seed);
  return () => Math.floor(rng() * 0x100000000);
}

/** Thrown by FaultFs at the chosen mutating call: a power cut in the middle of an operation. */
export class PowerCut extends Error {}

/**
 * Wraps a StorageFs and throws PowerCut on the `failAt`-th mutating call (0-based), before it
 * happens. Then the test calls MemFs.crash() and reopens.
 */
export class FaultFs implements StorageFs {
  calls = 0;
  constructor(
    private readonly inner: StorageFs,
    public failAt = Infinity,
  ) {}
  private step(): void {
    if (this.calls++ === this.failAt) throw new PowerCut(`power cut at call ${this.failAt}`);
  }
  mkdirp(dir: string): void {
    this.inner.mkdirp(dir);
  }
  readdir(dir: string): string[] {
    return this.inner.readdir(dir);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  readFile(path: string): Uint8Array {
    return this.inner.readFile(path);
  }
  openWrite(path: string, truncate: boolean): number {
    this.step();
    return this.inner.openWrite(path, truncate);
  }
  write(fd: number, data: Uint8Array, position: number): void {
    this.step();
    this.inner.write(fd, data, position);
  }
  ftruncate(fd: number, length: number): void {
    this.step();
    this.inner.ftruncate(fd, length);
  }
  fdatasync(fd: number): void {
    this.step();
    this.inner.fdatasync(fd);
  }
  fsync(fd: number): void {
    this.step();
    this.inner.fsync(fd);
  }
  close(fd: number): void {
    this.inner.close(fd);
  }
  fileSize(path: string): number {
    return this.inner.fileSize(path);
  }
  rename(from: string, to: string): void {
    this.step();
    this.inner.rename(from, to);
  }
  unlink(path: string): void {
    this.step();
    this.inner.unlink(path);
  }
  fsyncDir(dir: string): void {
    this.step();
    this.inner.fsyncDir(dir);
  }
}
