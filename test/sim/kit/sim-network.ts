// A seeded, faulty, in-process network for deterministic simulation of N protocol cores.
//
// Model (each point is a contract the SWIM and Raft simulations rely on):
// - 'udp': each datagram is independently lost with probability `loss`, duplicated with
//   probability `duplicate` (the copy gets its own delay), and delayed uniformly in
//   [delayMs.min, delayMs.max]; a spread > 0 therefore reorders. Datagrams across a partition are
//   dropped at send time; datagrams reaching a crashed or never-attached address are dropped at
//   delivery time. Datagrams sent before a receiver's crash and arriving after its restart are
//   delivered (that is what a real host would see).
// - 'tcp': reliable and in order per (from, to) pair: each message gets a delay from the link's
//   delayMs but never arrives before an earlier message of the same pair (loss/duplicate do not
//   apply: TCP retransmits). If the peer is unreachable when sending (crashed, partitioned away,
//   never attached) the sender's onTcpError(to, tag) fires after `tcpConnectTimeoutMs`. If the
//   connection breaks while a message is in flight (receiver crashed or partitioned before
//   delivery) the error fires at the would-be delivery time. A sender that crashes loses its
//   in-flight tcp messages silently (its connections died with it).
// - crash(addr): the node receives nothing and sends nothing (send() from it is ignored) until
//   restart(addr). Handlers stay attached; attach() again to swap in a fresh core after restart.
// - setProcessingDelay(addr, ms): a slow node; every message to it is handed over ms later (the
//   delay in force at send time is used) and its timers from schedulePeriodic() fire ms late.
// - Bytes passed to send() are owned by the network from then on, and the same array is handed
//   to the receiver (twice if duplicated): senders must not reuse, receivers must not mutate.
//
// Determinism: all randomness comes from the injected Rng, drawn in send() order; delivery order
// is (time, send order). Same seed + same harness calls => identical delivery trace.
//
// Cost: O(1) per send and per delivery, no closure per message (deliveries are closure-free
// EventQueue events pointing into a pooled message record table); per-node state lives in typed
// arrays indexed by a dense node number.

import { SimError } from './errors.js';
import { type EventHandler, type EventQueue, type Periodic, schedulePeriodic } from './event-queue.js';
import type { Rng } from './rng.js';

export interface LinkFaults {
  /** Probability a udp datagram is lost, in [0, 1]. Default 0. */
  loss?: number;
  /** Probability a udp datagram is delivered twice, in [0, 1]. Default 0. */
  duplicate?: number;
  /** One-way delay, uniform in [min, max] ms (max > min reorders udp). Default { 0, 0 }. */
  delayMs?: { min: number; max: number };
}

export type Transport = 'udp' | 'tcp';

/** `tag` is an opaque number carried from send() to the receiver and to onTcpError (e.g. a stream id). */
export type MessageHandler = (from: string, transport: Transport, bytes: Uint8Array, tag: number) => void;
export type TcpErrorHandler = (to: string, tag: number) => void;

export interface NetStats {
  sentMsgs: number;
  sentBytes: number;
  recvMsgs: number;
  recvBytes: number;
  /** Messages this node sent that were never delivered (lost, partitioned, receiver down, tcp error). */
  dropped: number;
}

export type DropReason = 'loss' | 'partition' | 'down' | 'unknown' | 'reset';

export interface TraceEvent {
  readonly event: 'send' | 'deliver' | 'drop' | 'tcp-error';
  readonly time: number;
  readonly from: string;
  readonly to: string;
  readonly transport: Transport;
  readonly bytes: Uint8Array | null;
  readonly tag: number;
  readonly reason: DropReason | null;
}

export interface SimNetworkOptions {
  /**
   * How long a tcp send to an unreachable peer takes to fail. memberlist's TCPTimeout is 10 s on
   * LAN; shorter values make failure paths faster to simulate. Default 1000 ms.
   */
  tcpConnectTimeoutMs?: number;
}

