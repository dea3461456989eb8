// A minimal in-test cluster for paper and randomized tests: RawNodes over MemoryStorage with
// a router that can drop messages and crash nodes. Deterministic given the seed.

import { defaultRaftConfig, type RaftConfig } from '../../../../src/control/raft/core/config.js';
import { decodeConfChange } from '../../../../src/control/raft/core/codec.js';
import { MemoryStorage } from '../../../../src/control/raft/core/memory-storage.js';
import { RawNode } from '../../../../src/control/raft/core/raw-node.js';
import type { Entry, Message } from '../../../../src/control/raft/core/types.js';
import { ENTRY_CONF_CHANGE } from '../../../../src/control/raft/core/types.js';

/** mulberry32: a small seeded PRNG (the one the in-memory fs uses for crashes). */
export { mulberry32 as rng } from '../../../util/seeded.js';

export interface CNode {
  id: number;
  storage: MemoryStorage;
  node: RawNode | null; // null = crashed
  applied: Entry[];
}

export class Cluster {
  nodes = new Map<number, CNode>();
  queue: Message[] = [];
  dropRate = 0;
  constructor(readonly ids: number[], readonly rand: () => number, readonly tweak?: (cfg: RaftConfig) => void) {
    for (const id of ids) {
      const storage = new MemoryStorage({ voters: ids, learners: [] });
      this.nodes.set(id, { id, storage, node: null, applied: [] });
      this.start(id);
    }
  }
  start(id: number): void {
    const n = this.nodes.get(id)!;
    const cfg = defaultRaftConfig(id, n.storage, (m) => Math.floor(this.rand() * m));
    cfg.applied = 0;
    this.tweak?.(cfg);
    n.applied = [];
    n.node = new RawNode(cfg);
  }
  crash(id: number): void {
    this.nodes.get(id)!.node = null;
    this.queue = this.queue.filter((m) => m.to !== id);
  }
  /** Persist, apply and send one Ready per node that has one. Returns whether anything happened. */
  processReadies(): boolean {
    let busy = false;
    for (const n of this.nodes.values()) {
      if (n.node === null || !n.node.hasReady()) continue;
      busy = true;
      const rd = n.node.ready();
      if (rd.snapshot !== null) n.storage.applySnapshot(rd.snapshot);
      n.storage.append(rd.entries);
      if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
      for (const e of rd.committedEntries) {
        n.applied.push(e);
        if (e.type === ENTRY_CONF_CHANGE) {
          const cc = decodeConfChange(e.data);
          if (cc !== undefined) n.node.applyConfChange(cc);
        }
      }
      for (const m of rd.messages) this.queue.push(m);
      n.node.advance();
    }
    return busy;
  }
  /** Deliver up to `max` queued messages in order (each dropped with probability dropRate). */
  deliver(max = Infinity): void {
    const batch = this.queue.splice(0, Math.min(max, this.queue.length));
    for (const m of batch) {
      const n = this.nodes.get(m.to);
      if (n?.node == null || this.rand() < this.dropRate) continue;
      n.node.step(m);
    }
  }
  stabilize(): void {
    for (let i = 0; i < 10000; i++) {
      const busy = this.processReadies();
      if (!busy && this.queue.length === 0) return;
      this.deliver();
    }
    throw new Error('cluster did not stabilize');
  }
  leaders(): number[] {
    const out: number[] = [];
    for (const n of this.nodes.values()) if (n.node !== null && n.node.raft.role === 3) out.push(n.id);
    return out;
  }
}
