// WAL record framing and payload codecs.
//
// A record starts at an 8-byte aligned offset of its segment (alignment lets recovery probe
// candidate offsets after a bad record cheaply, see wal.ts):
//
//    0               4       5       6               8               12
//   +---------------+-------+-------+---------------+---------------+------------------+-----+
//   | payload len   | type  | 0     | 0             | crc           | payload          | pad |
//   | u32 LE        | u8    | u8    | u16           | u32 LE        | len bytes        | 0-7 |
//   +---------------+-------+-------+---------------+---------------+------------------+-----+
//
// crc = crc32(payload, crc32(bytes 0..8, salt)): it covers the length and type, so a flipped
// bit in the length is caught too. `salt` is 0 for the segment's first record (the metadata
// record that carries the salt) and the segment's salt after it. The salt plays the role of
// etcd's CRC chaining (reject a stale but internally valid record from an older file that
// reused the blocks) and of SQLite WAL's frame salts, without chaining record to record: every
// record verifies on its own, which is what lets recovery tell a torn tail (nothing valid after
// the bad record) from corruption in the middle (valid records after it).
//
// All integers are little-endian; 64-bit values are written as two u32 halves and must stay
// below 2^53 (JavaScript numbers).

import { crc32 } from './crc.js';
import type { ConfState, Entry, HardState, SnapshotMeta } from './types.js';

// WARNING: record types are persisted on disk. Append-only: never renumber or reuse a value,
// or WALs written by an older version will be misread. 0 is never valid (zeroed space).
export const REC_METADATA = 1;
export const REC_ENTRY = 2;
export const REC_HARD_STATE = 3;
export const REC_SNAPSHOT = 4;
const MAX_REC_TYPE = REC_SNAPSHOT;

export const RECORD_HEADER_BYTES = 12;
export const RECORD_ALIGN = 8;

/** Implementation constant: 'VXWL' little-endian, tells a vxmesh WAL segment from other files. */
export const WAL_MAGIC = 0x4c575856;
export const WAL_VERSION = 1;

export function recordSize(payloadLen: number): number {
  return (RECORD_HEADER_BYTES + payloadLen + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);
}

export function putU64(view: DataView, off: number, v: number): void {
  view.setUint32(off, v >>> 0, true);
  view.setUint32(off + 4, Math.floor(v / 0x100000000), true);
}

export function getU64(view: DataView, off: number): number {
  return view.getUint32(off + 4, true) * 0x100000000 + view.getUint32(off, true);
}

/** A growable byte buffer records are encoded into; reused across saves. */
export class RecordBuffer {
  buf = new Uint8Array(64 * 1024);
  view = new DataView(this.buf.buffer);
  len = 0;