interface Faults { loss: number; dup: number; dmin: number; dspan: number }

const EV_DELIVER = 0;
const EV_TCP_ERROR = 1;
const MAX_NODES = 1 << 22; // pair keys are from * 2^22 + to
const DROP_REASONS: readonly DropReason[] = ['loss', 'partition', 'down', 'unknown', 'reset'];

function resolveFaults(f: LinkFaults, where: string): Faults {
  const loss = f.loss ?? 0;
  const dup = f.duplicate ?? 0;
  const min = f.delayMs?.min ?? 0;
  const max = f.delayMs?.max ?? min;
  if (!(loss >= 0 && loss <= 1)) throw new SimError('VXM_ERR_SIM_CONFIG', `${where}: loss must be in [0, 1], got ${loss}`);
  if (!(dup >= 0 && dup <= 1)) throw new SimError('VXM_ERR_SIM_CONFIG', `${where}: duplicate must be in [0, 1], got ${dup}`);
  if (!(min >= 0 && max >= min && Number.isFinite(max))) throw new SimError('VXM_ERR_SIM_CONFIG', `${where}: delayMs needs 0 <= min <= max (finite), got ${min}..${max}`);
  return { loss, dup, dmin: min, dspan: max - min };
}

export class SimNetwork implements EventHandler {
  private readonly tcpTimeout: number;
  private defaults: Faults;
  private readonly links = new Map<number, Faults>();
  private readonly lastTcp = new Map<number, number>(); // pair -> latest scheduled tcp delivery time
  private tracer: ((e: TraceEvent) => void) | null = null;

  // Per node, by dense index.
  private readonly index = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly handlers: (MessageHandler | null)[] = [];
  private readonly tcpErrHandlers: (TcpErrorHandler | null)[] = [];
  private n = 0;
  private ncap = 64;
  private up = new Uint8Array(64);
  private epoch = new Uint32Array(64); // bumped on crash: tcp connections do not survive it
  private group = new Int32Array(64); // partition group; equal groups can talk
  private procDelay = new Float64Array(64);
  private st = new Float64Array(64 * 5); // sentMsgs, sentBytes, recvMsgs, recvBytes, dropped
  private readonly dropsByReason = new Float64Array(DROP_REASONS.length);

  // In-flight message records (pooled; an event's arg is a record index).
  private mcap = 1024;
  private mFrom = new Int32Array(1024);
  private mTo = new Int32Array(1024);
  private mTcp = new Uint8Array(1024);
  private mFromEpoch = new Uint32Array(1024);
  private mToEpoch = new Uint32Array(1024);
  private mTag = new Float64Array(1024);
  private mBytes: (Uint8Array | null)[] = new Array(1024).fill(null);
  private mFree = new Int32Array(1024);
  private mFreeTop = 0;
  private mFresh = 0;

  constructor(private readonly q: EventQueue, private readonly rng: Rng, defaults: LinkFaults, opts: SimNetworkOptions = {}) {
    this.defaults = resolveFaults(defaults, 'SimNetwork defaults');
    this.tcpTimeout = opts.tcpConnectTimeoutMs ?? 1000;
    if (!(this.tcpTimeout >= 0)) throw new SimError('VXM_ERR_SIM_CONFIG', `tcpConnectTimeoutMs must be >= 0, got ${this.tcpTimeout}`);
  }

  /** Attach (or re-attach, replacing the handler) a node. A newly attached node is up. */
  attach(addr: string, onMessage: MessageHandler): void {
    const i = this.idx(addr);
    if (this.handlers[i] === null) this.up[i] = 1;
    this.handlers[i] = onMessage;
  }

  onTcpError(addr: string, fn: TcpErrorHandler): void {
    this.tcpErrHandlers[this.known(addr, 'onTcpError')] = fn;
  }

