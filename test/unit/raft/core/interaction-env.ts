// A cluster of RawNodes over an in-memory network, driven by datadriven commands, in the
// style of etcd-io/raft's rafttest/interaction_env. Each node persists to a MemoryStorage,
// applies committed entries to a list of strings, and sends messages into a shared queue
// that `deliver-msgs` / `stabilize` drain. Output is one line per event so that golden files
// read like a protocol trace.

import type { DataDrivenCase } from '../../../util/datadriven.js';
import { arg, intArg } from '../../../util/datadriven.js';
import { defaultRaftConfig } from '../../../../src/control/raft/core/config.js';
import type { RaftConfig } from '../../../../src/control/raft/core/config.js';
import { decodeConfChange } from '../../../../src/control/raft/core/codec.js';
import { MemoryStorage } from '../../../../src/control/raft/core/memory-storage.js';
import { RawNode } from '../../../../src/control/raft/core/raw-node.js';
import type { Ready } from '../../../../src/control/raft/core/raw-node.js';
import type { ConfChange, Entry, Message } from '../../../../src/control/raft/core/types.js';
import { CONF_CHANGE_NAMES, ConfChangeType, ENTRY_CONF_CHANGE, MESSAGE_TYPE_NAMES, Role, ROLE_NAMES } from '../../../../src/control/raft/core/types.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function describeEntry(e: Entry): string {
  if (e.type === ENTRY_CONF_CHANGE) {
    const cc = decodeConfChange(e.data);
    return `${e.term}/${e.index} ${cc === undefined ? 'conf:?' : `conf:${CONF_CHANGE_NAMES[cc.type]}=${cc.nodeId}`}`;
  }
  return `${e.term}/${e.index} ${JSON.stringify(dec.decode(e.data))}`;
}

export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${MESSAGE_TYPE_NAMES[m.type]} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.entries.length > 0) s += ` Entries:[${m.entries.map(describeEntry).join(', ')}]`;
  if (m.snapshot !== null) {
    const sm = m.snapshot.meta;
    s += ` Snapshot:{Index:${sm.index} Term:${sm.term} Voters:[${sm.conf.voters.join(' ')}] Learners:[${sm.conf.learners.join(' ')}]} Chunk:${m.snapOffset}+${m.snapshot.data.length}/${m.snapTotal}`;
  }
  if (m.context.length > 0) s += ` Ctx:${JSON.stringify(dec.decode(m.context))}`;
  return s;
}

interface EnvNode {
  id: number;
  storage: MemoryStorage;
  node: RawNode;
  /** The state machine: applied normal entries' data, in order. */
  applied: string[];
  /** Log index at which each element of `applied` was applied. */
  appliedAt: number[];
  cfg: RaftConfig;
}

interface DropRule {
  to: number;
  type: string;
  skip: number;
  count: number;
}

export class InteractionEnv {
  readonly nodes = new Map<number, EnvNode>();
  queue: Message[] = [];
  private isolated = new Set<number>();
  private drops: DropRule[] = [];
  private out: string[] = [];

  handle(c: DataDrivenCase): string {
    this.out = [];
    try {
      this.dispatch(c);
    } catch (e) {
      const err = e as Error & { code?: string };
      this.out.push(`error: ${err.code ?? err.name}: ${err.message}`);
    }
    return this.out.join('\n');
  }

  private ids(c: DataDrivenCase): number[] {
    const out: number[] = [];
    for (const k of c.args.keys()) if (/^\d+$/.test(k)) out.push(Number(k));
    return out.length > 0 ? out : [...this.nodes.keys()].sort((a, b) => a - b);
  }

