// The SWIM + Lifeguard membership core: a pure, single-threaded state machine in the shape of
// etcd-io/raft's RawNode. No sockets, clocks, timers or Math.random: time is the `now`
// argument (ms, monotonic), randomness comes from the injected SwimRng, bytes go in through
// step() and come out through ready(). The driver (sockets, timers) and the simulator own I/O.
//
// References: "SWIM: Scalable Weakly-consistent Infection-style Process Group Membership
// Protocol" (Das, Gupta, Motivala 2002), "Lifeguard: Local Health Awareness for More Accurate
// Failure Detection" (Dadgar, Phillips, Currey 2018), hashicorp/memberlist state.go.
//
// Contracts:
// - tick(now) must be called at least by nextDeadline(); calling it more often is harmless.
// - `now` never decreases across calls.
// - ready() returns every message and event produced since the last advance(); the driver
//   sends the messages (in order), then calls advance().
// - TCP: an Outbound with `stream` is a request the core opened; the driver delivers the
//   answer as an Inbound with the same `stream`, or calls tcpFailed(stream). An Inbound
//   request (ping, push-pull without the reply flag) carries the driver's id for that
//   connection in `stream`; the core answers with an Outbound whose `replyTo` is that id.
//   Requests and replies are told apart by message kind, so the two id spaces may overlap.
// - Per-tick work is O(1) amortised in the number of members except for the (small) sets of
//   suspects, in-flight relays and in-flight TCP exchanges.

import { VxmeshError } from '../../errors.js';
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcast-queue.js';
import {
  decodePacket, encodeMessage, encodePacketFromFramed, MAX_PACKET_MESSAGES, PACKET_HEADER_BYTES, str8Fits,
  type AliveMsg, type DeadMsg, type PushNode, type PushPullMsg, type SuspectMsg, type SwimMessage, type UserMsg,
} from './codec.js';
import { pushPullScaleMs, resolveConfig, retransmitLimit, suspicionTimeoutMs, type SwimConfig } from './config.js';
import { bytesEqual, cloneMeta, decodeMeta, encodeMeta, type NodeMeta } from './meta.js';
import { Suspicion } from './suspicion.js';

export interface SwimRng { next(): number } // uint32; the simulator passes a seeded generator
export type Transport = 'udp' | 'tcp';
export interface Outbound {
  /** address "host:port" */
  to: string;
  transport: Transport;
  bytes: Uint8Array;
  /** tcp: a request the core opened; its response comes back as an Inbound with the same stream */
  stream?: number;
  /** tcp: answer to the inbound request with this stream id, on the same connection */
  replyTo?: number;
}
export interface Inbound { from: string; transport: Transport; bytes: Uint8Array; stream?: number }
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';
export interface MemberInfo { name: string; addr: string; incarnation: number; state: MemberState; meta: NodeMeta }
export type MemberEvent = { type: 'join' | 'update' | 'suspect' | 'alive' | 'dead' | 'left' | 'reaped'; member: MemberInfo; at: number };
export interface SwimReady { messages: Outbound[]; events: MemberEvent[] }

/** User data hooks (the endpoint tables plug in here). */
export interface SwimDelegate {
  /** Included in push-pull (join: the exchange is part of a join). */
  localState(join: boolean): Uint8Array;
  mergeRemoteState(now: number, from: string, state: Uint8Array, join: boolean): void;
  /** A user broadcast arrived (first time this (key, version) was seen); `from` is its origin node. */
  notifyUser(now: number, from: string, payload: Uint8Array): void;
}

/** An API argument the core cannot use (name too long, payload too large for a packet). */
export class SwimArgumentError extends VxmeshError {
  constructor(message: string) {
    super('VXM_ERR_SWIM_ARGUMENT', message);
    this.name = 'SwimArgumentError';
  }
}

/** Precedence of states at equal incarnation: a later state in this list wins. */
const STATE_RANK: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };

/** Does the claim (inc, state) supersede what we hold? Higher incarnation, then state rank. */
export function supersedes(inc: number, state: MemberState, curInc: number, curState: MemberState): boolean {
  return inc > curInc || (inc === curInc && STATE_RANK[state] > STATE_RANK[curState]);
}

interface Member {
  name: string;
  addr: string;
  incarnation: number;
  state: MemberState;
  meta: NodeMeta;
  metaBytes: Uint8Array;
  stateChange: number;
  suspicion: Suspicion | undefined;
  reaped: boolean;
}

interface Probe {
  seq: number;
  target: Member;
  start: number;
  ackDeadline: number;
  end: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
  tcpStream: number;
}

interface Relay { origin: string; origSeq: number; deadline: number; nack: boolean }
interface Stream { kind: 'ping' | 'push-pull'; deadline: number; join: boolean; to: string }

const memberKey = (name: string): string => 'm:' + name;
const userKey = (key: string): string => 'u:' + key;

