// The managers' addresses and the ids removed for good, replicated with the configuration
// (etcd keeps the same in its membership store). The core only knows ids: an add carries the
// new manager's address in its conf change context, and every snapshot carries the whole list
// in front of the state machine's bytes, so a manager that restarts, or joins from a snapshot,
// knows where every other manager listens without a flag listing them.

import { isIP } from 'node:net';

export interface MemberAddress {
  host: string;
  port: number;
}

/** Protocol (ours): snapshot envelope magic "VXRN", then a version byte. */
const ENVELOPE_MAGIC = 0x5658524e;
const ENVELOPE_V1 = 1;
/** Implementation: the largest membership section accepted (thousands of managers fit). */
const MAX_MEMBERS_BYTES = 1 << 20;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

function validAddress(a: unknown): a is MemberAddress {
  if (typeof a !== 'object' || a === null) return false;
  const { host, port } = a as Record<string, unknown>;
  return typeof host === 'string' && isIP(host) !== 0 && Number.isInteger(port) && (port as number) > 0 && (port as number) < 65536;
}

/** The conf change context of an add: the new manager's Raft address as JSON. */
export function encodeMemberContext(a: MemberAddress): Uint8Array {
  return enc.encode(JSON.stringify({ host: a.host, port: a.port }));
}

/** The address in an add's context, or undefined if it holds none (an old or foreign change). */
export function decodeMemberContext(ctx: Uint8Array | undefined): MemberAddress | undefined {
  if (!ctx || ctx.length === 0) return undefined;
  try {
    const v = JSON.parse(dec.decode(ctx)) as unknown;
    return validAddress(v) ? { host: v.host, port: v.port } : undefined;
  } catch {
    return undefined;
  }
}

export class Members {
  readonly addresses = new Map<number, MemberAddress>();
  /** Ids removed from the cluster: never reused (the core refuses to add them again). */
  readonly removed = new Set<number>();

  /** The snapshot bytes: this list, then the state machine's snapshot. */
  wrap(sm: Uint8Array): Uint8Array {
    const body = enc.encode(JSON.stringify({
      members: [...this.addresses].sort((a, b) => a[0] - b[0]).map(([id, a]) => [id, a.host, a.port]),
      removed: [...this.removed].sort((a, b) => a - b),
    }));
    const out = new Uint8Array(9 + body.length + sm.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, ENVELOPE_MAGIC);
    out[4] = ENVELOPE_V1;
    dv.setUint32(5, body.length);
    out.set(body, 9);
    out.set(sm, 9 + body.length);
    return out;
  }

  /**
   * Takes the list out of snapshot bytes (replacing this one) and returns the state machine's
   * part. Bytes without the envelope (a snapshot from before it existed) are returned whole and
   * leave the list as it is. Throws on a damaged envelope: the snapshot cannot be trusted.
   */
  unwrap(data: Uint8Array): Uint8Array {
    if (data.length < 9) return data;
    const dv = new DataView(data.buffer, data.byteOffset, data.length);
    if (dv.getUint32(0) !== ENVELOPE_MAGIC) return data;
    const len = dv.getUint32(5);
    if (data[4] !== ENVELOPE_V1 || len > MAX_MEMBERS_BYTES || 9 + len > data.length) {
      throw new Error(`raft snapshot: membership section version ${data[4]} or length ${len} is not one this manager reads; upgrade it, or restore the snapshot from a peer`);
    }
    let parsed: { members?: unknown; removed?: unknown };
    try {
      parsed = JSON.parse(dec.decode(data.subarray(9, 9 + len))) as typeof parsed;
    } catch {
      throw new Error('raft snapshot: the membership section is not valid JSON; the snapshot file is damaged: restore it from a peer');
    }
    const members = Array.isArray(parsed.members) ? parsed.members : [];
    const removed = Array.isArray(parsed.removed) ? parsed.removed : [];
    this.addresses.clear();
    for (const m of members) {
      if (!Array.isArray(m) || !Number.isSafeInteger(m[0]) || !validAddress({ host: m[1], port: m[2] })) continue;
      this.addresses.set(m[0] as number, { host: m[1] as string, port: m[2] as number });
    }
    this.removed.clear();
    for (const id of removed) if (Number.isSafeInteger(id) && id > 0) this.removed.add(id as number);
    return data.subarray(9 + len);
  }
}