  private get(id: number): EnvNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  private dispatch(c: DataDrivenCase): void {
    switch (c.cmd) {
      case 'add-nodes':
        return this.addNodes(c);
      case 'campaign':
        this.get(this.ids(c)[0]!).node.campaign();
        return;
      case 'process-ready':
        for (const id of this.ids(c)) this.processReady(id);
        return;
      case 'deliver-msgs':
        for (const id of this.ids(c)) this.deliver(id);
        return;
      case 'stabilize':
        return this.stabilize(this.ids(c));
      case 'tick-heartbeat':
        for (const id of this.ids(c)) {
          const n = this.get(id);
          for (let i = 0; i < n.cfg.heartbeatTicks; i++) n.node.tick();
        }
        return;
      case 'tick-election':
        // A leader ticks one election timeout; others tick their randomized timeout, which
        // the injected RNG makes electionTicks + (id-1) % electionTicks: node 1 fires first.
        for (const id of this.ids(c)) {
          const n = this.get(id);
          const r = n.node.raft;
          const ticks = r.role === Role.Leader ? n.cfg.electionTicks : r.randomizedElectionTimeout;
          for (let i = 0; i < ticks; i++) n.node.tick();
        }
        return;
      case 'tick':
        for (const id of this.ids(c)) for (let i = 0; i < intArg(c, 'n', 1); i++) this.get(id).node.tick();
        return;
      case 'propose': {
        const [idS, data] = [...c.args.keys()];
        const r = this.get(Number(idS)).node.propose(enc.encode(data ?? ''));
        this.out.push(`proposed ${r.term}/${r.index}`);
        return;
      }
      case 'propose-conf-change': {
        const id = this.ids(c)[0]!;
        const kinds: [string, ConfChangeType][] = [
          ['add-voter', ConfChangeType.AddVoter], ['add-learner', ConfChangeType.AddLearner], ['remove', ConfChangeType.Remove], ['promote', ConfChangeType.PromoteLearner],
        ];
        for (const [k, t] of kinds) {
          if (!c.args.has(k)) continue;
          const cc: ConfChange = { type: t, nodeId: intArg(c, k) };
          const r = this.get(id).node.proposeConfChange(cc);
          this.out.push(`proposed ${r.term}/${r.index} ${k}=${cc.nodeId}`);
        }
        return;
      }
      case 'partition':
        this.isolated = new Set(this.ids(c));
        return;
      case 'heal':
        this.isolated.clear();
        return;
      case 'drop':
        this.drops.push({ to: intArg(c, 'to'), type: arg(c, 'type'), skip: intArg(c, 'skip', 0), count: intArg(c, 'count', 1) });
        return;
      case 'status':
        for (const id of this.ids(c)) this.status(id);
        return;
      case 'raft-state':
        for (const id of [...this.nodes.keys()].sort((a, b) => a - b)) {
          const st = this.get(id).node.status();
          this.out.push(`${id}: ${st.role} Term:${st.term} Lead:${st.leader}`);
        }
        return;
      case 'raft-log':
        for (const id of this.ids(c)) this.raftLog(id);
        return;
      case 'compact': {
        const id = this.ids(c)[0]!;
        const n = this.get(id);
        const at = intArg(c, 'index');
        n.storage.createSnapshot(at, n.node.raft.confState(), enc.encode(JSON.stringify(n.applied.slice(0, this.appliedCountAt(n, at)))));
        n.storage.compact(at);
        this.raftLog(id);
        return;
      }
      case 'transfer-leader':
        this.get(intArg(c, 'from')).node.transferLeader(intArg(c, 'to'));
        return;
      case 'read-index': {
        const [idS, ctx] = [...c.args.keys()];
        this.get(Number(idS)).node.readIndex(enc.encode(ctx ?? ''));
        return;
      }
      case 'restart': {
        // Crash and restart from storage: unstable state, messages in flight to it are lost.
        const id = this.ids(c)[0]!;
        const n = this.get(id);
        this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
        n.cfg = { ...n.cfg, storage: n.storage, applied: 0 };
        n.applied = [];
        n.appliedAt = [];
        n.node = new RawNode(n.cfg);
        return;
      }
      default:
        throw new Error(`${c.pos}: unknown command ${c.cmd}`);
    }
  }

  /** How many normal entries the state machine held at log index `at` (for snapshot data). */
  private appliedCountAt(n: EnvNode, at: number): number {
    let count = 0;
    while (count < n.appliedAt.length && n.appliedAt[count]! <= at) count++;
    return count;
  }

  private addNodes(c: DataDrivenCase): void {
    const count = Number([...c.args.keys()][0]);
    const voters = (c.args.get('voters') ?? []).map(Number);
    const learners = (c.args.get('learners') ?? []).map(Number);
    let next = 1;
    while (this.nodes.has(next)) next++;
    for (let k = 0; k < count; k++) {
      const id = next + k;
      const storage = new MemoryStorage({ voters, learners });
      const cfg = defaultRaftConfig(id, storage, (m) => (id - 1) % m);
      cfg.electionTicks = intArg(c, 'election', 10);
      cfg.heartbeatTicks = intArg(c, 'heartbeat', 1);
      cfg.preVote = arg(c, 'prevote', 'true') === 'true';
      cfg.checkQuorum = arg(c, 'checkquorum', 'true') === 'true';
      cfg.snapshotChunkBytes = intArg(c, 'chunk', 1 << 16);
      cfg.snapshotTimeoutTicks = intArg(c, 'snap-timeout', 20);
      cfg.maxSizePerMsg = intArg(c, 'max-msg-size', 1 << 20);
      cfg.maxInflightMsgs = intArg(c, 'max-inflight', 256);
      cfg.maxUncommittedEntriesSize = intArg(c, 'max-uncommitted', 1 << 20);
      this.nodes.set(id, { id, storage, node: new RawNode(cfg), applied: [], appliedAt: [], cfg });
    }
  }