export class SwimCore {
  readonly counters: Record<string, number> = {
    packets_in: 0, packets_out: 0, bytes_in: 0, bytes_out: 0, msgs_in: 0, probes: 0, probe_acks: 0,
    probe_failures: 0, acks_sent: 0, indirect_probes: 0, relayed_acks: 0, nacks_sent: 0, nacks_received: 0,
    tcp_probes: 0, tcp_failed: 0, buddy_suspects: 0, suspects_raised: 0, suspicion_timeouts: 0, refutes: 0,
    gossip_packets: 0, pushpull_started: 0, pushpull_served: 0, pushpull_completed: 0, pushpull_failed: 0,
    pushpull_deferred: 0, pushpull_dropped: 0, user_received: 0, user_duplicate: 0, reaped: 0,
  };

  private readonly cfg: SwimConfig;
  private readonly rng: SwimRng;
  private readonly delegate: SwimDelegate | undefined;
  private readonly self: Member;
  private readonly byName = new Map<string, Member>();
  /** Members other than self in shuffled probe order (reaped entries compacted at reshuffle). */
  private probeList: Member[] = [];
  private probeIdx = 0;
  private readonly suspects = new Set<Member>();
  private readonly reapQueue: { m: Member; at: number }[] = [];
  private reapHead = 0;
  private readonly queue = new BroadcastQueue();
  private readonly awareness: Awareness;
  private seq = 0;
  private probe: Probe | undefined;
  private readonly relays = new Map<number, Relay>();
  private readonly streams = new Map<number, Stream>();
  private nextStreamId = 1;
  private pushPullOutstanding = 0;
  private readonly deferredJoins: string[] = [];
  private nextProbeAt: number;
  private nextGossipAt: number;
  private nextPushPullAt: number;
  private leaving = false;
  /** Members (self included) in state alive, kept by setState so numAlive() is O(1). */
  private aliveCount = 1;
  private leaveDone = false;
  private userClock = 0;
  /** Newest version seen per user key; Map order = least recently updated first (pruned from the front). */
  private readonly userSeen = new Map<string, { version: number; origin: string; at: number }>();
  private now: number;
  private msgs: Outbound[] = [];
  private events: MemberEvent[] = [];
  private readyMsgs = 0;
  private readyEvents = 0;

  constructor(opts: { name: string; addr: string; meta: NodeMeta; config?: Partial<SwimConfig>; rng: SwimRng; delegate?: SwimDelegate; now: number }) {
    this.cfg = resolveConfig(opts.config);
    if (opts.name === '' || !str8Fits(opts.name)) throw new SwimArgumentError('create swim core: name must be 1..255 bytes of UTF-8');
    if (!str8Fits(opts.addr)) throw new SwimArgumentError('create swim core: addr must be at most 255 bytes');
    this.rng = opts.rng;
    this.delegate = opts.delegate;
    this.now = opts.now;
    this.awareness = new Awareness(this.cfg.awarenessMaxMultiplier);
    const metaBytes = encodeMeta(opts.meta, this.cfg.metaMaxBytes);
    this.self = {
      name: opts.name, addr: opts.addr, incarnation: 1, state: 'alive', meta: cloneMeta(opts.meta), metaBytes,
      stateChange: opts.now, suspicion: undefined, reaped: false,
    };
    this.byName.set(this.self.name, this.self);
    // Stagger the periodic work so a cluster started at once does not fire in lock-step.
    this.nextProbeAt = opts.now + this.randInt(this.cfg.probeIntervalMs);
    this.nextGossipAt = opts.now + this.randInt(this.cfg.gossipIntervalMs);
    this.nextPushPullAt = opts.now + (this.cfg.pushPullIntervalMs > 0 ? this.randInt(this.cfg.pushPullIntervalMs) : 0);
    this.queueAlive(this.self);
  }

  // ---------------------------------------------------------------- public API

  /** Push-pull (join=true) with each seed address; beyond maxConcurrentPushPull they wait. */
  join(now: number, seeds: string[]): void {
    this.now = now;
    for (const s of seeds) {
      if (s === this.self.addr) continue;
      this.startPushPull(now, s, true);
    }
  }

  /** Broadcast that we leave; leaveComplete turns true once that message was sent enough. */
  leave(now: number): void {
    this.now = now;
    if (this.leaving) return;
    this.leaving = true;
    this.probe = undefined;
    const s = this.self;
    s.state = 'left';
    s.stateChange = now;
    this.aliveCount--;
    const msg: DeadMsg = { type: 'dead', incarnation: s.incarnation, node: s.name, from: s.name };
    if (!this.hasLivePeer()) {
      this.leaveDone = true;
      return;
    }
    this.queue.queue(memberKey(s.name), encodeMessage(msg), () => {
      this.leaveDone = true;
    });
  }

