// The Raft deterministic simulator: N managers (RawNode + RaftStorage on its own MemFs + the KV
// state machine of kv.ts) in one process on the kit's virtual time, K clients, and a nemesis
// that injects faults. A run is a pure function of its options (seed included): every random
// choice comes from a fork of one Rng, nothing reads a real clock.
//
// Each manager follows the driver loop of src/control/raft/core/raw-node.ts exactly: persist
// (snapshot, entries, hard state; fsync when mustSync), then send, then apply, then hand out
// read states, then advance. Messages travel as bytes through SimNetwork ('udp': loss,
// duplication, delay and reorder apply) with the core's codec, so the codec is exercised too.
//
// Faults (each class can be switched off, see FaultSwitches): message loss, duplication,
// delay/reorder, partitions (random splits and an isolated leader), slow nodes, crashes at an
// event boundary and power cuts in the middle of a storage write (PowerCutFs), both followed by
// MemFs.crash() with lost and torn unsynced writes, whole-cluster power failures, leader
// transfers, membership changes (add a learner with a new ID, promote it once caught up, remove
// a voter), and frequent snapshots + compaction so that lagging nodes get snapshots (sent in
// small chunks).
//
// Clients: a write is acknowledged when the client hears that the node it proposed to applied
// it (matched by the (client, seq) request id in the entry); reads go through ReadIndex and are
// answered once the node has applied up to the read index. Ops that time out, or whose node
// crashed while they were pending, have an unknown outcome.
//
// Checks: invariants.ts at every step, then at the end (after healing and restarting
// everything): all state machines equal, every acknowledged write committed, and the history
// linearizable (linearizability.ts).

import { decodeConfChange, decodeMessage, encodeMessage } from '../../../src/control/raft/core/codec.js';
import { defaultRaftConfig, DEFAULT_TICK_MS } from '../../../src/control/raft/core/config.js';
import { ConfChangeError, NotLeaderError, ProposalDroppedError } from '../../../src/control/raft/core/errors.js';
import { RawNode } from '../../../src/control/raft/core/raw-node.js';
import { ConfChangeType, ENTRY_CONF_CHANGE, MessageType, Role, type ConfChange, type Entry, type Snapshot, type Storage } from '../../../src/control/raft/core/types.js';
import { MemFs } from '../../../src/control/raft/storage/mem-fs.js';
import { RaftStorage } from '../../../src/control/raft/storage/storage.js';
import { EventQueue } from '../kit/event-queue.js';
import { Rng } from '../kit/rng.js';
import { SimNetwork } from '../kit/sim-network.js';
import { InvariantViolation, SafetyMonitor, type LeaderView, type LogView } from './invariants.js';
import { decodeCommand, encodeCommand, KIND_CAS, KIND_PUT, KvStateMachine, type KvCommand } from './kv.js';
import { checkLinearizable, type CheckResult, type KvHistoryOp } from './linearizability.js';
import { PowerCut, PowerCutFs } from './power-cut-fs.js';

/** Fault classes; every one defaults to on. Turn one off to bisect a failure (main.ts --no-<name>). */
export interface FaultSwitches {
  loss: boolean;
  duplicate: boolean;
  /** Delay spread (reorder). Off: fixed 1 ms one-way. */
  reorder: boolean;
  partitions: boolean;
  crashes: boolean;
  /** Power cut inside a storage call (needs crashes). */
  powerCuts: boolean;
  /** MemFs.crash keeps a random prefix of unsynced writes and tears the next one. Off: drop all unsynced. */
  tornWrites: boolean;
  transfers: boolean;
  snapshots: boolean;
  slowNodes: boolean;
  /**
   * Silent loss in half of the seeds (the seed decides; SimOptions.forceSilentLoss: all). The
   * production transport is TCP (driver/transport.ts): it loses messages only with a broken
   * connection and then reports the peer unreachable, which the simulator emulates by calling
   * reportUnreachable(to) on the sender of every dropped message. In a silent seed the core sees
   * UDP-like loss with no report and must recover on its own (before 330b521 a follower whose
   * whole inflight window was lost stalled for good).
   */
  silentLoss: boolean;
  /** Membership changes: add a learner (a new manager with a never-used ID), promote it once caught up, remove a voter. */
  membership: boolean;
}

export const FAULT_NAMES: readonly (keyof FaultSwitches)[] = [
  'loss', 'duplicate', 'reorder', 'partitions', 'crashes', 'powerCuts', 'tornWrites', 'transfers', 'snapshots', 'slowNodes', 'silentLoss', 'membership',
];

export function allFaults(): FaultSwitches {
  return { loss: true, duplicate: true, reorder: true, partitions: true, crashes: true, powerCuts: true, tornWrites: true, transfers: true, snapshots: true, slowNodes: true, silentLoss: true, membership: true };
}

