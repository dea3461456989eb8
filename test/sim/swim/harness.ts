// SWIM simulation harness: N SwimCores (each with GossipTables behind a TablesDelegate) on the
// kit's SimNetwork and EventQueue, in virtual time. A run is a pure function of `seed` and the
// calls made on the harness, so any run replays from its seed.
//
// How each core is driven (the same contract the real driver, driver/gossip-node.ts, follows):
// - Timers: every core has one pending timer event, at max(now, core.nextDeadline()). The timer
//   ticks the core (and
//   the tables), then re-arms. After any step the timer is moved earlier if the core's deadline
//   moved earlier; a timer that fires early is harmless (tick is idempotent before a deadline).
// - A slow node (SimNetwork.setProcessingDelay) gets its inbound messages late but its timers on
//   time: its receive path is backlogged while its probe timers still fire, so acks and
//   refutations reach it after its own deadlines passed. This is the case Lifeguard targets
//   (paper section 2 and 5: a member slow to process messages accuses healthy peers); memberlist
//   runs its packet handler and its probe/suspicion timers in separate goroutines, so the two
//   drift apart exactly this way under CPU starvation. (A node whose timers were late by the same
//   amount would see a consistent, merely shifted world and accuse no one.)
// - Messages: ready().messages go to SimNetwork.send in order, then advance(). Membership
//   events go to the TablesDelegate (dead/left fence the tables) and to the observer.
// - TCP streams ride in the kit's `tag`: a request the core opened travels with tag = +stream,
//   the receiver's core sees Inbound.stream = stream (the requester's id doubles as the
//   connection id: the core answers with replyTo = that id, statelessly). The answer travels
//   with tag = -replyTo, so the requester gets Inbound.stream = its own stream id. A TCP error
//   on a request (tag > 0) becomes core.tcpFailed(stream); on an answer (tag < 0) the replier
//   just loses it (a real server sees a reset and closes the connection).
// - Rejoin (serf's reconnect, which the real driver also does): every rejoinIntervalMs a node
//   push-pull joins each seed it does not hold alive. Without it, two halves of a partition
//   that reaped each other never meet again (memberlist alone does not reconnect either).
//
// Measurement: wall time spent inside core.step/tick/tcpFailed (which includes the tables work
// the delegate does synchronously) is summed with performance.now(); it never feeds back into
// the simulation, so it does not affect determinism.

import { performance } from 'node:perf_hooks';
import { SwimCore, type Inbound, type MemberEvent } from '../../../src/control/swim/core.js';
import type { SwimConfig } from '../../../src/control/swim/config.js';
import { GossipTables, type TableEvent } from '../../../src/control/swim/tables/gossip-tables.js';
import type { TablesConfigInput } from '../../../src/control/swim/tables/config.js';
import { TablesDelegate } from '../../../src/control/swim/tables/delegate.js';
import { EventQueue, type EventHandler } from '../kit/event-queue.js';
import { Rng } from '../kit/rng.js';
import { SimNetwork, type LinkFaults, type Transport } from '../kit/sim-network.js';
import { SimError } from '../kit/errors.js';

export interface SwimSimOptions {
  seed: number;
  n: number;
  /** Overrides of the memberlist LAN defaults for every core. */
  swim?: Partial<SwimConfig>;
  /** Default link faults. Default: no loss, one-way delay 0.2..2 ms (a LAN). */
  faults?: LinkFaults;
  /** How long a TCP connect to an unreachable peer takes to fail. Default 1000 ms. */
  tcpConnectTimeoutMs?: number;
  /** Seed node indices every node joins (and rejoins). Default: 3 nodes spread over the index range. */
  seeds?: number[];
  /** serf-style rejoin of seeds not held alive; 0 disables. Default 30 000 (serf ReconnectInterval). */
  rejoinIntervalMs?: number;
  /** Nodes join at uniform random times in [0, joinSpreadMs). Default 1000. */
  joinSpreadMs?: number;
  /** Extra GossipTables settings (self and epoch are set by the harness). */
  tables?: Partial<Omit<TablesConfigInput, 'self' | 'epoch'>>;
  onMemberEvent?: (node: number, ev: MemberEvent) => void;
  onTableEvent?: (node: number, ev: TableEvent) => void;
}