  get leaveComplete(): boolean {
    return this.leaveDone;
  }

  /** New metadata: bumps our incarnation and broadcasts alive. Throws SwimMetaError if too large. */
  updateMeta(now: number, meta: NodeMeta): void {
    this.now = now;
    const bytes = encodeMeta(meta, this.cfg.metaMaxBytes);
    this.self.meta = cloneMeta(meta);
    this.self.metaBytes = bytes;
    this.self.incarnation++;
    this.queueAlive(this.self);
  }

  /**
   * Disseminate `payload` under `key` cluster-wide. A newer broadcast with the same key
   * (ordered by a Lamport version, then origin name) supersedes older ones in every queue.
   * Receivers re-gossip it (epidemic spread) and call delegate.notifyUser once per version.
   */
  broadcastUser(key: string, payload: Uint8Array): void {
    if (!str8Fits(key)) throw new SwimArgumentError('broadcast user data: key must be at most 255 bytes');
    this.userClock++;
    const msg: UserMsg = { type: 'user', origin: this.self.name, key, version: this.userClock, payload: payload.slice() };
    const framed = encodeMessage(msg);
    if (framed.length + PACKET_HEADER_BYTES > this.cfg.udpBudget) {
      throw new SwimArgumentError(`broadcast user data: ${payload.length} bytes do not fit udpBudget=${this.cfg.udpBudget}, send less per key`);
    }
    this.userSeen.delete(key);
    this.userSeen.set(key, { version: msg.version, origin: msg.origin, at: this.now });
    this.queue.queue(userKey(key), framed);
  }

  tick(now: number): void {
    this.now = now;
    const p = this.probe;
    if (p !== undefined) {
      if (!p.indirectSent && now >= p.ackDeadline) this.probeIndirect(now, p);
      if (now >= p.end) this.probeFailed(now, p);
    }
    if (this.probe === undefined && !this.leaving && now >= this.nextProbeAt) this.startProbe(now);
    if (this.relays.size > 0) this.expireRelays(now);
    if (this.streams.size > 0) this.expireStreams(now);
    if (this.suspects.size > 0) this.expireSuspicions(now);
    this.reap(now);
    this.pruneUserSeen(now);
    if (now >= this.nextGossipAt) {
      this.nextGossipAt = now + this.cfg.gossipIntervalMs;
      if (this.queue.size > 0) this.gossip(now);
    }
    if (this.cfg.pushPullIntervalMs > 0 && !this.leaving && now >= this.nextPushPullAt) {
      this.nextPushPullAt = now + pushPullScaleMs(this.cfg.pushPullIntervalMs, this.byName.size);
      const t = this.pickRandom(1, (m) => m.state === 'alive');
      if (t.length > 0) this.startPushPull(now, t[0]!.addr, false);
    }
  }

  nextDeadline(): number {
    let d = Infinity;
    const p = this.probe;
    if (p !== undefined) {
      if (!p.indirectSent) d = Math.min(d, p.ackDeadline);
      d = Math.min(d, p.end);
    } else if (!this.leaving) {
      d = Math.min(d, this.nextProbeAt);
    }
    if (this.queue.size > 0) d = Math.min(d, this.nextGossipAt);
    if (this.cfg.pushPullIntervalMs > 0 && !this.leaving) d = Math.min(d, this.nextPushPullAt);
    for (const r of this.relays.values()) d = Math.min(d, r.deadline);
    for (const s of this.streams.values()) d = Math.min(d, s.deadline);
    for (const m of this.suspects) d = Math.min(d, m.suspicion!.deadline);
    const head = this.reapQueue[this.reapHead];
    if (head !== undefined) d = Math.min(d, head.at + this.cfg.deadReapMs);
    return d;
  }

  step(now: number, msg: Inbound): void {
    this.now = now;
    this.counters['packets_in']!++;
    this.counters['bytes_in']! += msg.bytes.length;
    const res = decodePacket(msg.bytes);
    if (!res.ok) {
      this.count('drop_' + res.reason);
      return;
    }
    if (res.unknownTypes > 0) this.count('unknown_type', res.unknownTypes);
    for (const m of res.msgs) {
      this.counters['msgs_in']!++;
      this.handle(now, m, msg);
    }
  }

  tcpFailed(now: number, stream: number): void {
    this.now = now;
    const s = this.streams.get(stream);
    if (s === undefined) return;
    this.streams.delete(stream);
    this.streamEnded(now, s, true);
  }

  hasReady(): boolean {
    return this.msgs.length > 0 || this.events.length > 0;
  }

  ready(): SwimReady {
    this.readyMsgs = this.msgs.length;
    this.readyEvents = this.events.length;
    return { messages: this.msgs.slice(), events: this.events.slice() };
  }