  /** Replace the default faults for links without an override (affects later sends). */
  setDefaults(f: LinkFaults): void {
    this.defaults = resolveFaults(f, 'setDefaults');
  }

  /** Per-direction override for from -> to; null removes it. */
  setLink(from: string, to: string, f: LinkFaults | null): void {
    const key = this.idx(from) * MAX_NODES + this.idx(to);
    if (f === null) this.links.delete(key);
    else this.links.set(key, resolveFaults(f, `setLink ${from} -> ${to}`));
  }

  /**
   * Split the network: nodes in the same group talk, nodes in different groups do not. Nodes named
   * in no group (including ones attached later) form one more group together. Replaces any
   * previous partition.
   */
  partition(...groups: string[][]): void {
    this.group.fill(0);
    for (let g = 0; g < groups.length; g++) for (const a of groups[g]!) this.group[this.idx(a)] = g + 1;
  }

  heal(): void {
    this.group.fill(0);
  }

  crash(addr: string): void {
    const i = this.known(addr, 'crash');
    if (this.up[i] === 0) return;
    this.up[i] = 0;
    this.epoch[i] = (this.epoch[i]! + 1) >>> 0;
  }

  restart(addr: string): void {
    this.up[this.known(addr, 'restart')] = 1;
  }

  isUp(addr: string): boolean {
    const i = this.index.get(addr);
    return i !== undefined && this.up[i] === 1;
  }

  setProcessingDelay(addr: string, ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new SimError('VXM_ERR_SIM_CONFIG', `setProcessingDelay: ms must be a finite number >= 0, got ${ms}`);
    this.procDelay[this.idx(addr)] = ms;
  }

  processingDelay(addr: string): number {
    const i = this.index.get(addr);
    return i === undefined ? 0 : this.procDelay[i]!;
  }

  /**
   * The node's own timer: schedulePeriodic() that skips firings while the node is crashed and
   * fires late by the node's processing delay (a slow node's ticks run late without drifting).
   */
  schedulePeriodic(addr: string, periodMs: number, phase: number, fn: (nominalTime: number) => void): Periodic {
    const i = this.known(addr, 'schedulePeriodic');
    return schedulePeriodic(this.q, periodMs, phase, (t) => { if (this.up[i] === 1) fn(t); }, () => this.procDelay[i]!);
  }

  /** Observe every send/deliver/drop/tcp-error (null to stop; free when off). */
  setTracer(fn: ((e: TraceEvent) => void) | null): void {
    this.tracer = fn;
  }

  stats(addr: string): NetStats {
    const i = this.index.get(addr);
    if (i === undefined) return { sentMsgs: 0, sentBytes: 0, recvMsgs: 0, recvBytes: 0, dropped: 0 };
    const o = i * 5, s = this.st;
    return { sentMsgs: s[o]!, sentBytes: s[o + 1]!, recvMsgs: s[o + 2]!, recvBytes: s[o + 3]!, dropped: s[o + 4]! };
  }

  /** Sums over all nodes, plus drops by reason. */
  totals(): NetStats & { drops: Record<DropReason, number> } {
    const t = { sentMsgs: 0, sentBytes: 0, recvMsgs: 0, recvBytes: 0, dropped: 0 };
    for (let i = 0; i < this.n; i++) {
      const o = i * 5, s = this.st;
      t.sentMsgs += s[o]!; t.sentBytes += s[o + 1]!; t.recvMsgs += s[o + 2]!; t.recvBytes += s[o + 3]!; t.dropped += s[o + 4]!;
    }
    const drops = {} as Record<DropReason, number>;
    DROP_REASONS.forEach((r, k) => { drops[r] = this.dropsByReason[k]!; });
    return { ...t, drops };
  }

  /** Messages in flight (scheduled deliveries and pending tcp errors). */
  get inFlight(): number {
    return this.mFresh - this.mFreeTop;
  }

