// The Raft driver for one manager: the pure core (core/), its storage on disk (storage/), the
// TCP transport (transport.ts), the one ticker, and the replicated state machine. It follows
// the Ready contract of core/raw-node.ts exactly: persist (snapshot, entries, hard state;
// fsync when mustSync), then send, then apply, then advance.
//
// Proposals resolve when their entry is applied on THIS node (matched by a request id in the
// entry), so an acknowledged write is committed and applied. Reads are linearizable through
// ReadIndex (Raft §6.4): the read waits until this node has applied up to the index the
// leader confirmed. Without a quorum both fail after their timeout with VXM_ERR_NO_QUORUM;
// `stale` reads answer from local state and say so.

import { randomBytes, randomInt } from 'node:crypto';
import { VxmeshError } from '../../../errors.js';
import { decodeConfChange, decodeMessage, encodeMessage } from '../core/codec.js';
import { defaultRaftConfig, DEFAULT_TICK_MS } from '../core/config.js';
import { RawNode, type Ready } from '../core/raw-node.js';
import { ConfChangeType, ENTRY_CONF_CHANGE, MessageType, Role, type ConfState, type Entry, type Snapshot, type Storage } from '../core/types.js';
import { NodeFs } from '../storage/fs.js';
import { RaftStorage } from '../storage/storage.js';
import { decodeMemberContext, encodeMemberContext, Members, type MemberAddress } from './members.js';
import { RaftTransport, type PeerAddress } from './transport.js';

/** What Raft replicates: deterministic, applied in log order on every manager. */
export interface StateMachine {
  /** Applies a committed command; the result goes back to the proposer on this node. Must not throw. */
  apply(index: number, data: Uint8Array): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

/** The cluster cannot commit or confirm leadership in time: no quorum, or an election under way. */
export class NoQuorumError extends VxmeshError {
  constructor(message: string) {
    super('VXM_ERR_NO_QUORUM', message);
    this.name = 'NoQuorumError';
  }
}

/** A membership request that cannot be carried out as asked (the answer says what to do instead). */
export class MemberError extends VxmeshError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'MemberError';
  }
}

export interface RaftNodeOptions {
  id: number;
  clusterId: number;
  dataDir: string;
  /** Every manager of the initial cluster, this one included. */
  peers: PeerAddress[];
  bindHost: string;
  sm: StateMachine;
  tickMs?: number;
  /** Take a snapshot after this many applied entries (and keep catchUp entries behind it). */
  snapshotEvery?: number;
  /** Swarm's --force-new-cluster: come back as the only voter from this node's state. */
  forceNewCluster?: boolean;
  /**
   * A fresh manager joining a running cluster: it bootstraps no configuration of its own and
   * waits for the leader to add it (POST /v1/members on the leader) and send it a snapshot.
   * `peers` then names the managers it should accept connections from (the leader at least).
   */
  join?: boolean;
  onRoleChange?: (role: string, leader: number, term: number) => void;
}

/** Implementation: entries kept behind a snapshot so a briefly lagging follower needs no snapshot (etcd's SnapshotCatchUpEntries is 5000). */
const CATCH_UP_ENTRIES = 5000;
/** Implementation: etcd's default SnapshotCount is 100000; the cluster store is small, snapshot more often. */
const DEFAULT_SNAPSHOT_EVERY = 10000;
/** Protocol (ours): entry payload envelope version, then an 8-byte request id (the proposer's epoch and sequence number). */
const ENVELOPE_V1 = 1;

