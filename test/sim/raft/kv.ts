// The simulator's replicated state machine: a map of string registers with put / cas applied
// from committed entries (get is served by ReadIndex, never logged), plus the entry codec.
//
// Entry layout (version 1; str = u16 length + UTF-8 bytes):
//   u8 version(=1) u32 client u32 seq u8 kind(0 put, 2 cas) str key str value
//   [cas only] u8 hasExpect (0|1) [str expect]
// (client, seq) is the request id that lets the proposing node find the waiting client. The
// leader's empty entry (length 0) and anything malformed decode to undefined and are skipped by
// every node alike, so the state machines stay identical.

const VERSION = 1;
export const KIND_PUT = 0;
export const KIND_CAS = 2;

export interface KvCommand {
  client: number;
  seq: number;
  kind: typeof KIND_PUT | typeof KIND_CAS;
  key: string;
  value: string;
  /** cas only: null = the key must be absent. */
  expect: string | null;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeCommand(c: KvCommand): Uint8Array {
  const k = enc.encode(c.key);
  const v = enc.encode(c.value);
  const x = c.kind === KIND_CAS && c.expect !== null ? enc.encode(c.expect) : null;
  const len = 1 + 4 + 4 + 1 + 2 + k.length + 2 + v.length + (c.kind === KIND_CAS ? 1 + (x ? 2 + x.length : 0) : 0);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  let o = 0;
  b[o++] = VERSION;
  dv.setUint32(o, c.client >>> 0); o += 4;
  dv.setUint32(o, c.seq >>> 0); o += 4;
  b[o++] = c.kind;
  const str = (s: Uint8Array) => { dv.setUint16(o, s.length); o += 2; b.set(s, o); o += s.length; };
  str(k);
  str(v);
  if (c.kind === KIND_CAS) {
    b[o++] = x ? 1 : 0;
    if (x) str(x);
  }
  return b;
}

/** Never throws: malformed bytes give undefined. */
export function decodeCommand(b: Uint8Array): KvCommand | undefined {
  if (b.length < 10 || b[0] !== VERSION) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 1;
  const client = dv.getUint32(o); o += 4;
  const seq = dv.getUint32(o); o += 4;
  const kind = b[o++];
  if (kind !== KIND_PUT && kind !== KIND_CAS) return undefined;
  const str = (): string | undefined => {
    if (o + 2 > b.length) return undefined;
    const n = dv.getUint16(o); o += 2;
    if (o + n > b.length) return undefined;
    try {
      const s = dec.decode(b.subarray(o, o + n));
      o += n;
      return s;
    } catch {
      return undefined;
    }
  };
  const key = str();
  const value = str();
  if (key === undefined || value === undefined) return undefined;
  let expect: string | null = null;
  if (kind === KIND_CAS) {
    if (o >= b.length) return undefined;
    const has = b[o++];
    if (has === 1) {
      const x = str();
      if (x === undefined) return undefined;
      expect = x;
    } else if (has !== 0) return undefined;
  }
  if (o !== b.length) return undefined;
  return { client, seq, kind, key, value, expect };
}

export class KvStateMachine {
  private readonly map = new Map<string, string>();

  /** Apply a committed command; returns its result (put: true; cas: whether it swapped). */
  apply(c: KvCommand): boolean {
    if (c.kind === KIND_PUT) {
      this.map.set(c.key, c.value);
      return true;
    }
    const cur = this.map.get(c.key) ?? null;
    if (cur !== c.expect) return false;
    this.map.set(c.key, c.value);
    return true;
  }

  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  /** Deterministic serialization (sorted keys), so equal states give equal bytes. */
  snapshot(): Uint8Array {
    const entries = [...this.map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return enc.encode(JSON.stringify(entries));
  }

  restore(data: Uint8Array): void {
    this.map.clear();
    if (data.length === 0) return;
    const entries = JSON.parse(dec.decode(data)) as [string, string][];
    for (const [k, v] of entries) this.map.set(k, v);
  }
}
