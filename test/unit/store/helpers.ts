// Builders shared by the store tests: a store fed through the real encoder, like the Raft
// driver will feed it (encodeTransaction on the proposer, apply on every manager).

import assert from 'node:assert/strict';
import { ClusterStore, type ApplyResult } from '../../../src/control/store/store.js';
import { encodeTransaction, type Change } from '../../../src/control/store/commands.js';
import type { ChangeableKind } from '../../../src/control/store/schema.js';

export class Harness {
  readonly store: ClusterStore;
  index = 0;
  #req = 0;
  constructor(store = new ClusterStore()) {
    this.store = store;
  }

  /** Encodes, then applies at the next index (gaps of `skip` entries mimic the driver's empty entries). */
  apply(changes: Change[] | Change, skip = 0): ApplyResult {
    const data = encodeTransaction({ requestId: `r${++this.#req}`, changes: Array.isArray(changes) ? changes : [changes] });
    this.index += 1 + skip;
    return this.store.apply(this.index, data);
  }

  /** Applies and asserts success. */
  ok(changes: Change[] | Change): Extract<ApplyResult, { ok: true }> {
    const r = this.apply(changes);
    if (!r.ok) assert.fail(`expected success, got ${r.error.code}: ${r.error.message}`);
    return r;
  }

  /** Applies and asserts the failure code; returns the error. */
  fails(changes: Change[] | Change, code: string): Extract<ApplyResult, { ok: false }> {
    const before = this.store.snapshot();
    const r = this.apply(changes);
    if (r.ok) assert.fail(`expected ${code}, the transaction succeeded`);
    assert.equal(r.error.code, code, r.error.message);
    // Nothing changed except the applied index (the entry was still consumed).
    assert.deepEqual(stripIndex(this.store.snapshot()), stripIndex(before), 'a failed transaction must change nothing');
    return r;
  }
}

function stripIndex(snap: Uint8Array): string {
  return Buffer.from(snap).toString('utf8').replace(/^VXMS\u0001\{"index":\d+/, '');
}

export const create = <K extends ChangeableKind>(kind: K, object: Record<string, unknown>): Change =>
  ({ op: 'create', kind, object }) as unknown as Change;
export const update = <K extends ChangeableKind>(kind: K, object: Record<string, unknown>, expectedVersion: number): Change =>
  ({ op: 'update', kind, object, expectedVersion }) as unknown as Change;
export const del = (kind: ChangeableKind, id: string, expectedVersion: number): Change => ({ op: 'delete', kind, id, expectedVersion });

export const node = (id: string, extra: Record<string, unknown> = {}) => ({ id, name: `host-${id}`, ...extra });
export const network = (id: string, extra: Record<string, unknown> = {}) => ({ id, name: `net-${id}`, ...extra });
export const service = (id: string, extra: Record<string, unknown> = {}) => ({ id, name: `svc-${id}`, task: { image: 'nginx:1.25' }, ...extra });
export const task = (id: string, serviceId: string, extra: Record<string, unknown> = {}) => ({ id, serviceId, ...extra });