export interface SimOptions {
  seed: number;
  /** Managers (voters). 3 or 5 make sense; 1..7 work. */
  nodes: number;
  /** Virtual ms of client load and faults; then the cluster heals and settles. */
  durationMs: number;
  clients: number;
  /** Distinct keys (fewer keys: more contention, harder histories). */
  keys: number;
  faults: FaultSwitches;
  /**
   * Deliberately broken driver behaviour, to show the checks catch real bugs (tests only):
   * 'stale-reads' answers gets from local state without ReadIndex; 'no-fsync' never syncs the WAL.
   */
  unsafe?: 'stale-reads' | 'no-fsync';
  /**
   * Default true: a manager that applies an add-learner/add-voter change takes a snapshot right
   * away, so the snapshot its leader would send the new member includes that member, as the
   * driver does since 330b521 (raft-node.ts #snapshotNow). Without it (false) a member added after the newest snapshot, once the log
   * is compacted, is sent a snapshot whose configuration lacks it; the core refuses it (as etcd
   * raft does, etcd's server sends a freshly merged snapshot instead) and the member never
   * catches up until a later snapshot happens to be taken. See README.md.
   */
  snapshotOnJoin?: boolean;
  /** RaftConfig.piggybackCommit; default true, as the manager driver runs. */
  piggybackCommit?: boolean;
  /** Every seed loses messages silently (needs faults.silentLoss); default: half of them. */
  forceSilentLoss?: boolean;
}

export function defaultSimOptions(seed: number): SimOptions {
  return { seed, nodes: 3, durationMs: 10_000, clients: 4, keys: 3, faults: allFaults() };
}

export type FailureKind = 'invariant' | 'linearizability' | 'liveness' | 'exception';

export interface SeedResult {
  seed: number;
  ok: boolean;
  failure?: { kind: FailureKind; message: string };
  ops: number;
  ackedWrites: number;
  reads: number;
  unknownOps: number;
  elections: number;
  crashes: number;
  powerCuts: number;
  partitions: number;
  transfers: number;
  snapshotsSent: number;
  snapshotsTaken: number;
  confChanges: number;
  /** This seed lost messages silently (no reportUnreachable). */
  silentLoss: boolean;
  messages: number;
  badMessages: number;
  linearizability: CheckResult | null;
  checkMs: number;
  virtualMs: number;
  events: number;
}

/** Implementation: client <-> manager one-way delay (a LAN round trip is ~0.2-2 ms). */
const CLIENT_DELAY_MS = { min: 0.2, max: 2 };
/** Implementation: a client gives up on an op after this (its outcome is then unknown). */
const OP_TIMEOUT_MS = 1500;
/** Implementation: how long the healed cluster gets to converge before liveness fails. */
const SETTLE_LIMIT_MS = 20_000;
const DATA_DIR = '/raft';
/**
 * Implementation: a seed that runs more than this many events per virtual ms (of run + settle
 * limit) is a message storm; normal seeds run at most ~4 (5 managers, 10 s: 8-41 k events). Seen
 * only with a deliberately broken driver: a follower that forgot acknowledged entries rejects
 * every append forever, and network duplication multiplies the ping-pong.
 */
const MAX_EVENTS_PER_MS = 25;

class EventStorm extends Error {}

type Reply =
  | { kind: 'ok'; result: string | null | boolean; index: number; data: Uint8Array | null }
  | { kind: 'redirect'; leader: number }
  | { kind: 'retry' }
  | { kind: 'lost' };

interface PendingWrite {
  client: SimClient;
  opId: number;
}

interface PendingRead {
  ctx: string;
  index: number; // -1 until the read state arrives
  key: string;
  client: SimClient;
  opId: number;
}