  reset(): void {
    this.len = 0;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Reserve a record with `payloadLen` bytes; returns the payload offset. Call seal() after filling it. */
  begin(type: number, payloadLen: number): number {
    const size = recordSize(payloadLen);
    this.reserve(size);
    const off = this.len;
    this.buf.fill(0, off, off + size);
    this.view.setUint32(off, payloadLen, true);
    this.buf[off + 4] = type;
    this.len += size;
    return off + RECORD_HEADER_BYTES;
  }

  seal(payloadOff: number, salt: number): void {
    const off = payloadOff - RECORD_HEADER_BYTES;
    const len = this.view.getUint32(off, true);
    const c = crc32(this.buf.subarray(payloadOff, payloadOff + len), crc32(this.buf.subarray(off, off + 8), salt));
    this.view.setUint32(off + 8, c, true);
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  addEntry(e: Entry, salt: number): void {
    const p = this.begin(REC_ENTRY, 24 + e.data.length);
    putU64(this.view, p, e.term);
    putU64(this.view, p + 8, e.index);
    this.view.setUint32(p + 16, e.type, true);
    this.buf.set(e.data, p + 24);
    this.seal(p, salt);
  }

  addHardState(hs: HardState, salt: number): void {
    const p = this.begin(REC_HARD_STATE, 24);
    putU64(this.view, p, hs.term);
    putU64(this.view, p + 8, hs.vote);
    putU64(this.view, p + 16, hs.commit);
    this.seal(p, salt);
  }

  addSnapshot(meta: SnapshotMeta, salt: number): void {
    const p = this.begin(REC_SNAPSHOT, 16 + confSize(meta.conf));
    putU64(this.view, p, meta.index);
    putU64(this.view, p + 8, meta.term);
    encodeConf(this.view, p + 16, meta.conf);
    this.seal(p, salt);
  }

  addMetadata(h: SegmentHeader): void {
    const p = this.begin(REC_METADATA, 32 + h.metadata.length);
    this.view.setUint32(p, WAL_MAGIC, true);
    this.view.setUint16(p + 4, WAL_VERSION, true);
    this.view.setUint32(p + 8, h.salt, true);
    putU64(this.view, p + 16, h.seq);
    putU64(this.view, p + 24, h.firstIndex);
    this.buf.set(h.metadata, p + 32);
    this.seal(p, 0);
  }
}

export interface SegmentHeader {
  salt: number;
  seq: number;
  firstIndex: number;
  /** Caller metadata (cluster id, node id ...), repeated in every segment like etcd's. */
  metadata: Uint8Array;
}

export function confSize(c: ConfState): number {
  return 8 + 8 * (c.voters.length + c.learners.length);
}

export function encodeConf(view: DataView, off: number, c: ConfState): number {
  view.setUint32(off, c.voters.length, true);
  view.setUint32(off + 4, c.learners.length, true);
  let p = off + 8;
  for (const id of c.voters) (putU64(view, p, id), (p += 8));
  for (const id of c.learners) (putU64(view, p, id), (p += 8));
  return p;
}

/** Returns undefined when the bytes cannot hold the counts they claim. */
export function decodeConf(view: DataView, off: number, end: number): { conf: ConfState; next: number } | undefined {
  if (off + 8 > end) return undefined;
  const nv = view.getUint32(off, true);
  const nl = view.getUint32(off + 4, true);
  if (off + 8 + 8 * (nv + nl) > end) return undefined;
  let p = off + 8;
  const voters: number[] = [];
  const learners: number[] = [];
  for (let i = 0; i < nv; i++, p += 8) voters.push(getU64(view, p));
  for (let i = 0; i < nl; i++, p += 8) learners.push(getU64(view, p));
  return { conf: { voters, learners }, next: p };
}

/** A record found valid at some offset. `payload` is a view into the segment bytes. */
export interface RawRecord {
  type: number;
  offset: number;
  size: number;
  payload: Uint8Array;
}

/**
 * Parse and verify the record at `off`, or return undefined (incomplete, implausible header,
 * or checksum mismatch). Never throws on any input.
 */
export function readRecord(buf: Uint8Array, view: DataView, off: number, salt: number, maxPayload: number): RawRecord | undefined {
  if (off + RECORD_HEADER_BYTES > buf.length) return undefined;
  const len = view.getUint32(off, true);
  const type = buf[off + 4]!;
  if (type === 0 || type > MAX_REC_TYPE || buf[off + 5] !== 0 || view.getUint16(off + 6, true) !== 0) return undefined;
  if (len > maxPayload) return undefined;
  const size = recordSize(len);
  // The whole padded record must be there (it is written in one piece) with zero padding, so a
  // flipped padding bit is not silently accepted.
  if (off + size > buf.length) return undefined;
  for (let i = off + RECORD_HEADER_BYTES + len; i < off + size; i++) if (buf[i] !== 0) return undefined;
  const stored = view.getUint32(off + 8, true);
  const payload = buf.subarray(off + RECORD_HEADER_BYTES, off + RECORD_HEADER_BYTES + len);
  if (crc32(payload, crc32(buf.subarray(off, off + 8), salt)) !== stored) return undefined;
  return { type, offset: off, size, payload };
}

function payloadView(p: Uint8Array): DataView {
  return new DataView(p.buffer, p.byteOffset, p.byteLength);
}

export function decodeEntry(p: Uint8Array): Entry | undefined {
  if (p.length < 24) return undefined;
  const v = payloadView(p);
  return { term: getU64(v, 0), index: getU64(v, 8), type: v.getUint32(16, true), data: p.slice(24) };
}

export function decodeHardState(p: Uint8Array): HardState | undefined {
  if (p.length !== 24) return undefined;
  const v = payloadView(p);
  return { term: getU64(v, 0), vote: getU64(v, 8), commit: getU64(v, 16) };
}

export function decodeSnapshotMeta(p: Uint8Array): SnapshotMeta | undefined {
  if (p.length < 16) return undefined;
  const v = payloadView(p);
  const c = decodeConf(v, 16, p.length);
  if (!c || c.next !== p.length) return undefined;
  return { index: getU64(v, 0), term: getU64(v, 8), conf: c.conf };
}

export function decodeMetadata(p: Uint8Array): SegmentHeader | undefined {
  if (p.length < 32) return undefined;
  const v = payloadView(p);
  if (v.getUint32(0, true) !== WAL_MAGIC || v.getUint16(4, true) !== WAL_VERSION) return undefined;
  return { salt: v.getUint32(8, true), seq: getU64(v, 16), firstIndex: getU64(v, 24), metadata: p.slice(32) };
}