  private status(id: number): void {
    const st = this.get(id).node.status();
    this.out.push(`${id}: ${st.role} Term:${st.term} Vote:${st.vote} Lead:${st.leader} Commit:${st.commit} Applied:${st.applied} Voters:[${st.conf.voters.join(' ')}] Learners:[${st.conf.learners.join(' ')}]`);
    for (const [pid, p] of st.progress) {
      this.out.push(`  ${pid}: ${p.state} match=${p.match} next=${p.next}${p.inflight > 0 ? ` inflight=${p.inflight}` : ''}${p.isLearner ? ' learner' : ''}`);
    }
  }

  private raftLog(id: number): void {
    const n = this.get(id);
    const s = n.storage;
    const ents = s.entries(s.firstIndex(), s.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
    if (s.firstIndex() > 1) this.out.push(`snapshot ${s.snapshot().meta.term}/${s.snapshot().meta.index}`);
    if (ents.length === 0) this.out.push('log is empty');
    for (const e of ents) this.out.push(describeEntry(e));
  }

  processReady(id: number): void {
    const n = this.get(id);
    if (!n.node.hasReady()) return;
    const rd: Ready = n.node.ready();
    this.out.push(`> ${id} handling Ready`);
    const o = (s: string): void => void this.out.push(`  ${s}`);
    if (rd.softState !== null) o(`State:${ROLE_NAMES[rd.softState.role]} Lead:${rd.softState.lead}`);
    if (rd.hardState !== null) o(`HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote} Commit:${rd.hardState.commit}${rd.mustSync ? '' : ' (no sync)'}`);
    if (rd.snapshot !== null) {
      const sm = rd.snapshot.meta;
      o(`Snapshot Index:${sm.index} Term:${sm.term} Voters:[${sm.conf.voters.join(' ')}] Learners:[${sm.conf.learners.join(' ')}]`);
      n.storage.applySnapshot(rd.snapshot);
      n.applied = JSON.parse(dec.decode(rd.snapshot.data)) as string[];
      n.appliedAt = n.applied.map(() => sm.index);
    }
    if (rd.entries.length > 0) {
      o(`Entries: ${rd.entries.map(describeEntry).join(', ')}`);
      n.storage.append(rd.entries);
    }
    if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
    if (rd.committedEntries.length > 0) o(`CommittedEntries: ${rd.committedEntries.map(describeEntry).join(', ')}`);
    for (const e of rd.committedEntries) {
      if (e.type === ENTRY_CONF_CHANGE) {
        const cc = decodeConfChange(e.data);
        if (cc !== undefined) {
          const cs = n.node.applyConfChange(cc);
          o(`ConfState Voters:[${cs.voters.join(' ')}] Learners:[${cs.learners.join(' ')}]`);
        }
      } else if (e.data.length > 0) {
        n.applied.push(dec.decode(e.data));
        n.appliedAt.push(e.index);
      }
    }
    for (const m of rd.messages) {
      o(describeMessage(m));
      this.queue.push(m);
    }
    for (const rs of rd.readStates) o(`ReadState Index:${rs.index} Ctx:${JSON.stringify(dec.decode(rs.requestCtx))}`);
    n.node.advance();
  }

  private shouldDrop(m: Message): boolean {
    if (this.isolated.size > 0 && this.isolated.has(m.from) !== this.isolated.has(m.to)) return true;
    for (const r of this.drops) {
      if (r.count <= 0 || r.to !== m.to || MESSAGE_TYPE_NAMES[m.type] !== r.type) continue;
      if (r.skip > 0) {
        r.skip--;
        continue;
      }
      r.count--;
      return true;
    }
    return false;
  }

  deliver(id: number): void {
    const mine = this.queue.filter((m) => m.to === id);
    if (mine.length === 0) return;
    this.queue = this.queue.filter((m) => m.to !== id);
    this.out.push(`> ${id} receiving messages`);
    const n = this.nodes.get(id);
    for (const m of mine) {
      if (n === undefined || this.shouldDrop(m)) {
        this.out.push(`  ${describeMessage(m)} DROPPED`);
        continue;
      }
      this.out.push(`  ${describeMessage(m)}`);
      n.node.step(m);
    }
  }

  private stabilize(ids: number[]): void {
    for (let round = 0; round < 1000; round++) {
      let busy = false;
      for (const id of ids) {
        while (this.get(id).node.hasReady()) {
          busy = true;
          this.processReady(id);
        }
      }
      for (const id of ids) {
        if (this.queue.some((m) => m.to === id)) {
          busy = true;
          this.deliver(id);
        }
      }
      if (!busy) return;
    }
    throw new Error('stabilize did not converge in 1000 rounds');
  }
}

