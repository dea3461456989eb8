// Addon-side helpers shared by the native tests and the child scripts: readiness waits through
// native.poll, packet-vector entries, counter snapshots.

import { native, nativeStats } from '../../../src/dataplane/io/native.js';
import { NATIVE_STAT_NAMES } from '../../../src/dataplane/io/native-api.js';
import * as PV from '../../../src/dataplane/io/packet-vec.js';

export { native, PV };

/** This environment's counters: the loader already passed them to native.init. */
export const stats: Float64Array = nativeStats;

export function statsObject(s: Float64Array = stats): Record<string, number> {
  const o: Record<string, number> = {};
  NATIVE_STAT_NAMES.forEach((n, i) => (o[n] = s[i]!));
  return o;
}

export function statsDelta(before: Float64Array, after: Float64Array = stats): Record<string, number> {
  const o: Record<string, number> = {};
  NATIVE_STAT_NAMES.forEach((n, i) => {
    const d = after[i]! - before[i]!;
    if (d !== 0) o[n] = d;
  });
  return o;
}

/** Resolves true once fd is readable (through native.poll), false after timeoutMs. */
export function waitReadable(fd: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      native.pollStop(handle);
      resolve(false);
    }, timeoutMs);
    const handle = native.poll(fd, () => {
      clearTimeout(timer);
      native.pollStop(handle);
      resolve(true);
    });
  });
}

export interface EntryFields {
  off: number;
  len: number;
  addr?: number;
  port?: number;
  gsoType?: number;
  gsoSize?: number;
  csumStart?: number;
  csumOff?: number;
  hdrLen?: number;
  vflags?: number;
  inner?: number;
}

export function setEntry(vec: Int32Array, i: number, f: EntryFields): void {
  const b = i * PV.PV_STRIDE;
  vec.fill(0, b, b + PV.PV_STRIDE);
  vec[b + PV.PV_OFF] = f.off;
  vec[b + PV.PV_LEN] = f.len;
  vec[b + PV.PV_ADDR] = f.addr ?? 0;
  vec[b + PV.PV_PORT] = f.port ?? 0;
  vec[b + PV.PV_GSO_TYPE] = f.gsoType ?? 0;
  vec[b + PV.PV_GSO_SIZE] = f.gsoSize ?? 0;
  vec[b + PV.PV_CSUM_START] = f.csumStart ?? 0;
  vec[b + PV.PV_CSUM_OFF] = f.csumOff ?? 0;
  vec[b + PV.PV_HDR_LEN] = f.hdrLen ?? 0;
  vec[b + PV.PV_VFLAGS] = f.vflags ?? 0;
  vec[b + PV.PV_INNER] = f.inner ?? 0;
}

export function getEntry(vec: Int32Array, i: number): Required<EntryFields> & { seg: number } {
  const b = i * PV.PV_STRIDE;
  return {
    off: vec[b + PV.PV_OFF]!,
    len: vec[b + PV.PV_LEN]!,
    addr: vec[b + PV.PV_ADDR]! >>> 0,
    port: vec[b + PV.PV_PORT]!,
    gsoType: vec[b + PV.PV_GSO_TYPE]!,
    gsoSize: vec[b + PV.PV_GSO_SIZE]!,
    csumStart: vec[b + PV.PV_CSUM_START]!,
    csumOff: vec[b + PV.PV_CSUM_OFF]!,
    hdrLen: vec[b + PV.PV_HDR_LEN]!,
    vflags: vec[b + PV.PV_VFLAGS]!,
    inner: vec[b + PV.PV_INNER]!,
    seg: vec[b + PV.PV_SEG]!,
  };
}

/** A batch whose slots each hold one packet copied in at HEADROOM; returns the batch and idx. */
export function batchOf(packets: Buffer[], slotSize = 4096): { batch: PV.PacketBatch; idx: Int32Array } {
  const batch = PV.newPacketBatch(Math.max(1, packets.length), slotSize);
  const idx = new Int32Array(packets.length);
  packets.forEach((p, i) => {
    const off = i * slotSize + PV.HEADROOM;
    p.copy(batch.buf, off);
    setEntry(batch.vec, i, { off, len: p.length });
    idx[i] = i;
  });
  batch.count = packets.length;
  return { batch, idx };
}

/** One IP packet read from a TUN: its vector entry and a copy of its bytes. */
export interface TunRead {
  e: ReturnType<typeof getEntry>;
  data: Buffer;
}

/**
 * Reads packets from a TUN until `done` says so or `timeoutMs` is up (bounded in rounds too),
 * keeping those `keep` accepts. Shared by the native tests and their child-process fixtures.
 */
export async function readTun(fd: number, keep: (p: Buffer) => boolean, done: (all: TunRead[]) => boolean, timeoutMs: number): Promise<TunRead[]> {
  const batch = PV.newPacketBatch(32);
  const all: TunRead[] = [];
  const deadline = Date.now() + timeoutMs;
  for (let rounds = 0; rounds < 10_000 && Date.now() < deadline && !done(all); rounds++) {
    const n = native.tunRead(fd, batch.buf, PV.SLOT_SIZE, PV.HEADROOM, batch.vec, 0, batch.slots);
    if (n === 0) {
      await waitReadable(fd, Math.max(1, Math.min(100, deadline - Date.now())));
      continue;
    }
    for (let i = 0; i < n; i++) {
      const e = getEntry(batch.vec, i);
      const data = Buffer.from(batch.buf.subarray(e.off, e.off + e.len));
      if (keep(data)) all.push({ e, data });
    }
  }
  return all;
}

/**
 * The end of a child-process scenario (run inside a test namespace): prints its result as one
 * JSON line and exits 0; exits 1 on an error and 3 if it runs past 15 s.
 */
export function runScenario(run: () => Promise<unknown>): void {
  const killer = setTimeout(() => {
    console.error('scenario timed out');
    process.exit(3);
  }, 15_000);
  run()
    .then((r) => {
      clearTimeout(killer);
      process.stdout.write(JSON.stringify(r) + '\n');
      process.exit(0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
