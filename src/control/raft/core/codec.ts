// Binary encoding of Raft messages and conf changes for the manager-to-manager transport
// (TCP 2377). Versioned, bounds-checked, and the decoder never throws: bad bytes off the wire
// come back as { ok: false, reason } for the transport to count and drop.
//
// Message layout, version 1 (uv = unsigned LEB128 varint, at most 2^53-1; bytes = uv length + data):
//   u8 version(=1) u8 type
//   uv to  uv from  uv term  uv logTerm  uv index  uv commit
//   u8 flags (bit 0: reject; other bits must be 0)  uv rejectHint
//   bytes context
//   uv entryCount, then per entry: uv term  uv index  uv type  bytes data
//   u8 hasSnapshot (0|1); if 1: uv index  uv term  uv nVoters uv..  uv nLearners uv..
//                               uv snapOffset  uv snapTotal  bytes chunk
// Nothing may follow. A new field means a new version; decoders refuse versions they do not know.
//
// ConfChange layout (the data of an ENTRY_CONF_CHANGE entry): u8 version(=1) u8 type uv nodeId;
// with a context (etcd's ConfChange.Context, e.g. the new member's address): u8 version(=2)
// u8 type uv nodeId bytes context. A change without a context is still written as version 1.

import type { ConfChange, Entry, Message } from './types.js';
import { ConfChangeType, isLocalMessage, MESSAGE_TYPE_COUNT, MessageType } from './types.js';

export const CODEC_VERSION = 1;

export type DecodeFailure =
  | 'truncated'
  | 'bad-version'
  | 'unknown-type'
  | 'local-type'
  | 'bad-varint'
  | 'bad-flags'
  | 'too-many-items'
  | 'bad-snapshot'
  | 'trailing-bytes';

export type DecodeResult = { ok: true; msg: Message } | { ok: false; reason: DecodeFailure };

class Writer {
  buf: Uint8Array;
  len = 0;
  constructor(cap: number) {
    this.buf = new Uint8Array(cap);
  }
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }
  uv(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`raft codec: ${v} is not a non-negative safe integer`);
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }
  bytes(b: Uint8Array): void {
    this.uv(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

class Reader {
  pos = 0;
  fail: DecodeFailure | null = null;
  constructor(readonly buf: Uint8Array) {}
  remaining(): number {
    return this.buf.length - this.pos;
  }
  u8(): number {
    if (this.pos >= this.buf.length) {
      this.fail ??= 'truncated';
      return 0;
    }
    return this.buf[this.pos++]!;
  }
  uv(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) {
        this.fail ??= 'truncated';
        return 0;
      }
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(v)) break;
        return v;
      }
      mul *= 0x80;
    }
    this.fail ??= 'bad-varint';
    return 0;
  }
  bytes(): Uint8Array {
    const n = this.uv();
    if (this.fail !== null) return new Uint8Array(0);
    if (n > this.remaining()) {
      this.fail = 'truncated';
      return new Uint8Array(0);
    }
    // Copy: the transport reuses its receive buffers.
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** A count of items each at least `minBytes` long; refuse counts the remaining bytes cannot hold. */
  count(minBytes: number): number {
    const n = this.uv();
    if (this.fail !== null) return 0;
    if (n * minBytes > this.remaining()) {
      this.fail = 'too-many-items';
      return 0;
    }
    return n;
  }
}

/** Encode a wire message. Throws RangeError for a local type or a field that is not a safe integer (a caller bug). */
export function encodeMessage(m: Message): Uint8Array {
  if (isLocalMessage(m.type) || m.type < 0 || m.type >= MESSAGE_TYPE_COUNT) throw new RangeError(`raft codec: message type ${m.type} is not sent on the wire`);
  let size = 64 + m.context.length;
  for (const e of m.entries) size += 24 + e.data.length;
  if (m.snapshot !== null) size += 64 + m.snapshot.data.length + 8 * (m.snapshot.meta.conf.voters.length + m.snapshot.meta.conf.learners.length);
  const w = new Writer(size);
  w.u8(CODEC_VERSION);
  w.u8(m.type);
  w.uv(m.to);
  w.uv(m.from);
  w.uv(m.term);
  w.uv(m.logTerm);
  w.uv(m.index);
  w.uv(m.commit);
  w.u8(m.reject ? 1 : 0);
  w.uv(m.rejectHint);
  w.bytes(m.context);
  w.uv(m.entries.length);
  for (const e of m.entries) {
    w.uv(e.term);
    w.uv(e.index);
    w.uv(e.type);
    w.bytes(e.data);
  }
  if (m.snapshot === null) {
    w.u8(0);
  } else {
    const s = m.snapshot;
    w.u8(1);
    w.uv(s.meta.index);
    w.uv(s.meta.term);
    w.uv(s.meta.conf.voters.length);
    for (const v of s.meta.conf.voters) w.uv(v);
    w.uv(s.meta.conf.learners.length);
    for (const l of s.meta.conf.learners) w.uv(l);
    w.uv(m.snapOffset);
    w.uv(m.snapTotal);
    w.bytes(s.data);
  }
  return w.finish();
}