  advance(): void {
    this.msgs.splice(0, this.readyMsgs);
    this.events.splice(0, this.readyEvents);
    this.readyMsgs = 0;
    this.readyEvents = 0;
  }

  members(): MemberInfo[] {
    const out: MemberInfo[] = [];
    for (const m of this.byName.values()) out.push(info(m));
    return out;
  }

  member(name: string): MemberInfo | undefined {
    const m = this.byName.get(name);
    return m === undefined ? undefined : info(m);
  }

  /** Members (self included) currently alive. */
  numAlive(): number {
    return this.aliveCount;
  }

  healthScore(): number {
    return this.awareness.healthScore;
  }

  // ---------------------------------------------------------------- probing (SWIM 3.1, Lifeguard 4)

  private startProbe(now: number): void {
    const target = this.nextProbeTarget();
    if (target === undefined) {
      this.nextProbeAt = now + this.cfg.probeIntervalMs;
      return;
    }
    const interval = this.scaled(this.cfg.probeIntervalMs);
    const timeout = this.scaled(this.cfg.probeTimeoutMs);
    const seq = this.nextSeq();
    const p: Probe = {
      seq, target, start: now, ackDeadline: now + timeout, end: now + interval,
      indirectSent: false, expectedNacks: 0, nacks: 0, tcpStream: 0,
    };
    this.probe = p;
    this.nextProbeAt = p.end;
    this.counters['probes']!++;
    const first: SwimMessage[] = [{ type: 'ping', seq, target: target.name, source: this.self.name }];
    let exclude: string | undefined;
    if (this.cfg.lifeguard && target.state === 'suspect') {
      // Buddy system (Lifeguard 4.3): tell a suspect it is suspected so it can refute now.
      first.push({ type: 'suspect', incarnation: target.incarnation, node: target.name, from: this.self.name });
      exclude = memberKey(target.name);
      this.counters['buddy_suspects']!++;
    }
    this.sendUdp(target.addr, first, exclude);
  }

  /** Direct ack missed: ask k members to probe (with nack, Lifeguard) and try TCP. */
  private probeIndirect(now: number, p: Probe): void {
    p.indirectSent = true;
    const target = p.target;
    const relays = this.pickRandom(this.cfg.indirectChecks, (m) => m !== target && m.state === 'alive');
    const wantNack = this.cfg.lifeguard;
    for (const r of relays) {
      this.sendUdp(r.addr, [{ type: 'indirect-ping', seq: p.seq, target: target.name, targetAddr: target.addr, nack: wantNack, source: this.self.name }]);
    }
    this.counters['indirect_probes']! += relays.length;
    if (wantNack) p.expectedNacks = relays.length;
    if (this.cfg.tcpFallback) {
      const id = this.openStream({ kind: 'ping', deadline: p.end, join: false, to: target.addr });
      p.tcpStream = id;
      this.counters['tcp_probes']!++;
      this.sendTcp(target.addr, [{ type: 'ping', seq: p.seq, target: target.name, source: this.self.name }], id, undefined);
    }
  }

  private probeAcked(p: Probe): void {
    this.counters['probe_acks']!++;
    if (this.cfg.lifeguard) this.awareness.applyDelta(-1);
    if (p.tcpStream !== 0) this.streams.delete(p.tcpStream);
    this.probe = undefined;
  }

  private probeFailed(now: number, p: Probe): void {
    this.probe = undefined;
    if (p.tcpStream !== 0) this.streams.delete(p.tcpStream);
    this.counters['probe_failures']!++;
    if (this.cfg.lifeguard) {
      // Lifeguard 4.1 (memberlist probeNode): missing nacks from healthy relays point at us;
      // without relays any failure counts against our own health.
      const delta = p.expectedNacks > 0 ? Math.max(0, p.expectedNacks - p.nacks) : 1;
      this.awareness.applyDelta(delta);
    }
    const t = p.target;
    if (this.byName.get(t.name) !== t) return;
    this.suspectNode(now, { type: 'suspect', incarnation: t.incarnation, node: t.name, from: this.self.name });
  }

  private nextProbeTarget(): Member | undefined {
    for (let tries = 0; tries <= this.probeList.length; tries++) {
      if (this.probeIdx >= this.probeList.length) {
        this.reshuffle();
        if (this.probeList.length === 0) return undefined;
      }
      const m = this.probeList[this.probeIdx++]!;
      if (!m.reaped && (m.state === 'alive' || m.state === 'suspect')) return m;
    }
    return undefined;
  }

  /** New pass: drop reaped members and shuffle (Fisher-Yates), O(N) once per N probes. */
  private reshuffle(): void {
    const l = this.probeList.filter((m) => !m.reaped);
    for (let i = l.length - 1; i > 0; i--) {
      const j = this.randInt(i + 1);
      const t = l[i]!;
      l[i] = l[j]!;
      l[j] = t;
    }
    this.probeList = l;
    this.probeIdx = 0;
  }

