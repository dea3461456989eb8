// A replicated key-value map: the state machine the manager runs until the cluster store
// (src/control/store) takes its place, and the one the end-to-end tests and bench:raft drive
// (the same workload etcd's KV API serves, for a like-for-like comparison).
//
// Commands are small JSON objects (off the hot path; a command is parsed once per apply).
// apply() never throws: a command it cannot use is counted and answered with an error result,
// the same on every manager.

import type { StateMachine } from './raft-node.js';

export type KvCommand =
  | { op: 'put'; key: string; value: string }
  | { op: 'delete'; key: string }
  | { op: 'cas'; key: string; expect: string | null; value: string };

export type KvResult = { ok: true; prev: string | null } | { ok: false; code: string; current?: string | null };

export function encodeKvCommand(c: KvCommand): Uint8Array {
  return Buffer.from(JSON.stringify(c));
}

export class KvStateMachine implements StateMachine {
  readonly map = new Map<string, { value: string; index: number }>();
  invalid = 0;

  apply(index: number, data: Uint8Array): KvResult {
    let c: KvCommand;
    try {
      c = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8')) as KvCommand;
    } catch {
      this.invalid++;
      return { ok: false, code: 'VXM_ERR_STORE_INVALID' };
    }
    if (typeof c !== 'object' || c === null || typeof c.key !== 'string') {
      this.invalid++;
      return { ok: false, code: 'VXM_ERR_STORE_INVALID' };
    }
    const cur = this.map.get(c.key);
    const prev = cur?.value ?? null;
    switch (c.op) {
      case 'put':
        if (typeof c.value !== 'string') break;
        this.map.set(c.key, { value: c.value, index });
        return { ok: true, prev };
      case 'delete':
        this.map.delete(c.key);
        return { ok: true, prev };
      case 'cas':
        if (typeof c.value !== 'string') break;
        if (prev !== c.expect) return { ok: false, code: 'VXM_ERR_STORE_CONFLICT', current: prev };
        this.map.set(c.key, { value: c.value, index });
        return { ok: true, prev };
    }
    this.invalid++;
    return { ok: false, code: 'VXM_ERR_STORE_INVALID' };
  }

  get(key: string): { value: string; index: number } | undefined {
    return this.map.get(key);
  }

  /** Deterministic bytes: keys sorted. */
  snapshot(): Uint8Array {
    const keys = [...this.map.keys()].sort();
    return Buffer.from(JSON.stringify(keys.map((k) => [k, this.map.get(k)!.value, this.map.get(k)!.index])));
  }

  restore(data: Uint8Array): void {
    this.map.clear();
    if (data.length === 0) return;
    const rows = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8')) as [string, string, number][];
    for (const [k, v, i] of rows) this.map.set(k, { value: v, index: i });
  }
}
