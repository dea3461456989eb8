// Node metadata gossiped in alive messages: a small structured object in binary.
//
//   role str8 | addr count u8 | count x str8 | label count u8 | count x (key str8, value str8)
//
// Labels are encoded sorted by key so equal metadata always gives equal bytes (the core
// compares metadata by bytes). Size-capped by SwimConfig.metaMaxBytes (memberlist MetaMaxSize).

import { VxmeshError } from '../../errors.js';
import { Reader, Writer, str8Fits, type DecodeReason } from './codec.js';

export interface NodeMeta {
  /** e.g. 'manager' | 'worker' */
  role: string;
  /** Addresses the node can be reached at (underlay IPs, VXLAN endpoint ...). */
  addrs: string[];
  labels: Record<string, string>;
}

/** Metadata that cannot be encoded: too large or a field longer than 255 bytes. */
export class SwimMetaError extends VxmeshError {
  constructor(message: string) {
    super('VXM_ERR_SWIM_META', message);
    this.name = 'SwimMetaError';
  }
}

export function encodeMeta(meta: NodeMeta, maxBytes: number): Uint8Array {
  const strs = [meta.role, ...meta.addrs, ...Object.keys(meta.labels), ...Object.values(meta.labels)];
  for (const s of strs) {
    if (!str8Fits(s)) throw new SwimMetaError(`encode node metadata: field "${s.slice(0, 32)}..." is longer than 255 bytes, shorten it`);
  }
  if (meta.addrs.length > 255) throw new SwimMetaError('encode node metadata: more than 255 addresses, send fewer');
  const keys = Object.keys(meta.labels).sort();
  if (keys.length > 255) throw new SwimMetaError('encode node metadata: more than 255 labels, send fewer');
  const w = new Writer(64);
  w.str8(meta.role);
  w.u8(meta.addrs.length);
  for (const a of meta.addrs) w.str8(a);
  w.u8(keys.length);
  for (const k of keys) {
    w.str8(k);
    w.str8(meta.labels[k]!);
  }
  if (w.len > maxBytes) {
    throw new SwimMetaError(`encode node metadata: ${w.len} bytes exceed metaMaxBytes=${maxBytes}, drop labels or addresses`);
  }
  return w.finish();
}

/** Decode; never throws. */
export function decodeMeta(buf: Uint8Array): { ok: true; meta: NodeMeta } | { ok: false; reason: DecodeReason } {
  const r = new Reader(buf);
  const role = r.str8();
  const na = r.u8();
  const addrs: string[] = [];
  for (let i = 0; i < na && r.err === undefined; i++) addrs.push(r.str8());
  const nl = r.u8();
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < nl && r.err === undefined; i++) {
    const k = r.str8();
    labels[k] = r.str8();
  }
  if (r.err !== undefined) return { ok: false, reason: r.err };
  if (r.off !== r.end) return { ok: false, reason: 'trailing_bytes' };
  return { ok: true, meta: { role, addrs, labels: { ...labels } } };
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function cloneMeta(m: NodeMeta): NodeMeta {
  return { role: m.role, addrs: m.addrs.slice(), labels: { ...m.labels } };
}