interface Pending {
  resolve: (v: { index: number; result: unknown }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface PendingRead {
  /** The sequence number in the read's context (see #pending). */
  ctx: number;
  index: number; // -1 until the read state arrives
  resolve: (index: number) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** The core's Storage shape over RaftStorage; optionally overriding the configuration once (force-new-cluster). */
function coreStorage(s: RaftStorage, forcedConf?: ConfState): Storage {
  return {
    initialState: () => {
      const st = s.initialState();
      return { hardState: st.hardState, conf: forcedConf ?? st.confState };
    },
    entries: (lo, hi, max) => s.entries(lo, hi, max),
    term: (i) => s.term(i),
    firstIndex: () => s.firstIndex(),
    lastIndex: () => s.lastIndex(),
    snapshot: () => s.snapshot(),
  };
}

export class RaftNode {
  readonly id: number;
  readonly storage: RaftStorage;
  readonly node: RawNode;
  readonly transport: RaftTransport;
  readonly counters = { proposals: 0, applied: 0, snapshots: 0, readIndex: 0, timeouts: 0, badMessages: 0 };
  #applied: number;
  #conf: ConfState;
  #role = 'StateFollower';
  #leader = 0;
  #timer: NodeJS.Timeout | undefined;
  /**
   * Proposals waiting to be applied here, by sequence number. A proposal's request id is this
   * process's random epoch and that number, so an entry proposed by another manager, or by an
   * earlier run of this one, never resolves a pending write (no random bytes per proposal).
   */
  readonly #pending = new Map<number, Pending>();
  readonly #epoch = randomBytes(4).readUInt32BE(0);
  #nextSeq = 0;
  readonly #reads: PendingRead[] = [];
  readonly #o: RaftNodeOptions;
  #closed = false;
  #scheduled = false;
  #inProcess = false;
  #syncing = false;
  #snapshotNow = false;
  /** force-new-cluster: the one-voter configuration is not in a snapshot yet. */
  #forcePending = false;
  /** Where each manager listens, and the ids removed for good (replicated, see members.ts). */
  readonly #members = new Members();
  /** Membership changes waiting for their entry to be applied here. */
  readonly #confWaits: { index: number; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];

  constructor(o: RaftNodeOptions) {
    this.#o = o;
    this.id = o.id;
    this.storage = RaftStorage.open(o.dataDir, new NodeFs(), { preallocate: true });
    const st = this.storage.initialState();
    const snap = this.storage.snapshot();
    const self = o.peers.find((p) => p.id === o.id);
    if (!self) throw new VxmeshError('VXM_ERR_CONFIG', `raft: manager ${o.id} is not in the peer list: add it`);
    for (const p of o.peers) this.#members.addresses.set(p.id, { host: p.host, port: p.port });
    if (st.hardState.term === 0 && snap.meta.index === 0 && this.storage.lastIndex() === 0 && !o.join) {
      // A fresh manager of a new cluster: every one bootstraps the same configuration as a
      // snapshot at index 1, term 1 (the state machine empty), so no manager needs a leader
      // to learn who the voters are.
      const boot: Snapshot = { meta: { index: 1, term: 1, conf: { voters: o.peers.map((p) => p.id).sort((a, b) => a - b), learners: [] } }, data: this.#members.wrap(o.sm.snapshot()) };
      this.storage.applySnapshot(boot);
      this.storage.setHardState({ term: 1, vote: 0, commit: 1 });
    }
    const s2 = this.storage.snapshot();
    if (s2.meta.index > 0) o.sm.restore(this.#members.unwrap(s2.data));
    // Addresses from the flags fill in what the snapshot does not know (an older snapshot);
    // the replicated list wins, and conf changes replayed below update it.
    for (const p of o.peers) if (!this.#members.addresses.has(p.id) && !this.#members.removed.has(p.id)) this.#members.addresses.set(p.id, { host: p.host, port: p.port });
    this.#applied = s2.meta.index;
    this.#conf = { voters: [...s2.meta.conf.voters], learners: [...s2.meta.conf.learners] };
    let forced: ConfState | undefined;
    if (o.forceNewCluster) {
      forced = { voters: [o.id], learners: [] };
      // The old managers' ids are never reused (swarm: they rejoin as new managers).
      for (const v of [...this.#conf.voters, ...this.#conf.learners, ...this.#members.addresses.keys()]) {
        if (v === o.id) continue;
        this.#members.removed.add(v);
        this.#members.addresses.delete(v);
      }
      this.#conf = forced;
      this.#forcePending = true;
    }
    const cfg = defaultRaftConfig(o.id, coreStorage(this.storage, forced), (n) => randomInt(n));
    cfg.applied = this.#applied;
    // Commit notices ride on the next MsgApp or heartbeat (config.ts: one message and one
    // follower WAL write fewer per write).
    cfg.piggybackCommit = true;
    cfg.removedIds = [...this.#members.removed];
    this.node = new RawNode(cfg);
    this.transport = new RaftTransport({
      self: o.id, clusterId: o.clusterId, bindHost: o.bindHost, port: self.port,
      peers: [...this.#members.addresses].map(([id, a]) => ({ id, host: a.host, port: a.port })),
      onMessage: (from, bytes) => this.#onMessage(from, bytes),
      onBatchEnd: () => this.#schedule(),
      onUnreachable: (peer) => this.node.reportUnreachable(peer),
    });
  }

  async start(): Promise<void> {
    await this.transport.listen();
    this.#timer = setInterval(() => {
      this.node.tick();
      this.#process();
    }, this.#o.tickMs ?? DEFAULT_TICK_MS);
    if (this.#o.forceNewCluster) this.node.campaign();
    this.#process();
  }

  get leader(): number {
    return this.#leader;
  }

  get role(): string {
    return this.#role;
  }

  get applied(): number {
    return this.#applied;
  }

  /** Proposes a command; resolves with its index and the state machine's result once applied here. */
  propose(payload: Uint8Array, timeoutMs = 5000): Promise<{ index: number; result: unknown }> {
    const seq = (this.#nextSeq = (this.#nextSeq + 1) >>> 0);
    const data = new Uint8Array(9 + payload.length);
    const dv = new DataView(data.buffer);
    data[0] = ENVELOPE_V1;
    dv.setUint32(1, this.#epoch);
    dv.setUint32(5, seq);
    data.set(payload, 9);
    this.node.propose(data); // throws NotLeaderError / ProposalDroppedError synchronously
    this.counters.proposals++;
    const p = new Promise<{ index: number; result: unknown }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        this.counters.timeouts++;
        reject(new NoQuorumError(`raft: the write was not committed within ${timeoutMs} ms: no quorum of managers is reachable (it may still be applied if one returns)`));
      }, timeoutMs);
      this.#pending.set(seq, { resolve, reject, timer });
    });
    this.#schedule();
    return p;
  }

  /** A linearizable read barrier: resolves once this node has applied everything committed before the call. */
  readBarrier(timeoutMs = 5000): Promise<number> {
    const seq = (this.#nextSeq = (this.#nextSeq + 1) >>> 0);
    const ctx = new Uint8Array(8);
    const dv = new DataView(ctx.buffer);
    dv.setUint32(0, this.#epoch);
    dv.setUint32(4, seq);
    try {
      this.node.readIndex(ctx);
    } catch (err) {
      // No leader to confirm against: the same answer as a read that times out.
      const msg = err instanceof Error ? err.message : String(err);
      return Promise.reject(new NoQuorumError(`raft: no leader to confirm the read (${msg}): a quorum of managers may be unreachable; read with stale=true to see this manager's possibly stale state`));
    }
    const key = seq;
    this.counters.readIndex++;
    // The read state arrives in a later Ready (#schedule below), after this is registered.
    const p = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#reads.findIndex((r) => r.ctx === key);
        if (i >= 0) this.#reads.splice(i, 1);
        this.counters.timeouts++;
        reject(new NoQuorumError(`raft: leadership could not be confirmed within ${timeoutMs} ms: no quorum of managers is reachable; read with stale=true to see this manager's possibly stale state`));
      }, timeoutMs);
      this.#reads.push({ ctx: key, index: -1, resolve, reject, timer });
    });
    this.#schedule();
    return p;
  }

  transferLeader(to: number): void {
    this.node.transferLeader(to);
    this.#process();
  }

  status(): Record<string, unknown> {
    const st = this.node.status();
    return {
      id: st.id, term: st.term, role: st.role, leader: st.leader, commit: st.commit, applied: this.#applied,
      conf: this.#conf, progress: Object.fromEntries([...st.progress].map(([id, p]) => [id, { match: p.match, next: p.next, state: p.state }])),
      counters: this.counters, transport: this.transport.counters,
    };
  }

  /** Every manager in the configuration, with its address and, on the leader, how far it has replicated. */
  members(): { id: number; role: 'voter' | 'learner'; host?: string; port?: number; match?: number; leader: boolean }[] {
    const st = this.node.status();
    const row = (id: number, role: 'voter' | 'learner') => {
      const a = this.#members.addresses.get(id);
      const pr = st.progress.get(id);
      return { id, role, ...(a ? { host: a.host, port: a.port } : {}), ...(pr ? { match: pr.match } : {}), leader: id === this.#leader };
    };
    return [...this.#conf.voters.map((id) => row(id, 'voter')), ...this.#conf.learners.map((id) => row(id, 'learner'))];
  }

  /** The address of a manager, if the configuration knows it. */
  memberAddress(id: number): MemberAddress | undefined {
    return this.#members.addresses.get(id);
  }

  /**
   * Adds a manager the safe way (Raft thesis §4.2.1): first as a learner that receives the log
   * without voting, then, once it has caught up with the commit index, promoted to voter, so
   * the quorum never waits on a manager that is still downloading the state. On the leader
   * only (NotLeaderError otherwise). The new manager must already run with `join`.
   */
  async addMember(id: number, address: MemberAddress, timeoutMs = 30_000): Promise<{ index: number }> {
    const deadline = Date.now() + timeoutMs;
    if (this.#conf.voters.includes(id)) throw new MemberError('VXM_ERR_MEMBER_EXISTS', `manager ${id} is already a voter: nothing to do`);
    if (!this.#conf.learners.includes(id)) {
      const r = this.node.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: id, context: encodeMemberContext(address) });
      this.#schedule();
      await this.#waitApplied(r.index, deadline);
      if (!this.#conf.learners.includes(id)) throw new NoQuorumError(`raft: the change adding manager ${id} was lost to a leader change; retry`);
    }
    // Catch-up: the learner's log must reach what is committed now.
    const target = this.node.status().commit;
    for (;;) {
      const pr = this.node.status().progress.get(id);
      if (pr && pr.match >= target) break;
      if (this.#role !== 'StateLeader') throw new NoQuorumError(`raft: leadership moved while manager ${id} was catching up; it stays a learner: POST it again to the new leader`);
      if (Date.now() > deadline) {
        throw new MemberError('VXM_ERR_MEMBER_NOT_CAUGHT_UP', `manager ${id} did not catch up with the log in time (replicated ${pr?.match ?? 0} of ${target}); it stays a learner: check that it runs with --join and that ${address.host}:${address.port} is reachable, then POST it again, or DELETE it`);
      }
      await new Promise((r) => setTimeout(r, this.#o.tickMs ?? DEFAULT_TICK_MS));
    }
    const r = this.node.proposeConfChange({ type: ConfChangeType.PromoteLearner, nodeId: id });
    this.#schedule();
    await this.#waitApplied(r.index, deadline);
    if (!this.#conf.voters.includes(id)) throw new NoQuorumError(`raft: the promotion of manager ${id} was lost to a leader change; it stays a learner: POST it again`);
    return { index: r.index };
  }

  /** Removes a manager from the configuration for good (its id is never reused). On the leader only. */
  async removeMember(id: number, timeoutMs = 10_000): Promise<{ index: number }> {
    if (!this.#conf.voters.includes(id) && !this.#conf.learners.includes(id)) throw new MemberError('VXM_ERR_MEMBER_NOT_FOUND', `manager ${id} is not in the configuration: see GET /v1/members`);
    const r = this.node.proposeConfChange({ type: ConfChangeType.Remove, nodeId: id });
    this.#schedule();
    await this.#waitApplied(r.index, Date.now() + timeoutMs);
    return { index: r.index };
  }

  #waitApplied(index: number, deadline: number): Promise<void> {
    if (this.#applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#confWaits.findIndex((w) => w.timer === timer);
        if (i >= 0) this.#confWaits.splice(i, 1);
        reject(new NoQuorumError(`raft: the membership change at index ${index} was not applied in time: no quorum of managers is reachable (it may still be applied if one returns)`));
      }, Math.max(0, deadline - Date.now()));
      this.#confWaits.push({ index, resolve, reject, timer });
    });
  }

  #resolveConfWaits(): void {
    for (let i = 0; i < this.#confWaits.length;) {
      const w = this.#confWaits[i]!;
      if (this.#applied >= w.index) {
        clearTimeout(w.timer);
        this.#confWaits.splice(i, 1);
        w.resolve();
      } else {
        i++;
      }
    }
  }

  /** The transport talks to exactly the managers with an address that are not removed. */
  #syncPeers(): void {
    for (const [id, a] of this.#members.addresses) this.transport.addPeer({ id, host: a.host, port: a.port });
    for (const p of this.transport.peers()) if (!this.#members.addresses.has(p.id)) this.transport.removePeer(p.id);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.transport.close();
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new VxmeshError('VXM_ERR_CLOSED', 'raft: the manager stopped before the write was applied'));
    }
    this.#pending.clear();
    for (const r of this.#reads) {
      clearTimeout(r.timer);
      r.reject(new VxmeshError('VXM_ERR_CLOSED', 'raft: the manager stopped'));
    }
    this.#reads.length = 0;
    for (const w of this.#confWaits) {
      clearTimeout(w.timer);
      w.reject(new VxmeshError('VXM_ERR_CLOSED', 'raft: the manager stopped'));
    }
    this.#confWaits.length = 0;
    // An fdatasync in flight owns the WAL's fd until it returns.
    if (!this.#syncing) this.storage.close();
  }

  #onMessage(from: number, bytes: Uint8Array): void {
    const d = decodeMessage(bytes);
    if (!d.ok || d.msg.from !== from) {
      this.counters.badMessages++;
      return;
    }
    // The Ready runs once the whole socket read is stepped (onBatchEnd).
    this.node.step(d.msg);
  }

  /**
   * Runs the Ready loop: at once when the disk is idle (lowest latency for a lone request), or,
   * while an fdatasync is in flight, when it returns, so everything that arrived meanwhile
   * shares the next Ready: one WAL write and one sync for all of it (etcd batches the same
   * way). Never re-entered.
   */
  #schedule(): void {
    if (this.#syncing || this.#scheduled) return;
    if (!this.#inProcess) {
      this.#process();
      return;
    }
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#process();
    });
  }

  /**
   * The Ready loop (core/raw-node.ts): persist, send, apply, advance. The WAL write is inline;
   * its fdatasync runs on libuv's thread pool while the event loop keeps reading the network
   * (messages are stepped into the core, which holds them for the next Ready), so one Ready's
   * sync overlaps the next batch's arrival, as etcd overlaps its fsync with its network.
   */
  #process(): void {
    if (this.#inProcess) return;
    this.#inProcess = true;
    try {
      this.#processReady();
    } finally {
      this.#inProcess = false;
    }
  }

  #processReady(): void {
    const node = this.node;
    while (!this.#closed && !this.#syncing && node.hasReady()) {
      const rd = node.ready();
      // The leader's appends go out before its own write (thesis §10.2.1): the followers'
      // fsyncs overlap the leader's, and the core counts the leader's own copy for commit only
      // in advance(), after the write. Everything else waits for the write.
      const leading = node.raft.role === Role.Leader;
      if (leading) {
        for (const m of rd.messages) if (m.type === MessageType.App) this.transport.send(m.to, encodeMessage(m));
        this.transport.flush();
      }
      // 1. persist
      if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
      if (rd.entries.length > 0 || rd.hardState) this.storage.save(rd.hardState, rd.entries, { sync: false });
      if (rd.mustSync) {
        this.#syncing = true;
        this.storage.syncAsync((err) => {
          this.#syncing = false;
          if (this.#closed) return void this.storage.close();
          if (err) {
            // Durability unknown: stop rather than acknowledge anything (etcd panics here too).
            this.close();
            process.nextTick(() => {
              throw new VxmeshError('VXM_ERR_WAL_SYNC', `raft: fdatasync of the WAL in ${this.#o.dataDir} failed (${err.message}): the manager stopped; check the disk, then restart it`);
            });
            return;
          }
          this.#finish(rd, leading);
          this.#process();
        });
        return;
      }
      this.#finish(rd, leading);
    }
    if (this.#syncing || this.#closed) return;
    if (this.#forcePending && this.#role === 'StateLeader' && this.#applied > this.storage.snapshot().meta.index) {
      // force-new-cluster is durable once a snapshot says this manager is the only voter
      // (the snapshot's configuration is what every later start reads).
      this.storage.createSnapshot(this.#applied, this.#conf, this.#members.wrap(this.#o.sm.snapshot()));
      this.#forcePending = false;
    }
    this.#maybeSnapshot();
  }

  /** Steps 2-5 of a Ready whose write is durable. */
  #finish(rd: Ready, leading: boolean): void {
    // 2. send
    for (const m of rd.messages) if (!(leading && m.type === MessageType.App)) this.transport.send(m.to, encodeMessage(m));
    // A leader's answers to clients go first (the commit notices follow at the check phase);
    // a follower's acknowledgements are what the leader waits for.
    if (!leading) this.transport.flush();
    // 3. apply
    if (rd.snapshot) {
      this.#o.sm.restore(this.#members.unwrap(rd.snapshot.data));
      this.#syncPeers();
      this.#applied = rd.snapshot.meta.index;
      this.#conf = { voters: [...rd.snapshot.meta.conf.voters], learners: [...rd.snapshot.meta.conf.learners] };
    }
    for (const e of rd.committedEntries) this.#apply(e);
    if (this.#confWaits.length > 0) this.#resolveConfWaits();
    // 4. reads
    for (const rs of rd.readStates) {
      const c = rs.requestCtx;
      if (c.length !== 8) continue;
      const dv = new DataView(c.buffer, c.byteOffset, 8);
      if (dv.getUint32(0) !== this.#epoch) continue;
      const seq = dv.getUint32(4);
      const r = this.#reads.find((x) => x.ctx === seq);
      if (r) r.index = rs.index;
    }
    if (rd.softState) {
      this.#role = ['StateFollower', 'StatePreCandidate', 'StateCandidate', 'StateLeader'][rd.softState.role] ?? String(rd.softState.role);
      this.#leader = rd.softState.lead;
      this.#o.onRoleChange?.(this.#role, this.#leader, this.node.status().term);
    }
    // 5. advance
    this.node.advance();
    this.#serveReads();
  }

  #apply(e: Entry): void {
    this.#applied = e.index;
    this.counters.applied++;
    if (e.type === ENTRY_CONF_CHANGE) {
      const cc = decodeConfChange(e.data);
      if (cc) {
        this.#conf = this.node.applyConfChange(cc);
        if (cc.type === ConfChangeType.Remove) {
          this.#members.addresses.delete(cc.nodeId);
          this.#members.removed.add(cc.nodeId);
        } else {
          const a = decodeMemberContext(cc.context);
          if (a) this.#members.addresses.set(cc.nodeId, a);
        }
        this.#syncPeers();
        // A member that joins after the newest snapshot must not be sent a snapshot whose
        // configuration predates it (the core refuses such a snapshot, as etcd's does): take a
        // fresh one now. Found by the simulator (test/sim/raft, --no-snapshot-on-join).
        if (cc.type === ConfChangeType.AddVoter || cc.type === ConfChangeType.AddLearner) this.#snapshotNow = true;
      }
      return;
    }
    if (e.data.length < 9 || e.data[0] !== ENVELOPE_V1) return; // the leader's empty entry, or not ours
    const result = this.#o.sm.apply(e.index, e.data.subarray(9));
    const dv = new DataView(e.data.buffer, e.data.byteOffset, 9);
    if (dv.getUint32(1) !== this.#epoch) return;
    const seq = dv.getUint32(5);
    const p = this.#pending.get(seq);
    if (p) {
      this.#pending.delete(seq);
      clearTimeout(p.timer);
      p.resolve({ index: e.index, result });
    }
  }

  #serveReads(): void {
    for (let i = 0; i < this.#reads.length;) {
      const r = this.#reads[i]!;
      if (r.index >= 0 && this.#applied >= r.index) {
        clearTimeout(r.timer);
        this.#reads.splice(i, 1);
        r.resolve(r.index);
      } else {
        i++;
      }
    }
  }

  #maybeSnapshot(): void {
    const every = this.#o.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    const snapIndex = this.storage.snapshot().meta.index;
    const now = this.#snapshotNow && this.#applied > snapIndex;
    this.#snapshotNow = false;
    if (!now && this.#applied - snapIndex < every) return;
    this.storage.createSnapshot(this.#applied, this.#conf, this.#members.wrap(this.#o.sm.snapshot()));
    this.counters.snapshots++;
    const keepFrom = this.#applied - CATCH_UP_ENTRIES;
    if (keepFrom > this.storage.firstIndex()) this.storage.compact(keepFrom);
  }
}
