// An order-independent fingerprint of live table state, for tests and the simulator to assert
// "every replica agrees" in one comparison. Each live entry (owner, table, network, key, value)
// is hashed on its own (SHA-256 of length-prefixed fields, so no two distinct entries share
// an input) and the hashes are added lane-wise mod 2^32: the sum does not depend on iteration
// order and, unlike XOR, an entry counted twice does not cancel out. Versions are left out on
// purpose: two replicas holding the same values agree, whatever writes led there.

import { createHash } from 'node:crypto';
import { Writer } from './wire.js';

export interface DigestEntry {
  readonly owner: string;
  readonly table: string;
  readonly network: string;
  readonly key: string;
  readonly value: Uint8Array;
}

/** `<count>-<128-bit hex>`; equal iff (with overwhelming probability) the sets are equal. */
export function tablesDigest(entries: Iterable<DigestEntry>): string {
  const lanes = new Uint32Array(4);
  const w = new Writer(256);
  let count = 0;
  for (const e of entries) {
    w.reset();
    w.str(e.owner);
    w.str(e.table);
    w.str(e.network);
    w.str(e.key);
    w.bytes(e.value);
    const h = createHash('sha256').update(w.buf.subarray(0, w.off)).digest();
    for (let i = 0; i < 4; i++) lanes[i] = (lanes[i]! + h.readUInt32BE(i * 4)) >>> 0;
    count++;
  }
  let hex = '';
  for (let i = 0; i < 4; i++) hex += lanes[i]!.toString(16).padStart(8, '0');
  return `${count}-${hex}`;
}
