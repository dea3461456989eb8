// What a manager replicates: the cluster store (nodes, networks, services, tasks, pools) and
// the plain key-value map (the tests' and bench:raft's workload, etcd's KV for comparison), as
// one state machine. The first byte of every command says which one it is for; a snapshot
// holds both.

import { ClusterStore, type ApplyResult } from '../../store/index.js';
import { KvStateMachine, type KvResult } from './kv.js';
import type { StateMachine } from './raft-node.js';

// WARNING: persisted in the Raft log. Append-only: never renumber or reuse a value.
export const CMD_KV = 1;
export const CMD_STORE = 2;

/** Protocol (ours): snapshot magic "VXMM", then the KV snapshot's length, the KV bytes, the store bytes. */
const SNAP_MAGIC = 0x56584d4d;

export function tagCommand(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

export class ManagerState implements StateMachine {
  readonly kv = new KvStateMachine();
  readonly store = new ClusterStore();
  invalid = 0;

  apply(index: number, data: Uint8Array): KvResult | ApplyResult | undefined {
    if (data.length < 1) {
      this.invalid++;
      return undefined;
    }
    const body = data.subarray(1);
    if (data[0] === CMD_KV) return this.kv.apply(index, body);
    if (data[0] === CMD_STORE) return this.store.apply(index, body);
    this.invalid++; // a kind from a newer version: skipped the same way on every manager
    return undefined;
  }

  snapshot(): Uint8Array {
    const kv = this.kv.snapshot();
    const st = this.store.snapshot();
    const out = Buffer.alloc(8 + kv.length + st.length);
    out.writeUInt32BE(SNAP_MAGIC, 0);
    out.writeUInt32BE(kv.length, 4);
    out.set(kv, 8);
    out.set(st, 8 + kv.length);
    return out;
  }

  restore(data: Uint8Array): void {
    if (data.length === 0) {
      this.kv.restore(data);
      this.store.restore(data);
      return;
    }
    const b = Buffer.from(data.buffer, data.byteOffset, data.length);
    if (b.length < 8 || b.readUInt32BE(0) !== SNAP_MAGIC || 8 + b.readUInt32BE(4) > b.length) {
      throw new Error('restore manager state: not a manager snapshot (bad magic or length); the snapshot file is damaged: restore from a peer');
    }
    const kvLen = b.readUInt32BE(4);
    this.kv.restore(b.subarray(8, 8 + kvLen));
    this.store.restore(b.subarray(8 + kvLen));
  }
}