  private expireRelays(now: number): void {
    for (const [seq, r] of this.relays) {
      if (now < r.deadline) continue;
      this.relays.delete(seq);
      if (r.nack) {
        this.counters['nacks_sent']!++;
        this.sendUdp(r.origin, [{ type: 'nack', seq: r.origSeq }]);
      }
    }
  }

  // ---------------------------------------------------------------- inbound

  private handle(now: number, m: SwimMessage, in_: Inbound): void {
    switch (m.type) {
      case 'ping': {
        if (m.target !== this.self.name) {
          this.count('drop_ping_wrong_target');
          return;
        }
        this.counters['acks_sent']!++;
        const reply: SwimMessage[] = [{ type: 'ack', seq: m.seq }];
        const src = this.byName.get(m.source);
        if (src !== undefined && src !== this.self && src.state === 'dead') {
          // A member we hold dead is probing us: tell it, so it refutes now instead of waiting
          // for push-pull (the reverse of the buddy system; not in memberlist).
          reply.push({ type: 'dead', incarnation: src.incarnation, node: src.name, from: this.self.name });
          this.count('dead_pinged');
        }
        if (in_.transport === 'tcp') {
          if (in_.stream === undefined) return this.count('drop_tcp_no_stream');
          this.sendTcp(in_.from, reply, undefined, in_.stream);
        } else {
          this.sendUdp(in_.from, reply);
        }
        return;
      }
      case 'indirect-ping': {
        if (m.target === this.self.name) {
          // asked to probe ourselves: we are evidently up
          this.sendUdp(in_.from, [{ type: 'ack', seq: m.seq }]);
          return;
        }
        const seq = this.nextSeq();
        // The originator gives the indirect phase (probeInterval - probeTimeout) ms; our nack
        // must land before that ends, so wait a little less than probeTimeout for the target.
        const wait = Math.floor((this.cfg.probeTimeoutMs * 4) / 5);
        this.relays.set(seq, { origin: in_.from, origSeq: m.seq, deadline: now + wait, nack: m.nack && this.cfg.lifeguard });
        this.sendUdp(m.targetAddr, [{ type: 'ping', seq, target: m.target, source: this.self.name }]);
        return;
      }
      case 'ack': {
        if (in_.transport === 'tcp' && in_.stream !== undefined) this.streams.delete(in_.stream);
        const p = this.probe;
        if (p !== undefined && p.seq === m.seq) return this.probeAcked(p);
        const r = this.relays.get(m.seq);
        if (r !== undefined) {
          this.relays.delete(m.seq);
          this.counters['relayed_acks']!++;
          this.sendUdp(r.origin, [{ type: 'ack', seq: r.origSeq }]);
          return;
        }
        this.count('ack_stale');
        return;
      }
      case 'nack': {
        const p = this.probe;
        if (p !== undefined && p.seq === m.seq) {
          p.nacks++;
          this.counters['nacks_received']!++;
        } else {
          this.count('nack_stale');
        }
        return;
      }
      case 'alive':
        return this.aliveNode(now, m);
      case 'suspect':
        return this.suspectNode(now, m);
      case 'dead':
        return this.deadNode(now, m);
      case 'push-pull':
        return this.handlePushPull(now, m, in_);
      case 'user':
        return this.handleUser(now, m);
    }
  }

  // ---------------------------------------------------------------- state rules (memberlist state.go)

  /** Alive wins only with a strictly higher incarnation (alive has the lowest rank). */
  private aliveNode(now: number, a: AliveMsg): void {
    const self = this.self;
    if (a.node === self.name) {
      if (this.leaving || a.incarnation < self.incarnation) return;
      if (a.incarnation === self.incarnation && a.addr === self.addr && bytesEqual(a.meta, self.metaBytes)) return;
      // A conflicting or newer alive about us (a previous life of this node): out-bid it.
      this.refute(a.incarnation);
      return;
    }
    let m = this.byName.get(a.node);
    if (m !== undefined && a.incarnation <= m.incarnation) return;
    const dm = decodeMeta(a.meta);
    if (!dm.ok) return this.count('drop_bad_meta');
    if (m === undefined) {
      m = {
        name: a.node, addr: a.addr, incarnation: a.incarnation, state: 'alive', meta: dm.meta, metaBytes: a.meta,
        stateChange: now, suspicion: undefined, reaped: false,
      };
      this.byName.set(m.name, m);
      this.aliveCount++;
      this.insertProbeList(m);
      this.emit('join', m);
      this.queueAlive(m);
      return;
    }
    const prev = m.state;
    const changed = m.addr !== a.addr || !bytesEqual(m.metaBytes, a.meta);
    m.addr = a.addr;
    m.meta = dm.meta;
    m.metaBytes = a.meta;
    m.incarnation = a.incarnation;
    this.setState(now, m, 'alive');
    if (prev === 'dead' || prev === 'left') this.emit('join', m);
    else if (prev === 'suspect') this.emit(changed ? 'update' : 'alive', m);
    else if (changed) this.emit('update', m);
    this.queueAlive(m);
  }

