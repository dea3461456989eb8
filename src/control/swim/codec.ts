// The SWIM wire format. Pure functions over bytes; decoding never throws and bounds-checks
// every read: a bad packet is reported with a stable reason the caller counts and drops.
//
// Packet (UDP datagram, or one framed TCP message; the driver frames TCP and wraps both in its
// encryption/authentication layer):
//
//   +---------+--------+----------------------------------------------------+
//   | version | count  | count x ( type u8 | body length varint | body )     |
//   |   u8    |   u8   |                                                    |
//   +---------+--------+----------------------------------------------------+
//
// Every packet is a compound of 1..255 length-prefixed messages, so a receiver skips (and
// counts) message types it does not know instead of dropping the whole packet. Integers are
// big-endian; strings are u8 length + UTF-8; byte blobs are varint length + bytes.

/** Protocol version carried in the first byte. Bump only for an incompatible framing change. */
export const PROTOCOL_VERSION = 1;

// WARNING: ONLY APPEND TO THIS LIST! The message type numbers are part of the protocol; a
// renumbering silently breaks rolling upgrades, because a mixed cluster would misread each
// other's packets. (In the spirit of hashicorp/memberlist net.go's messageType warning.)
export const MsgType = {
  ping: 1,
  indirectPing: 2,
  ack: 3,
  nack: 4,
  suspect: 5,
  alive: 6,
  dead: 7,
  pushPull: 8,
  user: 9,
} as const;

// WARNING: ONLY APPEND. Member state numbers travel in push-pull.
export const WireState = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;
export type WireStateName = keyof typeof WireState;
const STATE_NAMES: readonly WireStateName[] = ['alive', 'suspect', 'dead', 'left'];

export interface PingMsg { type: 'ping'; seq: number; target: string; source: string }
/** SWIM ping-req: ask the receiver to probe `target` at `targetAddr` on our behalf (Lifeguard: nack if it cannot). */
export interface IndirectPingMsg { type: 'indirect-ping'; seq: number; target: string; targetAddr: string; nack: boolean; source: string }
export interface AckMsg { type: 'ack'; seq: number }
export interface NackMsg { type: 'nack'; seq: number }
export interface SuspectMsg { type: 'suspect'; incarnation: number; node: string; from: string }
export interface AliveMsg { type: 'alive'; incarnation: number; node: string; addr: string; meta: Uint8Array }
/** Dead; `from === node` means the member left gracefully (memberlist's convention). */
export interface DeadMsg { type: 'dead'; incarnation: number; node: string; from: string }
export interface PushNode { name: string; addr: string; incarnation: number; state: WireStateName; meta: Uint8Array }
export interface PushPullMsg { type: 'push-pull'; source: string; join: boolean; reply: boolean; nodes: PushNode[]; userState: Uint8Array }
/** A user broadcast; (version, origin) orders updates of the same key cluster-wide. */
export interface UserMsg { type: 'user'; origin: string; key: string; version: number; payload: Uint8Array }

export type SwimMessage = PingMsg | IndirectPingMsg | AckMsg | NackMsg | SuspectMsg | AliveMsg | DeadMsg | PushPullMsg | UserMsg;

export type DecodeReason =
  | 'empty' | 'bad_version' | 'truncated' | 'bad_length' | 'bad_utf8' | 'bad_value' | 'trailing_bytes' | 'too_many';

export type DecodeResult =
  | { ok: true; msgs: SwimMessage[]; unknownTypes: number }
  | { ok: false; reason: DecodeReason };

// ---- byte writer / reader ----

const utf8Enc = new TextEncoder();
const utf8Dec = new TextDecoder('utf-8', { fatal: true });