export interface SimNode {
  readonly index: number;
  readonly name: string;
  readonly addr: string;
  core: SwimCore;
  tables: GossipTables;
  delegate: TablesDelegate;
  up: boolean;
  /** Lives of this node (restarts + 1). */
  life: number;
  timerId: number;
  timerAt: number;
  lastRejoin: number;
}

export interface HarnessStats {
  steps: number;
  ticks: number;
  tcpFailed: number;
  /** ms of wall time inside core.step/tick/tcpFailed (incl. the delegate's synchronous tables work). */
  coreMs: number;
  /** Timers re-armed because nextDeadline() was not after `now` right after tick(now) (a core bug if > 0). */
  stuckDeadlines: number;
  udpMsgs: number;
  udpBytes: number;
  tcpMsgs: number;
  tcpBytes: number;
  /** TCP answers that could not be delivered (the requester went away). */
  replyLost: number;
}

const EV_TIMER = 0;
const EV_JOIN = 1;
const META = { role: 'worker', addrs: [] as string[], labels: {} as Record<string, string> };

export function nodeName(i: number): string {
  return `n${i}`;
}

export class SwimSim implements EventHandler {
  readonly q = new EventQueue();
  readonly rng: Rng;
  readonly net: SimNetwork;
  readonly nodes: SimNode[] = [];
  readonly stats: HarnessStats = {
    steps: 0, ticks: 0, tcpFailed: 0, coreMs: 0, stuckDeadlines: 0, udpMsgs: 0, udpBytes: 0, tcpMsgs: 0, tcpBytes: 0, replyLost: 0,
  };
  private readonly byAddr = new Map<string, SimNode>();
  private readonly seedIdx: number[];
  private readonly rejoinMs: number;

  constructor(readonly opts: SwimSimOptions) {
    if (!(Number.isInteger(opts.n) && opts.n >= 1)) throw new SimError('VXM_ERR_SIM_CONFIG', `SwimSim: n must be a positive integer, got ${opts.n}`);
    this.rng = new Rng(opts.seed);
    this.net = new SimNetwork(this.q, this.rng.fork('net'), opts.faults ?? { delayMs: { min: 0.2, max: 2 } }, {
      tcpConnectTimeoutMs: opts.tcpConnectTimeoutMs ?? 1000,
    });
    const n = opts.n;
    this.seedIdx = opts.seeds ?? [...new Set([0, Math.floor(n / 3), Math.floor((2 * n) / 3)])];
    for (const s of this.seedIdx) {
      if (!(Number.isInteger(s) && s >= 0 && s < n)) throw new SimError('VXM_ERR_SIM_CONFIG', `SwimSim: seed index ${s} is outside 0..${n - 1}`);
    }
    this.rejoinMs = opts.rejoinIntervalMs ?? 30_000;
    const spread = opts.joinSpreadMs ?? 1000;
    const joinRng = this.rng.fork('join');
    for (let i = 0; i < n; i++) {
      const name = nodeName(i);
      const node = { index: i, name, addr: `${name}:7946`, up: true, life: 1, timerId: -1, timerAt: Infinity, lastRejoin: 0 } as SimNode;
      this.nodes.push(node);
      this.byAddr.set(node.addr, node);
      this.boot(node);
      this.q.schedule(spread > 0 ? joinRng.float() * spread : 0, this, EV_JOIN, i);
    }
  }

  get now(): number {
    return this.q.now;
  }

  seeds(): readonly number[] {
    return this.seedIdx;
  }

  runUntil(t: number): void {
    this.q.runUntil(t);
  }

  /** Run until pred() holds, checking every `everyMs` of virtual time; true if it did by `limit`. */
  runUntilTrue(pred: () => boolean, limit: number, everyMs = 100): boolean {
    for (;;) {
      if (pred()) return true;
      if (this.q.now >= limit) return false;
      this.q.runUntil(Math.min(limit, this.q.now + everyMs));
    }
  }

