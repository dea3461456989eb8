// Pending ReadIndex requests on the leader (Raft thesis §6.4, etcd-io/raft read_only.go).
// A request records the commit index when it arrived; it is answered once a quorum of voters
// acknowledged a heartbeat carrying its context, which proves this node was still leader
// after the request arrived. Requests are answered in arrival order: an ack for a later request
// also confirms every earlier one.

export interface ReadIndexRequest {
  index: number;
  /** Who asked: this node's id (answer with a ReadState) or a follower's (answer with MsgReadIndexResp). */
  from: number;
  ctx: Uint8Array;
  acks: Set<number>;
}

export function ctxKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += (ctx[i]! < 16 ? '0' : '') + ctx[i]!.toString(16);
  return s;
}

export class ReadOnly {
  private pending = new Map<string, ReadIndexRequest>();
  private queue: string[] = [];

  /** Ignored if a request with the same context is already pending. */
  addRequest(index: number, from: number, ctx: Uint8Array): void {
    const k = ctxKey(ctx);
    if (this.pending.has(k)) return;
    this.pending.set(k, { index, from, ctx, acks: new Set() });
    this.queue.push(k);
  }

  /** Record `id`'s ack of ctx; the acks so far, or undefined if ctx is not pending. */
  recvAck(id: number, ctx: Uint8Array): Set<number> | undefined {
    const rs = this.pending.get(ctxKey(ctx));
    if (rs === undefined) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Remove and return every request up to and including ctx. */
  advance(ctx: Uint8Array): ReadIndexRequest[] {
    const k = ctxKey(ctx);
    const at = this.queue.indexOf(k);
    if (at < 0) return [];
    const keys = this.queue.splice(0, at + 1);
    const out: ReadIndexRequest[] = [];
    for (const key of keys) {
      out.push(this.pending.get(key)!);
      this.pending.delete(key);
    }
    return out;
  }

  lastPendingCtx(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1]!)!.ctx;
  }

  size(): number {
    return this.queue.length;
  }

  clear(): void {
    this.pending.clear();
    this.queue = [];
  }
}
