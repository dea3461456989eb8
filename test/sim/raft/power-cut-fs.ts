// A StorageFs wrapper that cuts the power in the middle of the storage's work: after a chosen
// number of further mutating calls (write, ftruncate, fsync, rename ...) the call throws
// PowerCut, and so does every call after it until the node restarts. The simulator then calls
// MemFs.crash(), which keeps, tears or drops whatever was not synced yet. This reaches the
// states a crash at an event boundary cannot: a WAL record written but not fdatasynced, a
// snapshot file renamed but its directory not fsynced, a marker half written.

import { VxmeshError } from '../../../src/errors.js';
import type { StorageFs } from '../../../src/control/raft/storage/fs.js';

/** Thrown by PowerCutFs when the simulated machine loses power. Not an error of the code under test. */
export class PowerCut extends VxmeshError {
  constructor() {
    super('VXM_ERR_SIM_POWER_CUT', 'simulated power cut: restart the node from its storage');
    this.name = 'PowerCut';
  }
}

export class PowerCutFs implements StorageFs {
  private countdown = -1;
  private dead = false;

  constructor(readonly inner: StorageFs) {}

  /** Cut the power on the n-th mutating call from now (n >= 1). */
  arm(n: number): void {
    this.countdown = n;
  }

  get armed(): boolean {
    return this.countdown > 0;
  }

  /** After a restart: power is back, nothing armed. */
  reset(): void {
    this.countdown = -1;
    this.dead = false;
  }

  private gate(): void {
    if (this.dead) throw new PowerCut();
    if (this.countdown > 0 && --this.countdown === 0) {
      this.dead = true;
      throw new PowerCut();
    }
  }

  private alive(): void {
    if (this.dead) throw new PowerCut();
  }

  mkdirp(dir: string): void { this.gate(); this.inner.mkdirp(dir); }
  readdir(dir: string): string[] { this.alive(); return this.inner.readdir(dir); }
  exists(path: string): boolean { this.alive(); return this.inner.exists(path); }
  readFile(path: string): Uint8Array { this.alive(); return this.inner.readFile(path); }
  openWrite(path: string, truncate: boolean): number { this.gate(); return this.inner.openWrite(path, truncate); }
  write(fd: number, data: Uint8Array, position: number): void { this.gate(); this.inner.write(fd, data, position); }
  ftruncate(fd: number, length: number): void { this.gate(); this.inner.ftruncate(fd, length); }
  fdatasync(fd: number): void { this.gate(); this.inner.fdatasync(fd); }
  fsync(fd: number): void { this.gate(); this.inner.fsync(fd); }
  close(fd: number): void { this.alive(); this.inner.close(fd); }
  fileSize(path: string): number { this.alive(); return this.inner.fileSize(path); }
  rename(from: string, to: string): void { this.gate(); this.inner.rename(from, to); }
  unlink(path: string): void { this.gate(); this.inner.unlink(path); }
  fsyncDir(dir: string): void { this.gate(); this.inner.fsyncDir(dir); }
}
