// Wire encoding of the gossip tables: one entry per broadcast (UDP gossip, piggybacked by the
// SWIM core) and the full state for TCP push-pull anti-entropy. Binary and versioned: byte 0 is
// the format version, byte 1 the message type. Every length and count is checked against the
// bytes that remain before anything is allocated, so a hostile or corrupt buffer costs at most
// its own size; decoders return a drop reason instead of throwing.
//
// Broadcast (MSG_ENTRY), all varints unsigned LEB128, strings = varint byte length + UTF-8:
//
//   +---------+---------+-------+--------------+------------+-------+---------+-----+-------+---------------------+
//   | version | type=1  | owner | epoch varint | seq varint | table | network | key | flags | [value: varint+bytes] |
//   +---------+---------+-------+--------------+------------+-------+---------+-----+-------+---------------------+
//
// Full state (MSG_STATE): a dictionary of names, then owner records, then (table, network)
// pairs, then entries that refer to both by index. An entry's epoch is its owner record's epoch:
// a replica keeps an owner's entries of its highest known epoch only (see gossip-tables.ts).
//
//   version | type=2 | nNames {name} | nOwners {nameIdx epoch fence} | nPairs {tableIdx netIdx}
//           | nEntries {ownerIdx pairIdx key seq flags [value]}
//
// Flags: bit 0 = tombstone (no value follows). Other bits must be zero in format 1.

/** The format this code writes and the only one it reads. A new format gets a new number and a
 *  decoder for it next to this one; nodes of mixed versions then drop (and count) each other's
 *  messages, so roll upgrades out before writing a new format. */
export const FORMAT_VERSION = 1;

// Message types of the gossip tables.
//
// WARNING: ONLY APPEND TO THIS LIST! The numeric values are part of the
// protocol itself.
export const MSG_ENTRY = 1;
export const MSG_STATE = 2;

// Entry flag bits.
//
// WARNING: ONLY APPEND TO THIS LIST! The numeric values are part of the
// protocol itself.
export const FLAG_TOMBSTONE = 0x01;
const KNOWN_FLAGS = FLAG_TOMBSTONE;

// Implementation limits (our choice, not a spec). Names are node, table and network names:
// 255 bytes covers a DNS name or a docker network ID many times over. Keys are endpoint IDs,
// addresses or composite keys: 1 KiB. A value never exceeds 65 535 (`maxValueBytes` is at
// most this), so a broadcast stays far below a UDP datagram's 64 KiB.
export const MAX_NAME_BYTES = 255;
export const MAX_KEY_BYTES = 1024;
export const MAX_VALUE_BYTES_LIMIT = 65_535;

/** Why a buffer was dropped; one counter each in `GossipTables.counters.dropsByReason`. */
export type DropReason = 'truncated' | 'version' | 'type' | 'bound' | 'utf8' | 'index' | 'flags' | 'trailing' | 'varint';

export interface WireEntry {
  owner: string;
  epoch: number;
  seq: number;
  table: string;
  network: string;
  key: string;
  /** null for a tombstone. A view into the decoded buffer: copy before keeping it. */
  value: Uint8Array | null;
}

export interface WireOwner { name: string; epoch: number; fence: number }

export interface WireState {
  owners: WireOwner[];
  pairs: { table: string; network: string }[];
  /** Parallel arrays, one slot per entry (no object per entry on the 10k-entry path). */
  entryOwner: Uint32Array;
  entryPair: Uint32Array;
  entryKey: string[];
  entrySeq: Float64Array;
  entryValue: (Uint8Array | null)[];
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: DropReason };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 byte length of `s` without encoding it. Lone surrogates count 3 bytes, as
 *  TextEncoder writes them (U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** A growable output buffer. One instance is reused by a GossipTables for its broadcasts. */
export class Writer {
  buf: Uint8Array;
  off = 0;
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }
  reset(): void {
    this.off = 0;
  }
  private ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.off + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.off));
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.off++] = v;
  }
  /** Unsigned LEB128 of a safe integer (at most 8 bytes for 2^53 - 1). */
  varint(v: number): void {
    this.ensure(8);
    while (v >= 128) {
      this.buf[this.off++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.off++] = v;
  }
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }
  str(s: string): void {
    // Worst case 3 bytes per UTF-16 unit; write in place, then patch the length prefix.
    const max = s.length * 3;
    const lenBytes = varintSize(max);
    this.ensure(8 + max); // 8: the length varint below must not trigger a regrow that drops the text
    const start = this.off + lenBytes;
    const { written } = encoder.encodeInto(s, this.buf.subarray(start, start + max));
    const needed = varintSize(written);
    if (needed !== lenBytes) this.buf.copyWithin(this.off + needed, start, start + written);
    this.varint(written);
    this.off += written;
  }
  /** A copy of what was written, sized exactly. */
  take(): Uint8Array {
    return this.buf.slice(0, this.off);
  }
}