  /** Every up node holds every up node alive and nothing else alive. */
  converged(): boolean {
    let up = 0;
    for (const nd of this.nodes) if (nd.up) up++;
    for (const nd of this.nodes) {
      if (!nd.up) continue;
      if (nd.core.numAlive() !== up) return false;
    }
    // numAlive counts matches; check identities only when the counts agree (cheap path first).
    for (const nd of this.nodes) {
      if (!nd.up) continue;
      for (const o of this.nodes) {
        if (o === nd || !o.up) continue;
        if (nd.core.member(o.name)?.state !== 'alive') return false;
      }
    }
    return true;
  }

  /** Run until converged(); throws with the seed if it does not happen by `limit`. */
  converge(limit: number): number {
    const t0 = this.q.now;
    if (!this.runUntilTrue(() => this.converged(), limit, 250)) {
      throw new SimError('VXM_ERR_SIM_TIME', `seed ${this.opts.seed}: membership did not converge by t=${limit} ms`);
    }
    return this.q.now - t0;
  }

  crash(i: number): void {
    const nd = this.nodes[i]!;
    if (!nd.up) return;
    nd.up = false;
    this.net.crash(nd.addr);
    if (nd.timerId >= 0) this.q.cancel(nd.timerId);
    nd.timerId = -1;
    nd.timerAt = Infinity;
  }

  /** A fresh process at the same address: new core, new tables above its last epoch, joins the seeds. */
  restart(i: number): void {
    const nd = this.nodes[i]!;
    if (nd.up) return;
    nd.life++;
    nd.up = true;
    this.net.restart(nd.addr);
    this.boot(nd);
    this.join(nd);
  }

  setSlow(i: number, ms: number): void {
    this.net.setProcessingDelay(this.nodes[i]!.addr, ms);
  }

  partition(...groups: number[][]): void {
    this.net.partition(...groups.map((g) => g.map((i) => this.nodes[i]!.addr)));
  }

  heal(): void {
    this.net.heal();
  }

  /** A table write on node i, broadcast through its core. */
  set(i: number, table: string, network: string, key: string, value: Uint8Array): void {
    const nd = this.nodes[i]!;
    if (!nd.up) throw new SimError('VXM_ERR_SIM_ADDR', `set: node ${i} is down`);
    nd.delegate.set(this.q.now, table, network, key, value);
    this.pump(nd);
  }

  /** Sum of a core counter over the up nodes. */
  counter(name: string): number {
    let s = 0;
    for (const nd of this.nodes) if (nd.up) s += nd.core.counters[name] ?? 0;
    return s;
  }

  // ---- EventQueue dispatch --------------------------------------------------------------------

  handleEvent(kind: number, arg: number): void {
    const nd = this.nodes[arg]!;
    if (kind === EV_JOIN) {
      if (nd.up) this.join(nd);
      return;
    }
    nd.timerId = -1;
    nd.timerAt = Infinity;
    if (!nd.up) return;
    const now = this.q.now;
    const t0 = performance.now();
    nd.core.tick(now);
    nd.delegate.tick(now);
    this.stats.coreMs += performance.now() - t0;
    this.stats.ticks++;
    if (this.rejoinMs > 0 && now - nd.lastRejoin >= this.rejoinMs) this.maybeRejoin(nd, now);
    this.pump(nd, true);
  }

  // ---- internals ------------------------------------------------------------------------------