/** Decode a wire message. Never throws; every failure is a reason the transport can count. */
export function decodeMessage(buf: Uint8Array): DecodeResult {
  const r = new Reader(buf);
  const version = r.u8();
  if (r.fail !== null) return { ok: false, reason: r.fail };
  if (version !== CODEC_VERSION) return { ok: false, reason: 'bad-version' };
  const type = r.u8();
  if (r.fail !== null) return { ok: false, reason: r.fail };
  if (type >= MESSAGE_TYPE_COUNT) return { ok: false, reason: 'unknown-type' };
  if (isLocalMessage(type as MessageType)) return { ok: false, reason: 'local-type' };
  const to = r.uv();
  const from = r.uv();
  const term = r.uv();
  const logTerm = r.uv();
  const index = r.uv();
  const commit = r.uv();
  const flags = r.u8();
  const rejectHint = r.uv();
  const context = r.bytes();
  if (r.fail !== null) return { ok: false, reason: r.fail };
  if ((flags & ~1) !== 0) return { ok: false, reason: 'bad-flags' };
  const n = r.count(4);
  const entries: Entry[] = [];
  for (let i = 0; i < n && r.fail === null; i++) {
    const eterm = r.uv();
    const eindex = r.uv();
    const etype = r.uv();
    const data = r.bytes();
    entries.push({ term: eterm, index: eindex, type: etype, data });
  }
  if (r.fail !== null) return { ok: false, reason: r.fail };
  const hasSnap = r.u8();
  if (r.fail !== null) return { ok: false, reason: r.fail };
  let snapshot: Message['snapshot'] = null;
  let snapOffset = 0;
  let snapTotal = 0;
  if (hasSnap === 1) {
    const sindex = r.uv();
    const sterm = r.uv();
    const nv = r.count(1);
    const voters: number[] = [];
    for (let i = 0; i < nv && r.fail === null; i++) voters.push(r.uv());
    const nl = r.count(1);
    const learners: number[] = [];
    for (let i = 0; i < nl && r.fail === null; i++) learners.push(r.uv());
    snapOffset = r.uv();
    snapTotal = r.uv();
    const data = r.bytes();
    if (r.fail !== null) return { ok: false, reason: r.fail };
    if (snapOffset + data.length > snapTotal) return { ok: false, reason: 'bad-snapshot' };
    snapshot = { meta: { index: sindex, term: sterm, conf: { voters, learners } }, data };
  } else if (hasSnap !== 0) {
    return { ok: false, reason: 'bad-flags' };
  }
  if (r.remaining() !== 0) return { ok: false, reason: 'trailing-bytes' };
  return {
    ok: true,
    msg: { type: type as MessageType, to, from, term, logTerm, index, entries, commit, reject: (flags & 1) === 1, rejectHint, context, snapshot, snapOffset, snapTotal },
  };
}

/** Protocol (ours): the ConfChange layout that carries a context. */
const CONF_CHANGE_V2 = 2;
/** Implementation: the largest conf change context accepted (a member's address is far below). */
const MAX_CONF_CONTEXT = 4096;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const ctx = cc.context;
  const w = new Writer(16 + (ctx?.length ?? 0));
  w.u8(ctx && ctx.length > 0 ? CONF_CHANGE_V2 : CODEC_VERSION);
  w.u8(cc.type);
  w.uv(cc.nodeId);
  if (ctx && ctx.length > 0) w.bytes(ctx);
  return w.finish();
}

/** Undefined if `data` is not a version-1 or -2 ConfChange with a known type and a non-zero ID. */
export function decodeConfChange(data: Uint8Array): ConfChange | undefined {
  const r = new Reader(data);
  const v = r.u8();
  const t = r.u8();
  const id = r.uv();
  if (v !== CODEC_VERSION && v !== CONF_CHANGE_V2) return undefined;
  const context = v === CONF_CHANGE_V2 ? r.bytes() : undefined;
  if (r.fail !== null || r.remaining() !== 0 || id === 0 || (context && context.length > MAX_CONF_CONTEXT)) return undefined;
  if (t !== ConfChangeType.AddVoter && t !== ConfChangeType.AddLearner && t !== ConfChangeType.Remove && t !== ConfChangeType.PromoteLearner) return undefined;
  return context && context.length > 0 ? { type: t, nodeId: id, context } : { type: t, nodeId: id };
}