  private suspectNode(now: number, s: SuspectMsg): void {
    const m = this.byName.get(s.node);
    if (m === undefined) return;
    if (m === this.self) {
      if (!this.leaving) this.accused(s.incarnation);
      return;
    }
    if (m.state === 'suspect' && s.incarnation >= m.incarnation) {
      // Another accuser: with Lifeguard an independent confirmation shortens the timeout.
      m.incarnation = s.incarnation;
      if (m.suspicion!.confirm(s.from)) this.queueFramed(m.name, s);
      return;
    }
    if (!supersedes(s.incarnation, 'suspect', m.incarnation, m.state)) return;
    m.incarnation = s.incarnation;
    this.setState(now, m, 'suspect');
    const n = this.byName.size;
    // k expected confirmations; none if there are not enough other members to give them
    // (n - 2 excludes us and the suspect).
    let k = this.cfg.lifeguard ? this.cfg.indirectChecks : 0;
    if (n - 2 < k) k = 0;
    const min = suspicionTimeoutMs(this.cfg.suspicionMult, n, this.cfg.probeIntervalMs);
    const max = this.cfg.lifeguard ? this.cfg.suspicionMaxTimeoutMult * min : min;
    m.suspicion = new Suspicion(now, k, min, max, s.from);
    this.suspects.add(m);
    this.counters['suspects_raised']!++;
    this.emit('suspect', m);
    this.queueFramed(m.name, s);
  }

  private deadNode(now: number, d: DeadMsg): void {
    const m = this.byName.get(d.node);
    if (m === undefined) return;
    const left = d.from === d.node;
    if (m === this.self) {
      if (!this.leaving) this.accused(d.incarnation);
      return;
    }
    const st: MemberState = left ? 'left' : 'dead';
    if (!supersedes(d.incarnation, st, m.incarnation, m.state)) return;
    m.incarnation = d.incarnation;
    this.setState(now, m, st);
    this.emit(st, m);
    this.queueFramed(m.name, d);
  }

  /**
   * Someone says we are suspect/dead at `inc`. At or above our incarnation: refute (SWIM 4.2).
   * Below it: we already refuted, but the sender missed that alive (it was sent enough times
   * while it could not hear us), so re-queue our current alive without bumping (not in
   * memberlist, which leaves this to push-pull; it rides on the ack of a buddy ping).
   */
  private accused(inc: number): void {
    if (inc >= this.self.incarnation) return this.refute(inc);
    this.counters['stale_accusations'] = (this.counters['stale_accusations'] ?? 0) + 1;
    if (!this.queue.has(memberKey(this.self.name))) this.queueAlive(this.self);
  }

  private refute(accusedInc: number): void {
    const s = this.self;
    s.incarnation = Math.max(s.incarnation, accusedInc) + 1;
    this.counters['refutes']!++;
    // Lifeguard 4.1: having to refute means others could not hear us in time.
    if (this.cfg.lifeguard) this.awareness.applyDelta(1);
    this.queueAlive(s);
  }

  private setState(now: number, m: Member, st: MemberState): void {
    if (m.state === 'alive' && st !== 'alive') this.aliveCount--;
    else if (m.state !== 'alive' && st === 'alive') this.aliveCount++;
    m.state = st;
    m.stateChange = now;
    if (st !== 'suspect') {
      m.suspicion = undefined;
      this.suspects.delete(m);
    }
    if (st === 'dead' || st === 'left') this.reapQueue.push({ m, at: now });
  }

  private expireSuspicions(now: number): void {
    let expired: Member[] | undefined;
    for (const m of this.suspects) if (now >= m.suspicion!.deadline) (expired ??= []).push(m);
    if (expired === undefined) return;
    for (const m of expired) {
      this.counters['suspicion_timeouts']!++;
      this.deadNode(now, { type: 'dead', incarnation: m.incarnation, node: m.name, from: this.self.name });
    }
  }

  /** Forget members dead/left for deadReapMs. The queue is in time order; stale entries are skipped. */
  private reap(now: number): void {
    const q = this.reapQueue;
    while (this.reapHead < q.length) {
      const e = q[this.reapHead]!;
      if (now - e.at < this.cfg.deadReapMs) break;
      this.reapHead++;
      const m = e.m;
      if (m.reaped || m.stateChange !== e.at || (m.state !== 'dead' && m.state !== 'left')) continue;
      if (this.byName.get(m.name) !== m) continue;
      m.reaped = true;
      this.byName.delete(m.name);
      this.counters['reaped']!++;
      this.emit('reaped', m);
    }
    if (this.reapHead > 256 && this.reapHead * 2 > q.length) {
      q.splice(0, this.reapHead);
      this.reapHead = 0;
    }
  }