  private boot(nd: SimNode): void {
    // A restarted process starts above every epoch its previous life used, including run-time
    // bumps (a persisted counter; the tables contract, TablesConfig.epoch).
    const epoch = nd.tables === undefined ? 1 : nd.tables.epoch + 1;
    const tables = new GossipTables({ ...this.opts.tables, self: nd.name, epoch });
    const delegate = new TablesDelegate(tables, META);
    const core = new SwimCore({
      name: nd.name, addr: nd.addr, meta: delegate.meta(), config: this.opts.swim ?? {},
      rng: this.rng.fork(`node:${nd.index}:${nd.life}`), delegate, now: this.q.now,
    });
    delegate.bind(core);
    nd.core = core;
    nd.tables = tables;
    nd.delegate = delegate;
    nd.lastRejoin = this.q.now;
    const net = this.net;
    net.attach(nd.addr, (from, transport, bytes, tag) => this.deliver(nd, core, from, transport, bytes, tag));
    net.onTcpError(nd.addr, (_to, tag) => {
      if (nd.core !== core || !nd.up) return;
      if (tag < 0) {
        this.stats.replyLost++;
        return;
      }
      const t0 = performance.now();
      core.tcpFailed(this.q.now, tag);
      this.stats.coreMs += performance.now() - t0;
      this.stats.tcpFailed++;
      this.pump(nd);
    });
    this.pump(nd);
  }

  private deliver(nd: SimNode, core: SwimCore, from: string, transport: Transport, bytes: Uint8Array, tag: number): void {
    if (nd.core !== core || !nd.up) return;
    const msg: Inbound = { from, transport, bytes };
    if (transport === 'tcp') msg.stream = tag < 0 ? -tag : tag;
    const t0 = performance.now();
    core.step(this.q.now, msg);
    this.stats.coreMs += performance.now() - t0;
    this.stats.steps++;
    this.pump(nd);
  }

  private join(nd: SimNode): void {
    const seeds: string[] = [];
    for (const s of this.seedIdx) if (s !== nd.index) seeds.push(this.nodes[s]!.addr);
    nd.lastRejoin = this.q.now;
    if (seeds.length === 0) return;
    nd.core.join(this.q.now, seeds);
    this.pump(nd);
  }

  private maybeRejoin(nd: SimNode, now: number): void {
    nd.lastRejoin = now;
    let lost: string[] | undefined;
    for (const s of this.seedIdx) {
      if (s === nd.index) continue;
      const seed = this.nodes[s]!;
      if (nd.core.member(seed.name)?.state !== 'alive') (lost ??= []).push(seed.addr);
    }
    if (lost !== undefined) nd.core.join(now, lost);
  }

  /** Send what the core produced, hand out events, drain table events, re-arm the timer. */
  private pump(nd: SimNode, afterTick = false): void {
    const core = nd.core;
    const now = this.q.now;
    const st = this.stats;
    while (core.hasReady()) {
      const rd = core.ready();
      for (const m of rd.messages) {
        let tag = 0;
        if (m.transport === 'tcp') {
          tag = m.stream !== undefined ? m.stream : m.replyTo !== undefined ? -m.replyTo : 0;
          st.tcpMsgs++;
          st.tcpBytes += m.bytes.length;
        } else {
          st.udpMsgs++;
          st.udpBytes += m.bytes.length;
        }
        this.net.send(nd.addr, m.to, m.transport, m.bytes, tag);
      }
      core.advance();
      if (rd.events.length > 0) {
        nd.delegate.memberEvents(now, rd.events);
        const obs = this.opts.onMemberEvent;
        if (obs !== undefined) for (const e of rd.events) obs(nd.index, e);
      }
    }
    const tev = nd.tables.drainEvents();
    if (tev.length > 0 && this.opts.onTableEvent !== undefined) for (const e of tev) this.opts.onTableEvent(nd.index, e);
    // Re-arm the timer.
    let d = core.nextDeadline();
    if (this.rejoinMs > 0) d = Math.min(d, nd.lastRejoin + this.rejoinMs);
    if (d === Infinity) return;
    if (d <= now) {
      if (afterTick) {
        st.stuckDeadlines++;
        d = now + 1;
      } else {
        d = now;
      }
    }
    if (nd.timerId >= 0) {
      if (nd.timerAt <= d) return;
      this.q.cancel(nd.timerId);
    }
    nd.timerAt = d;
    nd.timerId = this.q.schedule(d, this, EV_TIMER, nd.index);
  }
}