export class Writer {
  buf: Uint8Array;
  len = 0;
  constructor(cap = 64) {
    this.buf = new Uint8Array(cap);
  }
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v & 0xff;
  }
  u32(v: number): void {
    this.room(4);
    const b = this.buf;
    const o = this.len;
    b[o] = (v >>> 24) & 0xff;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
    this.len += 4;
  }
  varint(v: number): void {
    // unsigned LEB128 up to 2^32-1
    this.room(5);
    let x = v >>> 0;
    while (x >= 0x80) {
      this.buf[this.len++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    this.buf[this.len++] = x;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** u8 length + UTF-8. Callers validate length with `str8Fits` first. */
  str8(s: string): void {
    const b = utf8Enc.encode(s);
    if (b.length > 255) throw new RangeError(`string of ${b.length} bytes does not fit a u8 length`);
    this.u8(b.length);
    this.bytes(b);
  }
  blob(b: Uint8Array): void {
    this.varint(b.length);
    this.bytes(b);
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export function str8Fits(s: string): boolean {
  return utf8Enc.encode(s).length <= 255;
}

/** Bounds-checked reader: a failed read returns 0/''/empty and records the first reason. */
export class Reader {
  off: number;
  err: DecodeReason | undefined;
  constructor(readonly buf: Uint8Array, off = 0, public end = buf.length) {
    this.off = off;
  }
  fail(r: DecodeReason): void {
    if (this.err === undefined) this.err = r;
    this.off = this.end;
  }
  u8(): number {
    if (this.off + 1 > this.end) {
      this.fail('truncated');
      return 0;
    }
    return this.buf[this.off++]!;
  }
  u32(): number {
    if (this.off + 4 > this.end) {
      this.fail('truncated');
      return 0;
    }
    const b = this.buf;
    const o = this.off;
    this.off += 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  varint(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.off >= this.end) {
        this.fail('truncated');
        return 0;
      }
      const x = this.buf[this.off++]!;
      v += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) {
        if (v > 0xffffffff) break;
        return v;
      }
    }
    this.fail('bad_value');
    return 0;
  }
  bytes(n: number): Uint8Array {
    if (this.off + n > this.end) {
      this.fail('truncated');
      return new Uint8Array(0);
    }
    // copy: messages outlive the datagram buffer the driver may reuse
    const out = this.buf.slice(this.off, this.off + n);
    this.off += n;
    return out;
  }
  str8(): string {
    const n = this.u8();
    if (this.off + n > this.end) {
      this.fail('truncated');
      return '';
    }
    try {
      const s = utf8Dec.decode(this.buf.subarray(this.off, this.off + n));
      this.off += n;
      return s;
    } catch {
      this.fail('bad_utf8');
      return '';
    }
  }
  blob(): Uint8Array {
    return this.bytes(this.varint());
  }
  bool(): boolean {
    const v = this.u8();
    if (v > 1) this.fail('bad_value');
    return v === 1;
  }
}

// ---- encoding ----

function writeBody(w: Writer, m: SwimMessage): void {
  switch (m.type) {
    case 'ping':
      w.u32(m.seq);
      w.str8(m.target);
      w.str8(m.source);
      return;
    case 'indirect-ping':
      w.u32(m.seq);
      w.str8(m.target);
      w.str8(m.targetAddr);
      w.u8(m.nack ? 1 : 0);
      w.str8(m.source);
      return;
    case 'ack':
    case 'nack':
      w.u32(m.seq);
      return;
    case 'suspect':
    case 'dead':
      w.u32(m.incarnation);
      w.str8(m.node);
      w.str8(m.from);
      return;
    case 'alive':
      w.u32(m.incarnation);
      w.str8(m.node);
      w.str8(m.addr);
      w.blob(m.meta);
      return;
    case 'push-pull':
      w.u8((m.join ? 1 : 0) | (m.reply ? 2 : 0));
      w.str8(m.source);
      w.varint(m.nodes.length);
      for (const n of m.nodes) {
        w.str8(n.name);
        w.str8(n.addr);
        w.u32(n.incarnation);
        w.u8(WireState[n.state]);
        w.blob(n.meta);
      }
      w.blob(m.userState);
      return;
    case 'user':
      w.str8(m.origin);
      w.str8(m.key);
      w.u32(m.version);
      w.blob(m.payload);
      return;
  }
}

const TYPE_NUM: Record<SwimMessage['type'], number> = {
  'ping': MsgType.ping,
  'indirect-ping': MsgType.indirectPing,
  'ack': MsgType.ack,
  'nack': MsgType.nack,
  'suspect': MsgType.suspect,
  'alive': MsgType.alive,
  'dead': MsgType.dead,
  'push-pull': MsgType.pushPull,
  'user': MsgType.user,
};

const scratch = new Writer(256);

/** One framed message (type, varint length, body), ready to be concatenated into a packet. */
export function encodeMessage(m: SwimMessage): Uint8Array {
  scratch.len = 0;
  writeBody(scratch, m);
  const body = scratch.buf.subarray(0, scratch.len);
  const w = new Writer(body.length + 6);
  w.u8(TYPE_NUM[m.type]);
  w.blob(body);
  return w.finish();
}

/** Bytes a packet header adds (version + count). */
export const PACKET_HEADER_BYTES = 2;
/** Most messages one packet can carry (count is a u8). */
export const MAX_PACKET_MESSAGES = 255;

/** A packet from already framed messages (see encodeMessage). */
export function encodePacketFromFramed(framed: readonly Uint8Array[]): Uint8Array {
  if (framed.length === 0 || framed.length > MAX_PACKET_MESSAGES) {
    throw new RangeError(`a packet carries 1..${MAX_PACKET_MESSAGES} messages, not ${framed.length}`);
  }
  let total = PACKET_HEADER_BYTES;
  for (const f of framed) total += f.length;
  const out = new Uint8Array(total);
  out[0] = PROTOCOL_VERSION;
  out[1] = framed.length;
  let o = PACKET_HEADER_BYTES;
  for (const f of framed) {
    out.set(f, o);
    o += f.length;
  }
  return out;
}

export function encodePacket(msgs: readonly SwimMessage[]): Uint8Array {
  return encodePacketFromFramed(msgs.map(encodeMessage));
}

// ---- decoding ----

function readBody(r: Reader, type: number): SwimMessage | undefined {
  switch (type) {
    case MsgType.ping:
      return { type: 'ping', seq: r.u32(), target: r.str8(), source: r.str8() };
    case MsgType.indirectPing:
      return { type: 'indirect-ping', seq: r.u32(), target: r.str8(), targetAddr: r.str8(), nack: r.bool(), source: r.str8() };
    case MsgType.ack:
      return { type: 'ack', seq: r.u32() };
    case MsgType.nack:
      return { type: 'nack', seq: r.u32() };
    case MsgType.suspect:
      return { type: 'suspect', incarnation: r.u32(), node: r.str8(), from: r.str8() };
    case MsgType.dead:
      return { type: 'dead', incarnation: r.u32(), node: r.str8(), from: r.str8() };
    case MsgType.alive:
      return { type: 'alive', incarnation: r.u32(), node: r.str8(), addr: r.str8(), meta: r.blob() };
    case MsgType.pushPull: {
      const flags = r.u8();
      if (flags > 3) r.fail('bad_value');
      const source = r.str8();
      const count = r.varint();
      // each node takes at least 8 bytes: refuse absurd counts before allocating
      if (count * 8 > r.end - r.off) {
        r.fail('truncated');
        return undefined;
      }
      const nodes: PushNode[] = [];
      for (let i = 0; i < count && r.err === undefined; i++) {
        const name = r.str8();
        const addr = r.str8();
        const incarnation = r.u32();
        const st = r.u8();
        const meta = r.blob();
        const state = STATE_NAMES[st];
        if (state === undefined) {
          r.fail('bad_value');
          break;
        }
        nodes.push({ name, addr, incarnation, state, meta });
      }
      const userState = r.blob();
      return { type: 'push-pull', source, join: (flags & 1) !== 0, reply: (flags & 2) !== 0, nodes, userState };
    }
    case MsgType.user:
      return { type: 'user', origin: r.str8(), key: r.str8(), version: r.u32(), payload: r.blob() };
    default:
      return undefined;
  }
}

/** Decode a packet. Never throws; unknown message types are skipped and counted in `unknownTypes`. */
export function decodePacket(buf: Uint8Array): DecodeResult {
  if (buf.length === 0) return { ok: false, reason: 'empty' };
  const r = new Reader(buf);
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) return { ok: false, reason: 'bad_version' };
  const count = r.u8();
  if (r.err !== undefined) return { ok: false, reason: r.err };
  if (count === 0) return { ok: false, reason: 'bad_length' };
  const msgs: SwimMessage[] = [];
  let unknownTypes = 0;
  for (let i = 0; i < count; i++) {
    const type = r.u8();
    const len = r.varint();
    if (r.err !== undefined) return { ok: false, reason: r.err };
    if (r.off + len > buf.length) return { ok: false, reason: 'truncated' };
    const body = new Reader(buf, r.off, r.off + len);
    const m = readBody(body, type);
    r.off += len;
    if (m === undefined && body.err === undefined) {
      unknownTypes++;
      continue;
    }
    if (body.err !== undefined) return { ok: false, reason: body.err };
    if (body.off !== body.end) return { ok: false, reason: 'bad_length' };
    msgs.push(m!);
  }
  if (r.off !== buf.length) return { ok: false, reason: 'trailing_bytes' };
  return { ok: true, msgs, unknownTypes };
}

// ---- human-readable form (transcripts, debug logs) ----

export function describeMessage(m: SwimMessage): string {
  switch (m.type) {
    case 'ping':
      return `ping seq=${m.seq} target=${m.target}`;
    case 'indirect-ping':
      return `ping-req seq=${m.seq} target=${m.target}${m.nack ? ' nack' : ''}`;
    case 'ack':
      return `ack seq=${m.seq}`;
    case 'nack':
      return `nack seq=${m.seq}`;
    case 'suspect':
      return `suspect ${m.node} inc=${m.incarnation} from=${m.from}`;
    case 'alive':
      return `alive ${m.node} inc=${m.incarnation}`;
    case 'dead':
      return m.from === m.node ? `left ${m.node} inc=${m.incarnation}` : `dead ${m.node} inc=${m.incarnation} from=${m.from}`;
    case 'push-pull':
      return (
        `push-pull from=${m.source}${m.join ? ' join' : ''}${m.reply ? ' reply' : ''} nodes=[` +
        m.nodes.map((n) => `${n.name}:${n.state}:${n.incarnation}`).join(' ') +
        `] user=${m.userState.length}B`
      );
    case 'user':
      return `user key=${m.key} v=${m.version} origin=${m.origin} ${m.payload.length}B`;
  }
}