  send(from: string, to: string, transport: Transport, bytes: Uint8Array, tag = 0): void {
    const fi = this.index.get(from);
    if (fi === undefined || this.handlers[fi] === null) throw new SimError('VXM_ERR_SIM_ADDR', `send: ${from} is not attached; attach it before sending from it`);
    if (this.up[fi] === 0) return; // a crashed node sends nothing
    const ti = this.idx(to);
    const len = bytes.length;
    const s = this.st;
    s[fi * 5]++;
    s[fi * 5 + 1] += len;
    const tcp = transport === 'tcp';
    if (this.tracer !== null) this.trace('send', fi, ti, tcp, bytes, tag, null);
    const f = this.links.size === 0 ? this.defaults : (this.links.get(fi * MAX_NODES + ti) ?? this.defaults);
    const now = this.q.now;
    if (!tcp) {
      if (this.group[fi] !== this.group[ti]) { this.drop(fi, ti, false, bytes, tag, 1); return; }
      if (f.loss > 0 && this.rng.chance(f.loss)) { this.drop(fi, ti, false, bytes, tag, 0); return; }
      const copies = f.dup > 0 && this.rng.chance(f.dup) ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        const delay = f.dspan > 0 ? f.dmin + this.rng.float() * f.dspan : f.dmin;
        this.q.schedule(now + delay + this.procDelay[ti]!, this, EV_DELIVER, this.record(fi, ti, false, bytes, tag));
      }
      return;
    }
    if (this.group[fi] !== this.group[ti] || this.up[ti] === 0 || this.handlers[ti] === null) {
      // Connect fails: counted now, reported to the sender after the connect timeout.
      this.drop(fi, ti, true, bytes, tag, this.handlers[ti] === null ? 3 : this.group[fi] !== this.group[ti] ? 1 : 2);
      this.q.schedule(now + this.tcpTimeout, this, EV_TCP_ERROR, this.record(fi, ti, true, null, tag));
      return;
    }
    const pair = fi * MAX_NODES + ti;
    let at = now + (f.dspan > 0 ? f.dmin + this.rng.float() * f.dspan : f.dmin) + this.procDelay[ti]!;
    const last = this.lastTcp.get(pair);
    if (last !== undefined && last > at) at = last; // in order per pair; equal times keep send order
    this.lastTcp.set(pair, at);
    this.q.schedule(at, this, EV_DELIVER, this.record(fi, ti, true, bytes, tag));
  }

  /** @internal EventQueue dispatch. */
  handleEvent(kind: number, arg: number): void {
    const m = arg;
    const fi = this.mFrom[m]!, ti = this.mTo[m]!, tcp = this.mTcp[m] === 1, tag = this.mTag[m]!;
    const bytes = this.mBytes[m]!;
    const senderSame = this.up[fi] === 1 && this.epoch[fi] === this.mFromEpoch[m];
    const receiverSame = this.epoch[ti] === this.mToEpoch[m];
    this.freeRecord(m);
    if (kind === EV_TCP_ERROR) {
      if (senderSame) this.fireTcpError(fi, ti, tag); // a crashed/restarted sender forgot the attempt
      return;
    }
    const h = this.handlers[ti];
    let reason = -1;
    if (h === null || h === undefined) reason = 3;
    else if (this.up[ti] === 0) reason = 2;
    else if (tcp && this.group[fi] !== this.group[ti]) reason = 1;
    else if (tcp && (!receiverSame || !senderSame)) reason = 4;
    if (reason >= 0) {
      this.drop(fi, ti, tcp, bytes, tag, reason);
      if (tcp && senderSame) this.fireTcpError(fi, ti, tag);
      return;
    }
    this.st[ti * 5 + 2]++;
    this.st[ti * 5 + 3] += bytes.length;
    if (this.tracer !== null) this.trace('deliver', fi, ti, tcp, bytes, tag, null);
    h!(this.names[fi]!, tcp ? 'tcp' : 'udp', bytes, tag);
  }

  // ---- internals ----

  private fireTcpError(fi: number, ti: number, tag: number): void {
    if (this.tracer !== null) this.trace('tcp-error', fi, ti, true, null, tag, null);
    const h = this.tcpErrHandlers[fi];
    if (h !== null && h !== undefined) h(this.names[ti]!, tag);
  }

  private drop(fi: number, ti: number, tcp: boolean, bytes: Uint8Array | null, tag: number, reason: number): void {
    this.st[fi * 5 + 4]++;
    this.dropsByReason[reason]++;
    if (this.tracer !== null) this.trace('drop', fi, ti, tcp, bytes, tag, DROP_REASONS[reason]!);
  }

  private trace(event: TraceEvent['event'], fi: number, ti: number, tcp: boolean, bytes: Uint8Array | null, tag: number, reason: DropReason | null): void {
    this.tracer!({ event, time: this.q.now, from: this.names[fi]!, to: this.names[ti]!, transport: tcp ? 'tcp' : 'udp', bytes, tag, reason });
  }

  private known(addr: string, where: string): number {
    const i = this.index.get(addr);
    if (i === undefined) throw new SimError('VXM_ERR_SIM_ADDR', `${where}: unknown address ${addr}; attach it first`);
    return i;
  }

  /** Dense index for addr, created (not attached, down) on first sight. */
  private idx(addr: string): number {
    let i = this.index.get(addr);
    if (i !== undefined) return i;
    i = this.n++;
    if (i >= MAX_NODES) throw new SimError('VXM_ERR_SIM_CONFIG', `SimNetwork supports at most ${MAX_NODES} addresses`);
    if (i === this.ncap) this.growNodes();
    this.index.set(addr, i);
    this.names.push(addr);
    this.handlers.push(null);
    this.tcpErrHandlers.push(null);
    return i;
  }

  private growNodes(): void {
    const cap = this.ncap * 2;
    const up = new Uint8Array(cap); up.set(this.up); this.up = up;
    const ep = new Uint32Array(cap); ep.set(this.epoch); this.epoch = ep;
    const g = new Int32Array(cap); g.set(this.group); this.group = g;
    const pd = new Float64Array(cap); pd.set(this.procDelay); this.procDelay = pd;
    const st = new Float64Array(cap * 5); st.set(this.st); this.st = st;
    this.ncap = cap;
  }

  private record(fi: number, ti: number, tcp: boolean, bytes: Uint8Array | null, tag: number): number {
    let m: number;
    if (this.mFreeTop > 0) m = this.mFree[--this.mFreeTop]!;
    else {
      if (this.mFresh === this.mcap) this.growRecords();
      m = this.mFresh++;
    }
    this.mFrom[m] = fi;
    this.mTo[m] = ti;
    this.mTcp[m] = tcp ? 1 : 0;
    this.mFromEpoch[m] = this.epoch[fi]!;
    this.mToEpoch[m] = this.epoch[ti]!;
    this.mTag[m] = tag;
    this.mBytes[m] = bytes;
    return m;
  }

  private freeRecord(m: number): void {
    this.mBytes[m] = null;
    this.mFree[this.mFreeTop++] = m;
  }

  private growRecords(): void {
    const cap = this.mcap * 2;
    const i32 = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a); return b; };
    const u32 = (a: Uint32Array) => { const b = new Uint32Array(cap); b.set(a); return b; };
    this.mFrom = i32(this.mFrom);
    this.mTo = i32(this.mTo);
    const t = new Uint8Array(cap); t.set(this.mTcp); this.mTcp = t;
    this.mFromEpoch = u32(this.mFromEpoch);
    this.mToEpoch = u32(this.mToEpoch);
    const tg = new Float64Array(cap); tg.set(this.mTag); this.mTag = tg;
    for (let i = this.mcap; i < cap; i++) this.mBytes.push(null);
    this.mFree = i32(this.mFree);
    this.mcap = cap;
  }
}