class DecodeFail {
  constructor(readonly reason: DropReason) {}
}

/** A bounds-checked reader; every failure throws a DecodeFail that the decode* functions catch. */
class Reader {
  off = 0;
  constructor(readonly buf: Uint8Array) {}
  remaining(): number {
    return this.buf.length - this.off;
  }
  u8(): number {
    if (this.off >= this.buf.length) throw new DecodeFail('truncated');
    return this.buf[this.off++]!;
  }
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (v > Number.MAX_SAFE_INTEGER) throw new DecodeFail('varint');
        return v;
      }
      mul *= 128;
    }
    throw new DecodeFail('varint');
  }
  /** A count of items that each take at least `minBytes`: bounded by what remains. */
  count(minBytes: number): number {
    const n = this.varint();
    if (n * minBytes > this.remaining()) throw new DecodeFail('bound');
    return n;
  }
  view(maxLen: number): Uint8Array {
    const n = this.varint();
    if (n > maxLen) throw new DecodeFail('bound');
    if (n > this.remaining()) throw new DecodeFail('truncated');
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  str(maxLen: number): string {
    const v = this.view(maxLen);
    if (v.length === 0) throw new DecodeFail('bound');
    try {
      return decoder.decode(v);
    } catch {
      throw new DecodeFail('utf8');
    }
  }
  flags(): number {
    const f = this.u8();
    if ((f & ~KNOWN_FLAGS) !== 0) throw new DecodeFail('flags');
    return f;
  }
  header(type: number): void {
    if (this.u8() !== FORMAT_VERSION) throw new DecodeFail('version');
    if (this.u8() !== type) throw new DecodeFail('type');
  }
  end(): void {
    if (this.off !== this.buf.length) throw new DecodeFail('trailing');
  }
}

function run<T>(f: () => T): Decoded<T> {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (e instanceof DecodeFail) return { ok: false, reason: e.reason };
    throw e; // a bug in this file, not bad input
  }
}

/** Encodes one entry as a broadcast payload into `w` (reset first) and returns an exact copy. */
export function encodeEntry(w: Writer, e: WireEntry): Uint8Array {
  w.reset();
  w.u8(FORMAT_VERSION);
  w.u8(MSG_ENTRY);
  w.str(e.owner);
  w.varint(e.epoch);
  w.varint(e.seq);
  w.str(e.table);
  w.str(e.network);
  w.str(e.key);
  if (e.value === null) w.u8(FLAG_TOMBSTONE);
  else {
    w.u8(0);
    w.bytes(e.value);
  }
  return w.take();
}

/** Decodes a broadcast payload. `value` views `buf`. Epochs are >= 1 and seqs >= 1. */
export function decodeEntry(buf: Uint8Array, maxValueBytes: number): Decoded<WireEntry> {
  return run(() => {
    const r = new Reader(buf);
    r.header(MSG_ENTRY);
    const owner = r.str(MAX_NAME_BYTES);
    const epoch = r.varint();
    const seq = r.varint();
    if (epoch === 0 || seq === 0) throw new DecodeFail('bound');
    const table = r.str(MAX_NAME_BYTES);
    const network = r.str(MAX_NAME_BYTES);
    const key = r.str(MAX_KEY_BYTES);
    const flags = r.flags();
    const value = (flags & FLAG_TOMBSTONE) !== 0 ? null : r.view(maxValueBytes);
    r.end();
    return { owner, epoch, seq, table, network, key, value };
  });
}

/** Input of `encodeState`, gathered by GossipTables.localState. */
export interface StateSource {
  owners: readonly WireOwner[];
  /** Entries grouped by owner: `ownerIndex` refers to `owners`. */
  forEachEntry(visit: (ownerIndex: number, table: string, network: string, key: string, seq: number, value: Uint8Array | null) => void): void;
}