function ctxKey(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** The core's Storage over RaftStorage (whose initialState names the configuration `confState`). */
function coreStorage(s: RaftStorage): Storage {
  return {
    initialState: () => {
      const st = s.initialState();
      return { hardState: st.hardState, conf: st.confState };
    },
    entries: (lo, hi, max) => s.entries(lo, hi, max),
    term: (i) => s.term(i),
    firstIndex: () => s.firstIndex(),
    lastIndex: () => s.lastIndex(),
    snapshot: () => s.snapshot(),
  };
}

/** One incarnation of a manager: it is replaced by a fresh one (from its MemFs) on restart. */
class Manager {
  readonly node: RawNode;
  readonly storage: RaftStorage;
  readonly sm = new KvStateMachine();
  applied: number;
  readonly writes = new Map<string, PendingWrite>();
  reads: PendingRead[] = [];
  dead = false;
  /** A conf change added a member: snapshot now (see SimOptions.snapshotOnJoin). */
  snapshotDue = false;
  readonly logView: LogView;

  constructor(readonly sim: Sim, readonly id: number, readonly fs: PowerCutFs, readonly rng: Rng) {
    const o = sim.opts;
    this.storage = RaftStorage.open(DATA_DIR, fs);
    const st = this.storage.initialState();
    if (st.hardState.term === 0 && this.storage.snapshot().meta.index === 0 && this.storage.lastIndex() === 0) {
      // A fresh manager bootstraps the shared configuration as a snapshot at (1, 1), like the driver.
      const voters: number[] = [];
      for (let i = 1; i <= o.nodes; i++) voters.push(i);
      this.storage.applySnapshot({ meta: { index: 1, term: 1, conf: { voters, learners: [] } }, data: this.sm.snapshot() });
      this.storage.setHardState({ term: 1, vote: 0, commit: 1 });
    }
    const snap = this.storage.snapshot();
    this.sm.restore(snap.data);
    this.applied = snap.meta.index;
    const cfg = defaultRaftConfig(id, coreStorage(this.storage), (n) => rng.int(n));
    cfg.applied = this.applied;
    cfg.snapshotChunkBytes = sim.snapshotChunkBytes;
    cfg.snapshotTimeoutTicks = 40; // 1 s: a lost chunk restarts the transfer within a run
    cfg.piggybackCommit = o.piggybackCommit !== false;
    this.node = new RawNode(cfg);
    const log = this.node.raft.log;
    this.logView = { term: (i) => log.term(i), lastIndex: () => log.lastIndex() };
    sim.monitor.resetNode(id, log.committed);
  }

  /** The driver loop of raw-node.ts: persist, send, apply, reads, advance. */
  process(): void {
    const sim = this.sim;
    const node = this.node;
    const mon = sim.monitor;
    this.observe();
    while (!this.dead && node.hasReady()) {
      const rd = node.ready();
      // 1. persist
      if (rd.snapshot !== null) {
        this.storage.applySnapshot(rd.snapshot);
        mon.observeSnapshot(this.id, rd.snapshot.meta.index, rd.snapshot.meta.term, rd.snapshot.data);
      }
      if (rd.entries.length > 0 || rd.hardState !== null) {
        this.storage.save(rd.hardState, rd.entries, { sync: sim.opts.unsafe === 'no-fsync' ? false : rd.mustSync });
        mon.observePersisted(this.id, rd.entries, (i) => {
          if (i < this.storage.firstIndex() - 1 || i > this.storage.lastIndex()) return undefined;
          return this.storage.term(i);
        });
      }
      // 2. send (only after the write)
      for (const m of rd.messages) {
        if (m.type === MessageType.Snap && m.snapOffset === 0) sim.stats.snapshotsSent++;
        sim.stats.messages++;
        sim.net.send(sim.addr(this.id), sim.addr(m.to), 'udp', encodeMessage(m));
      }
      // 3. apply
      if (rd.snapshot !== null) this.applySnapshot(rd.snapshot);
      for (const e of rd.committedEntries) this.apply(e);
      // 4. read states
      for (const rs of rd.readStates) {
        const k = ctxKey(rs.requestCtx);
        const r = this.reads.find((x) => x.ctx === k);
        if (r !== undefined) r.index = rs.index;
      }
      if (rd.softState !== null && rd.softState.role !== Role.Leader) {
        // Pending reads on a node that lost or changed its leader may never get a read state:
        // tell their clients to retry (a read that was not served has no effect).
        for (const r of this.reads) if (r.index < 0) sim.reply(this.id, r.client, r.opId, { kind: 'retry' });
        this.reads = this.reads.filter((r) => r.index >= 0);
      }
      // 5. advance
      node.advance();
      this.serveReads();
      this.observe();
    }
    if (!this.dead) this.maybeSnapshot();
  }

  /** Role and commit observations for the invariants (after every input). */
  private observe(): void {
    const raft = this.node.raft;
    if (raft.role === Role.Leader) this.sim.monitor.observeLeader(this.id, raft.term, this.logView);
    this.sim.monitor.observeCommit(this.id, raft.term, raft.log.committed, this.logView);
  }

  private applySnapshot(s: Snapshot): void {
    this.sm.restore(s.data);
    this.applied = s.meta.index;
    // Requests waiting for entries the snapshot covers will never see them applied here.
    for (const [k, w] of this.writes) {
      this.sim.reply(this.id, w.client, w.opId, { kind: 'lost' });
      this.writes.delete(k);
    }
  }

  private apply(e: Entry): void {
    this.sim.monitor.observeApply(this.id, this.applied, e);
    this.applied = e.index;
    if (e.type === ENTRY_CONF_CHANGE) {
      const cc = decodeConfChange(e.data);
      if (cc !== undefined) {
        this.node.applyConfChange(cc);
        if ((cc.type === ConfChangeType.AddLearner || cc.type === ConfChangeType.AddVoter) && this.sim.opts.snapshotOnJoin !== false) this.snapshotDue = true;
        this.sim.confChangeApplied(cc);
      }
      return;
    }
    const cmd = decodeCommand(e.data);
    if (cmd === undefined) return; // the leader's empty entry
    const result = this.sm.apply(cmd);
    const k = `${cmd.client}:${cmd.seq}`;
    const w = this.writes.get(k);
    if (w !== undefined) {
      this.writes.delete(k);
      this.sim.reply(this.id, w.client, w.opId, { kind: 'ok', result, index: e.index, data: e.data });
    }
  }

  private serveReads(): void {
    if (this.reads.length === 0) return;
    const keep: PendingRead[] = [];
    for (const r of this.reads) {
      if (r.index >= 0 && this.applied >= r.index) {
        this.sim.reply(this.id, r.client, r.opId, { kind: 'ok', result: this.sm.get(r.key), index: r.index, data: null });
      } else keep.push(r);
    }
    this.reads = keep;
  }

  private maybeSnapshot(): void {
    const sim = this.sim;
    if (!sim.opts.faults.snapshots) return;
    const snapIndex = this.storage.snapshot().meta.index;
    const due = this.snapshotDue && this.applied > snapIndex;
    this.snapshotDue = false;
    if (!due && this.applied - snapIndex < sim.snapshotEvery) return;
    const data = this.sm.snapshot();
    const s = this.storage.createSnapshot(this.applied, this.node.raft.confState(), data);
    sim.monitor.observeSnapshot(this.id, s.meta.index, s.meta.term, data);
    sim.stats.snapshotsTaken++;
    const keepFrom = this.applied - sim.catchUpEntries;
    if (keepFrom >= this.storage.firstIndex()) this.storage.compact(keepFrom);
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.node.tick();
    this.process();
  }

  step(bytes: Uint8Array, fromAddr: string): void {
    const d = decodeMessage(bytes);
    if (!d.ok || this.sim.addr(d.msg.from) !== fromAddr) {
      this.sim.stats.badMessages++;
      return;
    }
    this.node.step(d.msg);
    this.process();
  }

  write(client: SimClient, opId: number, cmd: KvCommand): void {
    try {
      this.node.propose(encodeCommand(cmd));
    } catch (err) {
      if (err instanceof NotLeaderError) {
        this.sim.reply(this.id, client, opId, { kind: 'redirect', leader: err.leader });
        return;
      }
      if (err instanceof ProposalDroppedError) {
        this.sim.reply(this.id, client, opId, { kind: 'retry' });
        return;
      }
      throw err;
    }
    this.writes.set(`${cmd.client}:${cmd.seq}`, { client, opId });
    this.process();
  }

  read(client: SimClient, opId: number, key: string): void {
    if (this.sim.opts.unsafe === 'stale-reads') {
      this.sim.reply(this.id, client, opId, { kind: 'ok', result: this.sm.get(key), index: this.applied, data: null });
      return;
    }
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setFloat64(0, ++this.sim.readSeq);
    try {
      this.node.readIndex(ctx);
    } catch (err) {
      if (err instanceof NotLeaderError) {
        this.sim.reply(this.id, client, opId, { kind: 'redirect', leader: err.leader });
        return;
      }
      throw err;
    }
    this.reads.push({ ctx: ctxKey(ctx), index: -1, key, client, opId });
    this.process();
  }

  /** Power is gone: every waiting client learns that the outcome is unknown (reads: retry). */
  die(): void {
    this.dead = true;
    for (const w of this.writes.values()) this.sim.reply(this.id, w.client, w.opId, { kind: 'lost' });
    this.writes.clear();
    for (const r of this.reads) this.sim.reply(this.id, r.client, r.opId, { kind: 'retry' });
    this.reads = [];
  }
}

interface ClientOp {
  hist: KvHistoryOp;
  cmd: KvCommand | null; // null for get
  deadline: number;
  done: boolean;
}

class SimClient {
  leaderGuess: number;
  seq = 0;
  op: ClientOp | null = null;
  stopped = false;
  private lastSeen = new Map<string, string | null>();

  constructor(readonly sim: Sim, readonly id: number, readonly rng: Rng) {
    this.leaderGuess = sim.randomId(rng);
  }

  start(): void {
    this.sim.q.after(this.rng.range(0, 50), () => this.issue());
  }

  private issue(): void {
    if (this.stopped) return;
    const sim = this.sim;
    const key = `k${this.rng.int(sim.opts.keys)}`;
    const p = this.rng.float();
    const seq = ++this.seq;
    const opId = sim.history.length;
    const hist: KvHistoryOp = { id: opId, client: this.id, kind: 'get', key, invoke: sim.q.now, ret: Infinity };
    let cmd: KvCommand | null = null;
    if (p < 0.4) {
      hist.kind = 'get';
    } else if (p < 0.75) {
      hist.kind = 'put';
      hist.value = `c${this.id}.${seq}`;
      cmd = { client: this.id, seq, kind: KIND_PUT, key, value: hist.value, expect: null };
    } else {
      hist.kind = 'cas';
      hist.value = `c${this.id}.${seq}`;
      // Usually expect what we saw last (likely to succeed), sometimes absent.
      hist.expect = this.rng.chance(0.85) ? (this.lastSeen.get(key) ?? null) : null;
      cmd = { client: this.id, seq, kind: KIND_CAS, key, value: hist.value, expect: hist.expect };
    }
    sim.history.push(hist);
    const op: ClientOp = { hist, cmd, deadline: sim.q.now + OP_TIMEOUT_MS, done: false };
    this.op = op;
    sim.q.at(op.deadline, () => this.timeout(op));
    this.send(op);
  }

  private send(op: ClientOp): void {
    const to = this.leaderGuess;
    const sim = this.sim;
    sim.q.after(this.rng.range(CLIENT_DELAY_MS.min, CLIENT_DELAY_MS.max), () => {
      if (op.done) return;
      sim.deliverRequest(to, this, op.hist.id, op.cmd, op.hist.key);
    });
  }

  private timeout(op: ClientOp): void {
    if (op.done) return;
    op.done = true;
    op.hist.ret = Infinity;
    delete op.hist.result;
    this.sim.stats.unknownOps++;
    this.next();
  }

  private next(): void {
    this.op = null;
    if (this.stopped) return;
    this.sim.q.after(this.rng.range(0, 30), () => this.issue());
  }

  /** A reply from manager `from` for op `opId`. */
  onReply(from: number, opId: number, r: Reply): void {
    const op = this.op;
    if (op === null || op.done || op.hist.id !== opId) return; // late answer to an op already settled
    const sim = this.sim;
    switch (r.kind) {
      case 'ok':
        op.done = true;
        op.hist.ret = sim.q.now;
        op.hist.result = op.hist.kind === 'put' ? true : r.result;
        if (op.hist.kind === 'get') {
          this.lastSeen.set(op.hist.key, r.result as string | null);
          sim.stats.reads++;
        } else {
          if (op.hist.kind === 'put' || r.result === true) this.lastSeen.set(op.hist.key, op.hist.value!);
          sim.monitor.observeAck(r.index, r.data!, `op #${opId} ${op.hist.kind}(${op.hist.key}, ${op.hist.value}) by client ${this.id}`);
        }
        this.leaderGuess = from;
        this.next();
        return;
      case 'redirect':
      case 'retry': {
        // Not proposed (or a read not served): safe to send again, to the hinted leader if any.
        if (r.kind === 'redirect' && r.leader !== 0 && r.leader !== from) {
          this.leaderGuess = r.leader;
          this.send(op);
        } else {
          this.leaderGuess = sim.randomId(this.rng);
          sim.q.after(this.rng.range(10, 60), () => { if (!op.done) this.send(op); });
        }
        return;
      }
      case 'lost':
        // The node died (or moved past the entry by snapshot) with the write pending: unknown.
        op.done = true;
        op.hist.ret = Infinity;
        delete op.hist.result;
        sim.stats.unknownOps++;
        this.leaderGuess = sim.randomId(this.rng);
        this.next();
        return;
    }
  }
}

export class Sim {
  readonly q = new EventQueue();
  readonly root: Rng;
  readonly net: SimNetwork;
  readonly monitor = new SafetyMonitor();
  readonly history: KvHistoryOp[] = [];
  readonly stats = {
    crashes: 0, powerCuts: 0, partitions: 0, transfers: 0, snapshotsSent: 0, snapshotsTaken: 0, messages: 0,
    badMessages: 0, unknownOps: 0, reads: 0, confChanges: 0,
  };
  readSeq = 0;
  readonly snapshotEvery: number;
  readonly catchUpEntries: number;
  readonly snapshotChunkBytes: number;
  /** This seed drops messages without telling the sender (see FaultSwitches.silentLoss). */
  readonly silentLoss: boolean;
  private readonly addrs: string[] = [];
  private readonly fss: MemFs[] = [];
  private readonly cutFss: PowerCutFs[] = [];
  private readonly mgrs: (Manager | null)[] = [];
  private readonly incarnation: number[] = [];
  private readonly clients: SimClient[] = [];
  private readonly nemesisRng: Rng;
  private readonly crashRng: Rng;
  private partitioned = false;
  private faultsOn = true;
  /** Managers started and not removed, ascending. */
  private readonly live: number[] = [];
  private readonly gone = new Set<number>();
  /** Managers started or about to be (an ID starts once). */
  private readonly known = new Set<number>();
  /** The next never-used manager ID (IDs are never reused). */
  private nextId: number;

  constructor(readonly opts: SimOptions) {
    this.root = new Rng(opts.seed);
    const f = opts.faults;
    const cfgRng = this.root.fork('config');
    // Per-seed knobs: how often state is snapshotted, how much log stays behind it, chunk size.
    this.snapshotEvery = 8 + cfgRng.int(60);
    this.catchUpEntries = cfgRng.int(10);
    this.snapshotChunkBytes = 32 + cfgRng.int(480);
    const loss = f.loss ? (cfgRng.chance(0.75) ? cfgRng.range(0.001, 0.08) : 0) : 0;
    const duplicate = f.duplicate ? cfgRng.range(0, 0.05) : 0;
    const dmin = f.reorder ? cfgRng.range(0.2, 2) : 1;
    const dmax = f.reorder ? dmin + cfgRng.range(0, 15) : 1;
    this.net = new SimNetwork(this.q, this.root.fork('net'), { loss, duplicate, delayMs: { min: dmin, max: dmax } });
    this.nemesisRng = this.root.fork('nemesis');
    this.crashRng = this.root.fork('crash');
    this.monitor.leaders = () => this.currentLeaders();
    this.silentLoss = f.silentLoss && (opts.forceSilentLoss === true || cfgRng.chance(0.5));
    if (!this.silentLoss) {
      // The transport noticed the loss (a broken TCP connection): tell the sender's core, once
      // per (from, to) per millisecond, as driver/transport.ts does with onUnreachable.
      const pending = new Set<string>();
      this.net.setTracer((e) => {
        if (e.event !== 'drop') return;
        const k = `${e.from}>${e.to}`;
        if (pending.has(k)) return;
        pending.add(k);
        const from = Number(e.from.slice(1));
        const to = Number(e.to.slice(1));
        this.q.after(1, () => {
          pending.delete(k);
          this.guard(from, (m) => { m.node.reportUnreachable(to); m.process(); });
        });
      });
    }
    this.nextId = opts.nodes + 1;
    for (let id = 1; id <= opts.nodes; id++) {
      this.known.add(id);
      this.startNode(id);
    }
    for (let c = 1; c <= opts.clients; c++) this.clients.push(new SimClient(this, c, this.root.fork(`client:${c}`)));
  }

  addr(id: number): string {
    if (this.addrs[id] === undefined) this.addrs[id] = `m${id}`;
    return this.addrs[id]!;
  }

  /** A brand-new manager on an empty disk (it bootstraps the initial configuration; a learner learns the rest from the log or a snapshot). */
  private startNode(id: number): void {
    const addr = this.addr(id);
    this.fss[id] = new MemFs();
    this.cutFss[id] = new PowerCutFs(this.fss[id]!);
    this.incarnation[id] = 0;
    this.mgrs[id] = this.newManager(id);
    this.live.push(id);
    this.live.sort((a, b) => a - b);
    this.net.attach(addr, (from, _t, bytes) => this.guard(id, (m) => m.step(bytes, from)));
    this.net.schedulePeriodic(addr, DEFAULT_TICK_MS, this.root.fork(`phase:${id}`).float() * DEFAULT_TICK_MS, () => this.guard(id, (m) => m.tick()));
  }

  /** A random manager ID among those started and not removed (a client's guess). */
  randomId(rng: Rng): number {
    return this.live[rng.int(this.live.length)]!;
  }

  /**
   * A conf change was applied by some manager, so it is committed: an added learner gets its
   * process started, a removed manager is shut down for good (after the current event, so the
   * Ready loop that applied it completes first).
   */
  confChangeApplied(cc: ConfChange): void {
    const id = cc.nodeId;
    if (cc.type === ConfChangeType.AddLearner || cc.type === ConfChangeType.AddVoter) {
      if (this.known.has(id) || this.gone.has(id)) return;
      this.known.add(id);
      this.q.after(0, () => this.startNode(id));
    } else if (cc.type === ConfChangeType.Remove) {
      if (this.gone.has(id)) return;
      this.gone.add(id);
      this.q.after(0, () => {
        const m = this.mgrs[id];
        if (m !== null && m !== undefined) m.die();
        this.mgrs[id] = null;
        if (this.net.isUp(this.addr(id))) this.net.crash(this.addr(id));
        const k = this.live.indexOf(id);
        if (k >= 0) this.live.splice(k, 1);
      });
    }
  }

  private newManager(id: number): Manager {
    const inc = this.incarnation[id]!;
    this.incarnation[id] = inc + 1;
    return new Manager(this, id, this.cutFss[id]!, this.root.fork(`node:${id}:${inc}`));
  }

  private *currentLeaders(): Iterable<LeaderView> {
    for (const id of this.live) {
      const m = this.mgrs[id];
      if (m === null || m === undefined || m.dead) continue;
      const r = m.node.raft;
      if (r.role === Role.Leader) yield { id, term: r.term, log: m.logView };
    }
  }

  /** Run an input on a live manager; a PowerCut inside it crashes the node. */
  private guard(id: number, fn: (m: Manager) => void): void {
    const m = this.mgrs[id];
    if (m === null || m === undefined || m.dead) return;
    try {
      fn(m);
    } catch (err) {
      if (err instanceof PowerCut) {
        this.stats.powerCuts++;
        this.crash(id);
        return;
      }
      throw err;
    }
  }

  /** Client request arriving at manager `to` (clients reach every manager that is up, even across partitions). */
  deliverRequest(to: number, client: SimClient, opId: number, cmd: KvCommand | null, key: string): void {
    const m = this.mgrs[to];
    if (m === null || m === undefined || m.dead) {
      // Connection refused: nothing was proposed.
      this.reply(to, client, opId, { kind: 'redirect', leader: 0 });
      return;
    }
    this.guard(to, (mm) => {
      if (cmd === null) mm.read(client, opId, key);
      else mm.write(client, opId, cmd);
    });
  }

  reply(from: number, client: SimClient, opId: number, r: Reply): void {
    const rng = client.rng;
    this.q.after(rng.range(CLIENT_DELAY_MS.min, CLIENT_DELAY_MS.max), () => client.onReply(from, opId, r));
  }

  // ---------------------------------------------------------------- faults

  private crash(id: number): void {
    const m = this.mgrs[id];
    if (m === null || m === undefined) return;
    m.die();
    this.mgrs[id] = null;
    this.stats.crashes++;
    this.net.crash(this.addr(id));
    this.fss[id]!.crash(() => this.crashRng.float(), { keepUnsynced: this.opts.faults.tornWrites, tornWrites: this.opts.faults.tornWrites });
  }

  private restart(id: number): void {
    if (this.mgrs[id] !== null || this.gone.has(id)) return;
    this.cutFss[id]!.reset();
    this.mgrs[id] = this.newManager(id);
    this.net.restart(this.addr(id));
    this.guard(id, (m) => m.process());
  }

  private down(): number[] {
    const out: number[] = [];
    for (const id of this.live) if (this.mgrs[id] === null) out.push(id);
    return out;
  }

  private leaderId(): number {
    let best = 0;
    let term = -1;
    for (const l of this.currentLeaders()) if (l.term > term) { term = l.term; best = l.id; }
    return best;
  }

  /** The configuration of the live manager that applied the most (the newest committed view). */
  private currentConf(): { voters: number[]; learners: number[] } {
    let best: Manager | null = null;
    for (const id of this.live) {
      const m = this.mgrs[id];
      if (m !== null && m !== undefined && (best === null || m.applied > best.applied)) best = m;
    }
    return best === null ? { voters: [...this.live], learners: [] } : best.node.raft.confState();
  }

  private nemesis(): void {
    if (!this.faultsOn) return;
    const r = this.nemesisRng;
    const f = this.opts.faults;
    const live = this.live;
    const n = live.length;
    const pick = (): number => live[r.int(n)]!;
    const p = r.float();
    if (p < 0.22 && f.partitions && !this.partitioned) {
      const ids = live.map((id) => this.addr(id));
      const leader = this.leaderId();
      if (leader !== 0 && r.chance(0.5)) {
        this.net.partition([this.addr(leader)], ids.filter((a) => a !== this.addr(leader)));
      } else {
        r.shuffle(ids);
        const cut = 1 + r.int(n - 1);
        this.net.partition(ids.slice(0, cut), ids.slice(cut));
      }
      this.partitioned = true;
      this.stats.partitions++;
      this.q.after(r.range(200, 2500), () => { this.net.heal(); this.partitioned = false; });
    } else if (p < 0.42 && f.crashes) {
      if (r.chance(0.04)) {
        // Whole-cluster power failure: only synced state survives anywhere.
        const all = [...live];
        for (const id of all) if (this.mgrs[id] !== null) this.crash(id);
        const back = r.range(100, 1500);
        for (const id of all) this.q.after(back + r.range(0, 300), () => this.restart(id));
        return;
      }
      // Keep a quorum of the current voters alive (otherwise progress stalls for the rest of the run).
      const voters = this.currentConf().voters;
      const downVoters = this.down().filter((id) => voters.includes(id)).length;
      if (downVoters >= (voters.length - 1) >> 1) return;
      const leader = this.leaderId();
      let victim = leader !== 0 && r.chance(0.5) ? leader : pick();
      if (this.mgrs[victim] === null) victim = pick();
      if (this.mgrs[victim] === null) return;
      const back = r.range(100, 2000);
      if (f.powerCuts && r.chance(0.5)) {
        // Cut the power inside one of its next storage calls; fall back to a plain crash.
        const fs = this.cutFss[victim]!;
        fs.arm(1 + r.int(12));
        const v = victim;
        this.q.after(r.range(20, 400), () => {
          if (this.mgrs[v] !== null && this.mgrs[v] !== undefined && fs.armed) { fs.reset(); this.crash(v); }
          this.q.after(back, () => this.restart(v));
        });
      } else {
        this.crash(victim);
        this.q.after(back, () => this.restart(victim));
      }
    } else if (p < 0.55 && f.transfers) {
      const leader = this.leaderId();
      if (leader === 0) return;
      const to = pick();
      if (to === leader) return;
      this.stats.transfers++;
      this.guard(leader, (m) => { m.node.transferLeader(to); m.process(); });
    } else if (p < 0.62 && f.slowNodes) {
      const id = pick();
      this.net.setProcessingDelay(this.addr(id), r.range(5, 80));
      this.q.after(r.range(300, 2000), () => this.net.setProcessingDelay(this.addr(id), 0));
    } else if (p < 0.70 && f.membership) {
      this.changeMembership(r);
    }
  }

  /**
   * One membership step at the leader (thesis §4.1, one server at a time): promote a learner
   * that has caught up, else add a learner with a new ID (up to nodes + 2 members) or remove a
   * voter (down to 3, the leader included sometimes). Refusals of the core (a change pending,
   * leadership lost) are normal and skipped.
   */
  private changeMembership(r: Rng): void {
    const leader = this.leaderId();
    if (leader === 0) return;
    const lm = this.mgrs[leader]!;
    const raft = lm.node.raft;
    const conf = raft.confState();
    const members = conf.voters.length + conf.learners.length;
    let cc: ConfChange | null = null;
    if (conf.learners.length > 0) {
      const l = conf.learners[0]!;
      const pr = lm.node.status().progress.get(l);
      if (pr !== undefined && pr.match >= raft.log.committed) cc = { type: ConfChangeType.PromoteLearner, nodeId: l };
    } else if (members < Math.min(7, this.opts.nodes + 2) && r.chance(0.5)) {
      cc = { type: ConfChangeType.AddLearner, nodeId: this.nextId };
    } else if (conf.voters.length > 3) {
      const v = conf.voters[r.int(conf.voters.length)]!;
      cc = { type: ConfChangeType.Remove, nodeId: v };
    }
    if (cc === null) return;
    try {
      this.guard(leader, (m) => { m.node.proposeConfChange(cc); m.process(); });
    } catch (err) {
      if (err instanceof ConfChangeError || err instanceof NotLeaderError || err instanceof ProposalDroppedError) return;
      throw err;
    }
    if (cc.type === ConfChangeType.AddLearner) this.nextId++;
    this.stats.confChanges++;
  }

  private scheduleNemesis(): void {
    const loop = (): void => {
      if (!this.faultsOn) return;
      this.nemesis();
      this.q.after(this.nemesisRng.range(150, 700), loop);
    };
    this.q.after(this.nemesisRng.range(300, 800), loop);
  }

  // ---------------------------------------------------------------- run

  /** Everything is up, healed and applied to the same index; returns that index or -1. */
  private settledIndex(): number {
    let idx = -1;
    let leader = false;
    for (const id of this.live) {
      const m = this.mgrs[id];
      if (m === null || m === undefined) return -1;
      const r = m.node.raft;
      if (r.role === Role.Leader) leader = true;
      if (r.log.committed !== r.log.lastIndex() || m.applied !== r.log.committed) return -1;
      if (idx === -1) idx = m.applied;
      else if (idx !== m.applied) return -1;
    }
    if (!leader) return -1;
    for (const c of this.clients) if (c.op !== null) return -1;
    return idx;
  }

  /** q.runUntil(t) in 100 ms slices, failing on an event storm. */
  private advance(t: number): void {
    while (this.q.now < t) {
      this.q.runUntil(Math.min(t, this.q.now + 100));
      const max = MAX_EVENTS_PER_MS * (this.opts.durationMs + SETTLE_LIMIT_MS);
      if (this.q.executed > max) throw new EventStorm(`event storm: more than ${max} events by ${this.q.now.toFixed(0)} ms (${this.q.size} pending): ${this.describeNodes()}`);
    }
  }

  run(): SeedResult {
    const o = this.opts;
    let failure: SeedResult['failure'];
    let lin: CheckResult | null = null;
    let checkMs = 0;
    try {
      for (const c of this.clients) c.start();
      this.scheduleNemesis();
      this.advance(o.durationMs);
      // Heal: no new faults or client ops, every node back, network clean.
      this.faultsOn = false;
      for (const c of this.clients) c.stopped = true;
      this.net.heal();
      this.partitioned = false;
      for (const id of this.live) this.net.setProcessingDelay(this.addr(id), 0);
      this.advance(o.durationMs + 1); // let power cuts armed just before the end fire or lapse
      for (const id of [...this.live]) {
        const fs = this.cutFss[id]!;
        if (fs.armed) fs.reset();
        this.restart(id);
      }
      // Settle: run in slices until all managers applied the same last index.
      const limit = this.q.now + SETTLE_LIMIT_MS;
      let idx = -1;
      while (this.q.now < limit) {
        this.advance(this.q.now + 100);
        idx = this.settledIndex();
        if (idx >= 0) break;
      }
      if (idx < 0) {
        failure = { kind: 'liveness', message: `the healed cluster did not converge within ${SETTLE_LIMIT_MS} ms of virtual time: ${this.describeNodes()}` };
      } else {
        const first = this.live[0]!;
        const ref = this.mgrs[first]!.sm.snapshot();
        for (const id of this.live) {
          const s = this.mgrs[id]!.sm.snapshot();
          if (s.length !== ref.length || s.some((b, i) => b !== ref[i])) {
            throw new InvariantViolation('state machine safety', `after settling at index ${idx}, node ${id}'s state differs from node ${first}'s`);
          }
        }
        this.monitor.finalCheck(idx);
        const t0 = performance.now();
        lin = checkLinearizable(this.history);
        checkMs = performance.now() - t0;
        if (lin.status !== 'ok') failure = { kind: 'linearizability', message: `${lin.status}: ${lin.counterexample ?? ''}` };
      }
    } catch (err) {
      if (err instanceof InvariantViolation) failure = { kind: 'invariant', message: `${err.message} (at ${this.q.now.toFixed(2)} ms)` };
      else if (err instanceof EventStorm) failure = { kind: 'liveness', message: err.message };
      else failure = { kind: 'exception', message: `${err instanceof Error ? err.stack ?? err.message : String(err)} (at ${this.q.now.toFixed(2)} ms)` };
    }
    let ops = 0;
    for (const h of this.history) if (h.ret !== Infinity || h.kind !== 'get') ops++;
    return {
      seed: o.seed,
      ok: failure === undefined,
      ...(failure !== undefined ? { failure } : {}),
      ops,
      ackedWrites: this.monitor.ackedWrites,
      reads: this.stats.reads,
      unknownOps: this.stats.unknownOps,
      elections: this.monitor.elections,
      crashes: this.stats.crashes,
      powerCuts: this.stats.powerCuts,
      partitions: this.stats.partitions,
      transfers: this.stats.transfers,
      snapshotsSent: this.stats.snapshotsSent,
      snapshotsTaken: this.stats.snapshotsTaken,
      confChanges: this.stats.confChanges,
      silentLoss: this.silentLoss,
      messages: this.stats.messages,
      badMessages: this.stats.badMessages,
      linearizability: lin,
      checkMs,
      virtualMs: this.q.now,
      events: this.q.executed,
    };
  }

  private describeNodes(): string {
    const parts: string[] = [];
    for (const id of this.live) {
      const m = this.mgrs[id];
      if (m === null || m === undefined) { parts.push(`${id}: down`); continue; }
      const s = m.node.status();
      parts.push(`${id}: ${s.role} term ${s.term} lead ${s.leader} commit ${s.commit} last ${m.node.raft.log.lastIndex()} applied ${m.applied} voters ${s.conf.voters.join(',')} learners ${s.conf.learners.join(',')}`);
    }
    return parts.join('; ');
  }
}

/** Run one seed end to end. Never throws for a failure of the system under test: see SeedResult.failure. */
export function runSeed(opts: SimOptions): SeedResult {
  return new Sim(opts).run();
}