  // ---------------------------------------------------------------- dissemination

  private gossip(now: number): void {
    const deadline = now - this.cfg.gossipToTheDeadMs;
    const targets = this.pickRandom(this.cfg.gossipNodes, (m) =>
      m.state === 'alive' || m.state === 'suspect' || m.stateChange > deadline);
    const limit = this.limit();
    for (const t of targets) {
      const framed: Uint8Array[] = [];
      this.queue.fill(framed, this.cfg.udpBudget - PACKET_HEADER_BYTES, limit, MAX_PACKET_MESSAGES);
      if (framed.length === 0) return;
      this.counters['gossip_packets']!++;
      this.pushOut({ to: t.addr, transport: 'udp', bytes: encodePacketFromFramed(framed) });
    }
  }

  /** Forgets user keys quiet for userSeenTtlMs (a bounded slice per tick, oldest first). */
  private pruneUserSeen(now: number): void {
    let budget = 256;
    for (const [k, v] of this.userSeen) {
      if (budget-- === 0 || now - v.at <= this.cfg.userSeenTtlMs) return;
      this.userSeen.delete(k);
      this.counters['user_keys_forgotten'] = (this.counters['user_keys_forgotten'] ?? 0) + 1;
    }
  }

  private handleUser(now: number, m: UserMsg): void {
    if (m.version > this.userClock) this.userClock = m.version;
    const seen = this.userSeen.get(m.key);
    if (seen !== undefined && (seen.version > m.version || (seen.version === m.version && seen.origin >= m.origin))) {
      this.counters['user_duplicate']!++;
      return;
    }
    this.userSeen.delete(m.key);
    this.userSeen.set(m.key, { version: m.version, origin: m.origin, at: now });
    this.counters['user_received']!++;
    this.queue.queue(userKey(m.key), encodeMessage(m));
    this.delegate?.notifyUser(now, m.origin, m.payload);
  }

  private queueAlive(m: Member): void {
    this.queueFramed(m.name, { type: 'alive', incarnation: m.incarnation, node: m.name, addr: m.addr, meta: m.metaBytes });
  }

  private queueFramed(name: string, msg: SwimMessage): void {
    this.queue.queue(memberKey(name), encodeMessage(msg));
  }

  private limit(): number {
    return retransmitLimit(this.cfg.retransmitMult, this.byName.size);
  }

  // ---------------------------------------------------------------- push-pull (anti-entropy over TCP)

  private startPushPull(now: number, addr: string, join: boolean): void {
    if (this.pushPullOutstanding >= this.cfg.maxConcurrentPushPull) {
      if (join) {
        this.deferredJoins.push(addr);
        this.counters['pushpull_deferred']!++;
      } else {
        this.counters['pushpull_dropped']!++;
      }
      return;
    }
    this.pushPullOutstanding++;
    this.counters['pushpull_started']!++;
    const id = this.openStream({ kind: 'push-pull', deadline: now + this.cfg.tcpTimeoutMs, join, to: addr });
    this.sendTcp(addr, [this.localState(join, false)], id, undefined);
  }

  private localState(join: boolean, reply: boolean): PushPullMsg {
    const nodes: PushNode[] = [];
    for (const m of this.byName.values()) {
      nodes.push({ name: m.name, addr: m.addr, incarnation: m.incarnation, state: m.state, meta: m.metaBytes });
    }
    const userState = this.delegate?.localState(join) ?? new Uint8Array(0);
    return { type: 'push-pull', source: this.self.name, join, reply, nodes, userState };
  }

  private handlePushPull(now: number, m: PushPullMsg, in_: Inbound): void {
    if (in_.transport !== 'tcp' || in_.stream === undefined) return this.count('drop_pushpull_not_tcp');
    if (!m.reply) {
      // Serve: answer with our state as it was before merging theirs (as memberlist does).
      this.counters['pushpull_served']!++;
      this.sendTcp(in_.from, [this.localState(m.join, true)], undefined, in_.stream);
      this.mergeRemote(now, m);
      return;
    }
    const s = this.streams.get(in_.stream);
    if (s === undefined || s.kind !== 'push-pull') return this.count('drop_pushpull_unexpected');
    this.streams.delete(in_.stream);
    this.counters['pushpull_completed']!++;
    this.mergeRemote(now, m);
    this.streamEnded(now, s, false);
  }