/** Encodes a full state in one pass over the entries (names and pairs are interned as met,
 *  so they are written after the entries into a second writer and the two are joined). */
export function encodeState(src: StateSource): Uint8Array {
  const names = new Map<string, number>();
  const nameList: string[] = [];
  const intern = (s: string): number => {
    let i = names.get(s);
    if (i === undefined) {
      i = nameList.length;
      names.set(s, i);
      nameList.push(s);
    }
    return i;
  };
  const pairs = new Map<string, number>();
  const pairList: number[] = [];
  const body = new Writer(4096);
  let nEntries = 0;
  for (const o of src.owners) intern(o.name);
  src.forEachEntry((ownerIndex, table, network, key, seq, value) => {
    const pk = `${table.length}:${table}${network}`;
    let p = pairs.get(pk);
    if (p === undefined) {
      p = pairList.length / 2;
      pairs.set(pk, p);
      pairList.push(intern(table), intern(network));
    }
    body.varint(ownerIndex);
    body.varint(p);
    body.str(key);
    body.varint(seq);
    if (value === null) body.u8(FLAG_TOMBSTONE);
    else {
      body.u8(0);
      body.bytes(value);
    }
    nEntries++;
  });
  const head = new Writer(1024);
  head.u8(FORMAT_VERSION);
  head.u8(MSG_STATE);
  head.varint(nameList.length);
  for (const s of nameList) head.str(s);
  head.varint(src.owners.length);
  for (const o of src.owners) {
    head.varint(names.get(o.name)!);
    head.varint(o.epoch);
    head.varint(o.fence);
  }
  head.varint(pairList.length / 2);
  for (const i of pairList) head.varint(i);
  head.varint(nEntries);
  const out = new Uint8Array(head.off + body.off);
  out.set(head.buf.subarray(0, head.off), 0);
  out.set(body.buf.subarray(0, body.off), head.off);
  return out;
}

/** Decodes a full state. Values view `buf`. Owner names are unique; a duplicate is malformed. */
export function decodeState(buf: Uint8Array, maxValueBytes: number): Decoded<WireState> {
  return run(() => {
    const r = new Reader(buf);
    r.header(MSG_STATE);
    const nNames = r.count(2);
    const nameList: string[] = new Array(nNames);
    for (let i = 0; i < nNames; i++) nameList[i] = r.str(MAX_NAME_BYTES);
    const name = (): string => {
      const i = r.varint();
      if (i >= nNames) throw new DecodeFail('index');
      return nameList[i]!;
    };
    const nOwners = r.count(3);
    const owners: WireOwner[] = new Array(nOwners);
    const seen = new Set<string>();
    for (let i = 0; i < nOwners; i++) {
      const n = name();
      if (seen.has(n)) throw new DecodeFail('index');
      seen.add(n);
      owners[i] = { name: n, epoch: r.varint(), fence: r.varint() };
    }
    const nPairs = r.count(2);
    const pairs: { table: string; network: string }[] = new Array(nPairs);
    for (let i = 0; i < nPairs; i++) pairs[i] = { table: name(), network: name() };
    const nEntries = r.count(5);
    const entryOwner = new Uint32Array(nEntries);
    const entryPair = new Uint32Array(nEntries);
    const entryKey: string[] = new Array(nEntries);
    const entrySeq = new Float64Array(nEntries);
    const entryValue: (Uint8Array | null)[] = new Array(nEntries);
    for (let i = 0; i < nEntries; i++) {
      const o = r.varint();
      if (o >= nOwners) throw new DecodeFail('index');
      const p = r.varint();
      if (p >= nPairs) throw new DecodeFail('index');
      entryOwner[i] = o;
      entryPair[i] = p;
      entryKey[i] = r.str(MAX_KEY_BYTES);
      const seq = r.varint();
      if (seq === 0 || owners[o]!.epoch === 0) throw new DecodeFail('bound');
      entrySeq[i] = seq;
      entryValue[i] = (r.flags() & FLAG_TOMBSTONE) !== 0 ? null : r.view(maxValueBytes);
    }
    r.end();
    return { owners, pairs, entryOwner, entryPair, entryKey, entrySeq, entryValue };
  });
}