  /** Same precedence as gossip; a remote "dead" only makes us suspect (memberlist mergeState). */
  private mergeRemote(now: number, m: PushPullMsg): void {
    for (const n of m.nodes) {
      switch (n.state) {
        case 'alive':
          this.aliveNode(now, { type: 'alive', incarnation: n.incarnation, node: n.name, addr: n.addr, meta: n.meta });
          break;
        case 'left':
          this.deadNode(now, { type: 'dead', incarnation: n.incarnation, node: n.name, from: n.name });
          break;
        case 'dead':
        case 'suspect':
          this.suspectNode(now, { type: 'suspect', incarnation: n.incarnation, node: n.name, from: m.source });
          break;
      }
    }
    this.delegate?.mergeRemoteState(now, m.source, m.userState, m.join);
  }

  private openStream(s: Stream): number {
    const id = this.nextStreamId++;
    this.streams.set(id, s);
    return id;
  }

  private expireStreams(now: number): void {
    let expired: [number, Stream][] | undefined;
    for (const e of this.streams) if (now >= e[1].deadline) (expired ??= []).push(e);
    if (expired === undefined) return;
    for (const [id, s] of expired) {
      this.streams.delete(id);
      this.streamEnded(now, s, true);
    }
  }

  private streamEnded(now: number, s: Stream, failed: boolean): void {
    if (s.kind === 'ping') {
      if (failed) this.counters['tcp_failed']!++;
      return;
    }
    if (failed) this.counters['pushpull_failed']!++;
    this.pushPullOutstanding--;
    while (this.deferredJoins.length > 0 && this.pushPullOutstanding < this.cfg.maxConcurrentPushPull) {
      this.startPushPull(now, this.deferredJoins.shift()!, true);
    }
  }

  // ---------------------------------------------------------------- helpers

  /** A UDP packet: `first` then as many queued broadcasts as fit the budget. */
  private sendUdp(to: string, first: SwimMessage[], exclude?: string): void {
    const framed = first.map(encodeMessage);
    let used = PACKET_HEADER_BYTES;
    for (const f of framed) used += f.length;
    if (this.queue.size > 0) {
      this.queue.fill(framed, this.cfg.udpBudget - used, this.limit(), MAX_PACKET_MESSAGES - framed.length, exclude);
    }
    this.pushOut({ to, transport: 'udp', bytes: encodePacketFromFramed(framed) });
  }

  private sendTcp(to: string, msgs: SwimMessage[], stream: number | undefined, replyTo: number | undefined): void {
    const out: Outbound = { to, transport: 'tcp', bytes: encodePacketFromFramed(msgs.map(encodeMessage)) };
    if (stream !== undefined) out.stream = stream;
    if (replyTo !== undefined) out.replyTo = replyTo;
    this.pushOut(out);
  }

  private pushOut(o: Outbound): void {
    this.counters['packets_out']!++;
    this.counters['bytes_out']! += o.bytes.length;
    this.msgs.push(o);
  }

  private emit(type: MemberEvent['type'], m: Member): void {
    this.events.push({ type, member: info(m), at: this.now });
  }

  private count(k: string, n = 1): void {
    this.counters[k] = (this.counters[k] ?? 0) + n;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private scaled(ms: number): number {
    return this.cfg.lifeguard ? this.awareness.scale(ms) : ms;
  }

  private randInt(n: number): number {
    if (n <= 1) return 0;
    return Math.floor((this.rng.next() >>> 0) / 4294967296 * n);
  }

  private insertProbeList(m: Member): void {
    // memberlist: insert at a random position so a new member is probed within a pass
    const l = this.probeList;
    l.push(m);
    const j = this.randInt(l.length);
    const last = l.length - 1;
    l[last] = l[j]!;
    l[j] = m;
  }

  private hasLivePeer(): boolean {
    return this.pickRandom(1, (m) => m.state === 'alive' || m.state === 'suspect').length > 0;
  }

  /**
   * Up to k distinct random members other than self passing `ok`. Small lists are scanned;
   * large ones sampled with a bounded number of tries, so the cost is O(k), not O(N).
   */
  private pickRandom(k: number, ok: (m: Member) => boolean): Member[] {
    const l = this.probeList;
    const out: Member[] = [];
    if (k <= 0 || l.length === 0) return out;
    if (l.length <= 4 * k + 16) {
      const cand = l.filter((m) => !m.reaped && ok(m));
      for (let i = 0; i < k && i < cand.length; i++) {
        const j = i + this.randInt(cand.length - i);
        const t = cand[i]!;
        cand[i] = cand[j]!;
        cand[j] = t;
        out.push(cand[i]!);
      }
      return out;
    }
    const tries = 8 * k + 32;
    for (let t = 0; t < tries && out.length < k; t++) {
      const m = l[this.randInt(l.length)]!;
      if (m.reaped || !ok(m) || out.includes(m)) continue;
      out.push(m);
    }
    return out;
  }
}

function info(m: Member): MemberInfo {
  return { name: m.name, addr: m.addr, incarnation: m.incarnation, state: m.state, meta: cloneMeta(m.meta) };
}
