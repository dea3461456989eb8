// ClusterStore: the replicated state machine of cluster objects that the managers' Raft log
// drives, in the role swarmkit's manager/state/store (memdb + raft proposer) plays for swarm.
//
// Contract:
//  - apply(index, data) is called with committed entries in increasing index order (gaps are
//    fine: the driver skips its own empty entries). It is a pure function of (state, index,
//    data): no clock, no randomness, no I/O, no dependence on Map insertion order, so every
//    manager reaches the same state and the same snapshot bytes.
//  - apply never throws. A transaction is all-or-nothing: the first change that fails (stale
//    version, uniqueness, referential integrity, exhausted pool) rolls back every earlier change
//    of the same transaction and comes back as a failed ApplyResult with a coded StoreError. An
//    entry that is not a valid transaction at all (it should have been refused by
//    encodeTransaction) is counted in stats.invalidEntries and skipped, the same on every manager.
//  - Objects returned by queries and events are frozen and shared: never mutate them; build a
//    new object and propose an update naming the version you read.
//  - Watches: see change-log.ts. Callback watchers run synchronously at the end of apply and
//    must not call apply (that re-entry is refused with a failed result).

import {
  StoreConflictError,
  StoreError,
  StoreExhaustedError,
  StoreExistsError,
  StoreInUseError,
  StoreInternalError,
  StoreInvalidError,
  StoreNotFoundError,
} from './errors.js';
import { decodeTransaction, type Change, type ChangeOp, type Transaction } from './commands.js';
import { ChangeLog, StoreWatcher, type ChangeEvent, type WatchFilter } from './change-log.js';
import {
  DEFAULT_POOL_BASE,
  DEFAULT_POOL_PREFIX,
  DEFAULT_SUBNET_PREFIX,
  PoolBits,
  VNI_FIRST,
  canonicalIPv4ToNumber,
  formatIPv4,
  lowestFreeSubnet,
  lowestFreeVni,
  subnetsOverlap,
} from './ipam.js';
import {
  KINDS,
  isPlainObject,
  parseSubnet,
  readInt,
  readNetwork,
  readNode,
  readRecord,
  readService,
  readStoredPool,
  readTask,
  type AddressPool,
  type Kind,
  type Network,
  type NetworkAttachment,
  type NetworkSpec,
  type Node,
  type NodeSpec,
  type ObjectOf,
  type Service,
  type ServiceSpec,
  type StoreObject,
  type Task,
  type TaskSpec,
  type VirtualIp,
} from './schema.js';

export interface ClusterStoreOptions {
  /**
   * Change events kept in memory for watches (default 10 000). A watcher that falls further
   * behind, or asks for an older index, must re-list (StoreCompactedError). Larger: fewer
   * re-lists after a slow consumer or a brief disconnect, at roughly 200-500 bytes per event
   * (the events share the stored objects). Smaller: less memory on managers with churny tasks.
   * Local to each manager: it changes no replicated state.
   */
  watchRetention?: number;
}

export const DEFAULT_WATCH_RETENTION = 10_000;

/** Protocol (ours): snapshot bytes start with "VXMS" and this format byte. Append-only. */
export const SNAPSHOT_MAGIC = [0x56, 0x58, 0x4d, 0x53] as const;
export const SNAPSHOT_FORMAT_V1 = 1;

export type ApplyResult =
  | { ok: true; index: number; requestId: string; events: readonly ChangeEvent[] }
  | {
      ok: false;
      index: number;
      /** '' when the entry could not be decoded. */
      requestId: string;
      error: StoreError;
      /** Position of the failing change in the transaction; -1 when the entry itself is bad. */
      changeIndex: number;
    };

export interface StoreStats {
  /** Transactions applied with every change. */
  committed: number;
  /** Transactions rolled back by a failing change, by error code. */
  rejected: Record<string, number>;
  /** Entries that were not a valid transaction (counted and skipped). */
  invalidEntries: number;
  /** apply calls with an index at or below the applied index (ignored). */
  staleEntries: number;
  /** Transactions rolled back by an unexpected exception (a bug; see the error's cause). */
  internalErrors: number;
  /** Watch callbacks that threw (the watcher is closed). */
  watcherErrors: number;
}

export interface WatchOptions {
  filter?: WatchFilter;
  /** Push mode: called for every matching event, synchronously at the end of each apply. */
  onEvent?: (e: ChangeEvent) => void;
  /** Push mode: the watcher was closed by an error (compaction, restore, a throwing onEvent). */
  onError?: (err: StoreError) => void;
}

interface PoolRecord {
  readonly id: string;
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly networkId: string;
  readonly subnet: string;
  readonly bits: PoolBits;
  view?: AddressPool;
}

type Entity = Node | Network | Service | Task | PoolRecord;

/** Every replicated map and the indexes derived from it. */
class State {
  index = 0;
  readonly node = new Map<string, Node>();
  readonly network = new Map<string, Network>();
  readonly service = new Map<string, Service>();
  readonly task = new Map<string, Task>();
  readonly pool = new Map<string, PoolRecord>();
  // derived indexes
  readonly nodeNames = new Map<string, string>();
  readonly networkNames = new Map<string, string>();
  readonly serviceNames = new Map<string, string>();
  readonly vnis = new Map<number, string>();
  readonly ingressPorts = new Map<string, string>();
  readonly tasksByService = new Map<string, Set<string>>();
  readonly tasksByNode = new Map<string, Set<string>>();
  ingressNetwork = '';

  map(kind: Kind): Map<string, Entity> {
    return this[kind] as Map<string, Entity>;
  }

  put(kind: Kind, id: string, next: Entity | undefined): Entity | undefined {
    const m = this.map(kind);
    const prev = m.get(id);
    if (prev !== undefined) this.removeIndexes(kind, prev);
    if (next === undefined) m.delete(id);
    else {
      m.set(id, next);
      this.addIndexes(kind, next);
    }
    return prev;
  }

  private addIndexes(kind: Kind, e: Entity): void {
    switch (kind) {
      case 'node':
        this.nodeNames.set(nameKey((e as Node).name), e.id);
        break;
      case 'network': {
        const n = e as Network;
        this.networkNames.set(nameKey(n.name), n.id);
        this.vnis.set(n.vni, n.id);
        if (n.ingress) this.ingressNetwork = n.id;
        break;
      }
      case 'service':
        this.serviceNames.set(nameKey((e as Service).name), e.id);
        for (const p of (e as Service).endpoint.ports) if (p.mode === 'ingress') this.ingressPorts.set(portKey(p.protocol, p.published), e.id);
        break;
      case 'task': {
        const t = e as Task;
        addTo(this.tasksByService, t.serviceId, t.id);
        if (t.nodeId !== '') addTo(this.tasksByNode, t.nodeId, t.id);
        break;
      }
      case 'pool':
        break;
    }
  }

  private removeIndexes(kind: Kind, e: Entity): void {
    switch (kind) {
      case 'node':
        this.nodeNames.delete(nameKey((e as Node).name));
        break;
      case 'network': {
        const n = e as Network;
        this.networkNames.delete(nameKey(n.name));
        this.vnis.delete(n.vni);
        if (this.ingressNetwork === n.id) this.ingressNetwork = '';
        break;
      }
      case 'service':
        this.serviceNames.delete(nameKey((e as Service).name));
        for (const p of (e as Service).endpoint.ports) if (p.mode === 'ingress') this.ingressPorts.delete(portKey(p.protocol, p.published));
        break;
      case 'task': {
        const t = e as Task;
        removeFrom(this.tasksByService, t.serviceId, t.id);
        if (t.nodeId !== '') removeFrom(this.tasksByNode, t.nodeId, t.id);
        break;
      }
      case 'pool':
        break;
    }
  }
}

/** Names are DNS names: unique regardless of case (RFC 4343). */
function nameKey(name: string): string {
  return name.toLowerCase();
}

function portKey(protocol: string, port: number): string {
  return `${protocol}/${port}`;
}

function addTo(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (s === undefined) m.set(k, (s = new Set()));
  s.add(v);
}

function removeFrom(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (s === undefined) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

function sortedIds(ids: Iterable<string>): string[] {
  return [...ids].sort(compareStrings);
}

/** Code-unit order: locale-independent, the same on every manager. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function poolId(networkId: string, i: number): string {
  return `${networkId}/${i}`;
}

function poolView(r: PoolRecord): AddressPool {
  if (r.view === undefined) {
    r.view = Object.freeze({
      id: r.id,
      version: r.version,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      networkId: r.networkId,
      subnet: r.subnet,
      size: r.bits.size,
      used: r.bits.used,
    });
  }
  return r.view;
}

interface Touch {
  kind: Kind;
  id: string;
  op: ChangeOp;
  /** The object before a delete (events carry it). */
  prev?: Entity;
}

/** One transaction's undo log and the objects it touched, in first-touch order. */
interface Txn {
  index: number;
  undo: { kind: Kind; id: string; prev: Entity | undefined }[];
  touched: Map<string, Touch>;
  /** Pools already copied for this transaction (copy on first write). */
  writablePools: Set<string>;
}

export class ClusterStore {
  #s = new State();
  readonly #log: ChangeLog;
  readonly #pushWatchers = new Map<StoreWatcher, WatchOptions>();
  readonly #watchers = new Set<StoreWatcher>();
  #txn: Txn | undefined;
  #applying = false;
  readonly stats: StoreStats = { committed: 0, rejected: {}, invalidEntries: 0, staleEntries: 0, internalErrors: 0, watcherErrors: 0 };

  constructor(options: ClusterStoreOptions = {}) {
    const retention = options.watchRetention ?? DEFAULT_WATCH_RETENTION;
    if (!Number.isSafeInteger(retention) || retention < 1) {
      throw new StoreInvalidError('watchRetention', `${retention} is not a positive integer, use the default ${DEFAULT_WATCH_RETENTION} or another count of events`);
    }
    this.#log = new ChangeLog(retention);
  }

  /** Index of the last entry applied (0 before any). */
  get appliedIndex(): number {
    return this.#s.index;
  }

  // ---------------------------------------------------------------- apply

  apply(index: number, data: Uint8Array): ApplyResult {
    if (this.#applying) {
      return this.#failEntry(index, '', new StoreInternalError('apply was called from a watch callback: defer the proposal until apply returns'));
    }
    if (!Number.isSafeInteger(index) || index <= this.#s.index) {
      this.stats.staleEntries++;
      return this.#failEntry(index, '', new StoreInvalidError('index', `entry ${index} is not above the applied index ${this.#s.index}, apply committed entries once and in order`));
    }
    this.#s.index = index;
    let tx: Transaction;
    try {
      tx = decodeTransaction(data);
    } catch (e) {
      this.stats.invalidEntries++;
      const err = e instanceof StoreError ? e : new StoreInvalidError('entry', 'undecodable, propose bytes from encodeTransaction');
      return this.#failEntry(index, '', err);
    }
    this.#applying = true;
    try {
      return this.#applyTransaction(index, tx);
    } finally {
      this.#applying = false;
    }
  }

  #failEntry(index: number, requestId: string, error: StoreError): ApplyResult {
    return { ok: false, index, requestId, error, changeIndex: -1 };
  }

  #applyTransaction(index: number, tx: Transaction): ApplyResult {
    const txn: Txn = { index, undo: [], touched: new Map(), writablePools: new Set() };
    this.#txn = txn;
    let i = 0;
    try {
      for (; i < tx.changes.length; i++) this.#exec(tx.changes[i]!, `changes[${i}]`);
    } catch (e) {
      this.#rollback(txn);
      this.#txn = undefined;
      let error: StoreError;
      if (e instanceof StoreError) error = e;
      else {
        this.stats.internalErrors++;
        error = new StoreInternalError(`apply entry ${index}: unexpected ${String(e)}, report this bug (the transaction was rolled back)`, { cause: e });
      }
      this.stats.rejected[error.code] = (this.stats.rejected[error.code] ?? 0) + 1;
      return { ok: false, index, requestId: tx.requestId, error, changeIndex: i };
    }
    this.#txn = undefined;
    this.stats.committed++;
    const events: ChangeEvent[] = [];
    for (const t of txn.touched.values()) {
      const cur = t.op === 'delete' ? t.prev! : this.#s.map(t.kind).get(t.id)!;
      const object = t.kind === 'pool' ? poolView(cur as PoolRecord) : (cur as StoreObject);
      const ev: ChangeEvent = Object.freeze({ index, kind: t.kind, op: t.op, object });
      events.push(ev);
      this.#log.append(ev);
    }
    this.#notify();
    return { ok: true, index, requestId: tx.requestId, events };
  }

  #rollback(txn: Txn): void {
    for (let k = txn.undo.length - 1; k >= 0; k--) {
      const u = txn.undo[k]!;
      this.#s.put(u.kind, u.id, u.prev);
    }
  }

  /** The one mutation primitive: records the undo and the touch. */
  #put(kind: Kind, id: string, next: Entity | undefined, op: ChangeOp): void {
    const txn = this.#txn!;
    const prev = this.#s.put(kind, id, next);
    txn.undo.push({ kind, id, prev });
    const key = `${kind}\u0000${id}`;
    const t = txn.touched.get(key);
    if (t === undefined) txn.touched.set(key, op === 'delete' ? { kind, id, op, prev: prev! } : { kind, id, op });
    else if (op === 'delete') {
      if (t.op === 'create') txn.touched.delete(key);
      else {
        t.op = 'delete';
        t.prev = prev!;
      }
    }
  }

  #exec(c: Change, path: string): void {
    switch (c.kind) {
      case 'node':
        if (c.op === 'create') return this.#createNode(c.object as NodeSpec, path);
        if (c.op === 'update') return this.#updateNode(c.object as NodeSpec, c.expectedVersion, path);
        return this.#deleteNode(c.id, c.expectedVersion, path);
      case 'network':
        if (c.op === 'create') return this.#createNetwork(c.object as NetworkSpec, path);
        if (c.op === 'update') return this.#updateNetwork(c.object as NetworkSpec, c.expectedVersion, path);
        return this.#deleteNetwork(c.id, c.expectedVersion, path);
      case 'service':
        if (c.op === 'create') return this.#createService(c.object as ServiceSpec, path);
        if (c.op === 'update') return this.#updateService(c.object as ServiceSpec, c.expectedVersion, path);
        return this.#deleteService(c.id, c.expectedVersion, path);
      case 'task':
        if (c.op === 'create') return this.#createTask(c.object as TaskSpec, path);
        if (c.op === 'update') return this.#updateTask(c.object as TaskSpec, c.expectedVersion, path);
        return this.#deleteTask(c.id, c.expectedVersion, path);
    }
  }

  // ---- shared checks

  #mustNotExist(kind: Kind, id: string, path: string): void {
    if (this.#s.map(kind).has(id)) throw new StoreExistsError(`${path}.object.id`, `${kind} ${id} already exists, pick another id or update it`);
  }

  /** The current object of an update/delete, after the optimistic-concurrency check. */
  #current<T extends Entity>(kind: Kind, id: string, expectedVersion: number, path: string, idPath: string): T {
    const cur = this.#s.map(kind).get(id) as T | undefined;
    if (cur === undefined) throw new StoreNotFoundError(idPath, `${kind} ${id} does not exist, list the ${kind}s again`);
    if (cur.version !== expectedVersion) {
      throw new StoreConflictError(
        `${path}.expectedVersion`,
        `${kind} ${id} is at version ${cur.version}, not ${expectedVersion}: read it again and reapply the change`,
        expectedVersion,
        cur.version,
      );
    }
    return cur;
  }

  #checkName(names: Map<string, string>, kind: Kind, name: string, id: string, path: string): void {
    const owner = names.get(nameKey(name));
    if (owner !== undefined && owner !== id) throw new StoreExistsError(`${path}.object.name`, `${kind} name ${name} is taken by ${kind} ${owner}, pick another name`);
  }

  #meta(id: string, prev: { createdAt: number } | undefined): { id: string; version: number; createdAt: number; updatedAt: number } {
    const index = this.#txn!.index;
    return { id, version: index, createdAt: prev?.createdAt ?? index, updatedAt: index };
  }

  // ---- nodes

  #createNode(spec: NodeSpec, path: string): void {
    this.#mustNotExist('node', spec.id, path);
    this.#checkName(this.#s.nodeNames, 'node', spec.name, spec.id, path);
    this.#put('node', spec.id, Object.freeze({ ...this.#meta(spec.id, undefined), ...spec }), 'create');
  }

  #updateNode(spec: NodeSpec, expected: number, path: string): void {
    const cur = this.#current<Node>('node', spec.id, expected, path, `${path}.object.id`);
    this.#checkName(this.#s.nodeNames, 'node', spec.name, spec.id, path);
    this.#put('node', spec.id, Object.freeze({ ...this.#meta(spec.id, cur), ...spec }), 'update');
  }

  #deleteNode(id: string, expected: number, path: string): void {
    this.#current<Node>('node', id, expected, path, `${path}.id`);
    const tasks = this.#s.tasksByNode.get(id);
    if (tasks !== undefined && tasks.size > 0) {
      throw new StoreInUseError(`${path}.id`, `node ${id} has ${tasks.size} task(s) (${sortedIds(tasks)[0]} ...), delete them or move them to another node first`);
    }
    this.#put('node', id, undefined, 'delete');
  }

  // ---- networks and their pools

  #createNetwork(spec: NetworkSpec, path: string): void {
    const s = this.#s;
    this.#mustNotExist('network', spec.id, path);
    this.#checkName(s.networkNames, 'network', spec.name, spec.id, path);
    if (spec.ingress && s.ingressNetwork !== '') {
      throw new StoreExistsError(`${path}.object.ingress`, `network ${s.ingressNetwork} is already the ingress network and only one may exist, delete it first or create a plain network`);
    }
    let vni = spec.vni;
    if (vni !== 0) {
      const owner = s.vnis.get(vni);
      if (owner !== undefined) throw new StoreExistsError(`${path}.object.vni`, `VNI ${vni} is used by network ${owner}, pick another or set 0 to allocate one`);
    } else {
      vni = lowestFreeVni(s.vnis);
      if (vni < 0) throw new StoreExhaustedError(`${path}.object.vni`, `every VNI from ${VNI_FIRST} up is in use, delete unused networks`);
    }
    const taken = this.#takenSubnets();
    let subnets = spec.subnets;
    if (subnets.length === 0) {
      const base = lowestFreeSubnet(taken, DEFAULT_POOL_BASE, DEFAULT_POOL_PREFIX, DEFAULT_SUBNET_PREFIX);
      if (base < 0) {
        throw new StoreExhaustedError(`${path}.object.subnets`, `no /${DEFAULT_SUBNET_PREFIX} of ${formatIPv4(DEFAULT_POOL_BASE)}/${DEFAULT_POOL_PREFIX} is free, give the network an explicit subnet`);
      }
      subnets = [`${formatIPv4(base)}/${DEFAULT_SUBNET_PREFIX}`];
    } else {
      subnets.forEach((sub, i) => {
        const { base, prefix } = parseSubnet(sub, `${path}.object.subnets[${i}]`);
        const clash = taken.find((t) => subnetsOverlap(base, prefix, t.base, t.prefix));
        if (clash !== undefined) {
          throw new StoreExistsError(`${path}.object.subnets[${i}]`, `${sub} overlaps ${clash.subnet} of network ${clash.networkId}, pick a disjoint subnet or leave subnets empty to get one`);
        }
      });
    }
    const first = parseSubnet(subnets[0], `${path}.object.subnets[0]`);
    const gateway = spec.gateway !== '' ? spec.gateway : formatIPv4(first.base + 1);
    const index = this.#txn!.index;
    subnets.forEach((sub, i) => {
      const { base, prefix } = parseSubnet(sub, `${path}.object.subnets[${i}]`);
      const bits = new PoolBits(base, prefix);
      if (i === 0) bits.set(canonicalIPv4ToNumber(gateway) - base);
      const pid = poolId(spec.id, i);
      this.#put('pool', pid, { id: pid, version: index, createdAt: index, updatedAt: index, networkId: spec.id, subnet: sub, bits }, 'create');
      this.#txn!.writablePools.add(pid);
    });
    const net: Network = Object.freeze({ ...this.#meta(spec.id, undefined), ...spec, vni, subnets: Object.freeze([...subnets]), gateway });
    this.#put('network', spec.id, net, 'create');
  }

  /** Every network subnet, in id order (deterministic error messages). */
  #takenSubnets(): { base: number; prefix: number; subnet: string; networkId: string }[] {
    const out: { base: number; prefix: number; subnet: string; networkId: string }[] = [];
    for (const id of sortedIds(this.#s.pool.keys())) {
      const p = this.#s.pool.get(id)!;
      out.push({ base: p.bits.base, prefix: p.bits.prefix, subnet: p.subnet, networkId: p.networkId });
    }
    return out;
  }

  #updateNetwork(spec: NetworkSpec, expected: number, path: string): void {
    const cur = this.#current<Network>('network', spec.id, expected, path, `${path}.object.id`);
    const immutable = (field: string, changed: boolean): void => {
      if (changed) throw new StoreInvalidError(`${path}.object.${field}`, `the ${field} of network ${cur.name} cannot change, keep ${JSON.stringify((cur as unknown as Record<string, unknown>)[field])} or create a new network`);
    };
    immutable('driver', spec.driver !== cur.driver);
    immutable('ingress', spec.ingress !== cur.ingress);
    immutable('vni', spec.vni !== 0 && spec.vni !== cur.vni);
    immutable('subnets', spec.subnets.length > 0 && spec.subnets.join(',') !== cur.subnets.join(','));
    immutable('gateway', spec.gateway !== '' && spec.gateway !== cur.gateway);
    this.#checkName(this.#s.networkNames, 'network', spec.name, spec.id, path);
    const net: Network = Object.freeze({ ...this.#meta(spec.id, cur), ...spec, vni: cur.vni, subnets: cur.subnets, gateway: cur.gateway });
    this.#put('network', spec.id, net, 'update');
  }

  #deleteNetwork(id: string, expected: number, path: string): void {
    const cur = this.#current<Network>('network', id, expected, path, `${path}.id`);
    const users: string[] = [];
    for (const svc of this.#s.service.values()) {
      if (svc.networks.includes(id) || svc.virtualIps.some((v) => v.networkId === id)) users.push(`service ${svc.id}`);
    }
    for (const t of this.#s.task.values()) if (t.networks.some((a) => a.networkId === id)) users.push(`task ${t.id}`);
    if (users.length > 0) {
      users.sort(compareStrings);
      throw new StoreInUseError(`${path}.id`, `network ${cur.name} is in use by ${users.length} object(s) (${users[0]} ...), remove them from the network or delete them first`);
    }
    for (let i = 0; i < cur.subnets.length; i++) this.#put('pool', poolId(id, i), undefined, 'delete');
    this.#put('network', id, undefined, 'delete');
  }

  /** The pool for writing: copied once per transaction so a rollback restores the original. */
  #writablePool(pid: string): PoolRecord {
    const txn = this.#txn!;
    const rec = this.#s.pool.get(pid)!;
    if (txn.writablePools.has(pid)) {
      rec.view = undefined;
      return rec;
    }
    const copy: PoolRecord = { ...rec, version: txn.index, updatedAt: txn.index, bits: rec.bits.clone(), view: undefined };
    this.#put('pool', pid, copy, 'update');
    txn.writablePools.add(pid);
    return copy;
  }

  /** Lowest free address of a network, across its subnets in order. */
  #allocate(net: Network, path: string): string {
    for (let i = 0; i < net.subnets.length; i++) {
      const pid = poolId(net.id, i);
      const off = this.#s.pool.get(pid)!.bits.lowestFree();
      if (off < 0) continue;
      const p = this.#writablePool(pid);
      p.bits.set(off);
      return formatIPv4(p.bits.base + off);
    }
    throw new StoreExhaustedError(path, `network ${net.name} has no free address in ${net.subnets.join(', ')}, delete unused tasks or use a network with a larger subnet`);
  }

  /** Takes a specific address; it must be a free host address of one of the network's subnets. */
  #reserve(net: Network, address: string, path: string): void {
    const a = canonicalIPv4ToNumber(address);
    for (let i = 0; i < net.subnets.length; i++) {
      const pid = poolId(net.id, i);
      const bits = this.#s.pool.get(pid)!.bits;
      if (!bits.contains(a)) continue;
      if (bits.isSet(a - bits.base)) {
        throw new StoreExistsError(path, `${address} is already allocated in network ${net.name} (or is its network, broadcast or gateway address), leave the address empty to get a free one`);
      }
      this.#writablePool(pid).bits.set(a - bits.base);
      return;
    }
    throw new StoreInvalidError(path, `${address} is not in a subnet of network ${net.name} (${net.subnets.join(', ')}), pick an address inside one or leave it empty`);
  }

  #release(networkId: string, address: string): void {
    const net = this.#s.network.get(networkId);
    if (net === undefined) return;
    const a = canonicalIPv4ToNumber(address);
    for (let i = 0; i < net.subnets.length; i++) {
      const pid = poolId(net.id, i);
      const bits = this.#s.pool.get(pid)!.bits;
      if (bits.contains(a)) {
        this.#writablePool(pid).bits.clear(a - bits.base);
        return;
      }
    }
  }

  #network(id: string, path: string): Network {
    const net = this.#s.network.get(id);
    if (net === undefined) throw new StoreNotFoundError(path, `network ${id} does not exist, create it first or remove the reference`);
    return net;
  }

  // ---- services

  /** Checks references and ports; returns the networks that get a VIP, in order (ingress first). */
  #checkService(spec: ServiceSpec, path: string): Network[] {
    const s = this.#s;
    this.#checkName(s.serviceNames, 'service', spec.name, spec.id, path);
    const nets = spec.networks.map((nid, i) => {
      const net = this.#network(nid, `${path}.object.networks[${i}]`);
      if (net.ingress) throw new StoreInvalidError(`${path}.object.networks[${i}]`, `network ${net.name} is the ingress network, publish a port in ingress mode instead of attaching to it`);
      return net;
    });
    let ingress = false;
    spec.endpoint.ports.forEach((p, j) => {
      if (p.mode !== 'ingress') return;
      ingress = true;
      const owner = s.ingressPorts.get(portKey(p.protocol, p.published));
      if (owner !== undefined && owner !== spec.id) {
        throw new StoreExistsError(`${path}.object.endpoint.ports[${j}].published`, `${p.protocol} port ${p.published} is already published by service ${owner}, pick another port`);
      }
      if (s.ingressNetwork === '') {
        throw new StoreNotFoundError(`${path}.object.endpoint.ports[${j}].mode`, 'no ingress network exists, create a network with ingress: true or publish in host mode');
      }
    });
    if (spec.endpoint.mode !== 'vip') return [];
    return ingress ? [s.network.get(s.ingressNetwork)!, ...nets] : nets;
  }

  #createService(spec: ServiceSpec, path: string): void {
    this.#mustNotExist('service', spec.id, path);
    const vipNets = this.#checkService(spec, path);
    const virtualIps = vipNets.map((net) => ({ networkId: net.id, address: this.#allocate(net, `${path}.object.networks`) }));
    this.#put('service', spec.id, Object.freeze({ ...this.#meta(spec.id, undefined), ...spec, virtualIps: Object.freeze(virtualIps) }), 'create');
  }

  #updateService(spec: ServiceSpec, expected: number, path: string): void {
    const cur = this.#current<Service>('service', spec.id, expected, path, `${path}.object.id`);
    const vipNets = this.#checkService(spec, path);
    const keep = new Map<string, string>();
    for (const v of cur.virtualIps) {
      if (vipNets.some((n) => n.id === v.networkId)) keep.set(v.networkId, v.address);
      else this.#release(v.networkId, v.address);
    }
    const virtualIps: VirtualIp[] = vipNets.map((net) => ({ networkId: net.id, address: keep.get(net.id) ?? this.#allocate(net, `${path}.object.networks`) }));
    this.#put('service', spec.id, Object.freeze({ ...this.#meta(spec.id, cur), ...spec, virtualIps: Object.freeze(virtualIps) }), 'update');
  }

  #deleteService(id: string, expected: number, path: string): void {
    const cur = this.#current<Service>('service', id, expected, path, `${path}.id`);
    const tasks = this.#s.tasksByService.get(id);
    if (tasks !== undefined && tasks.size > 0) {
      throw new StoreInUseError(`${path}.id`, `service ${cur.name} has ${tasks.size} task(s) (${sortedIds(tasks)[0]} ...), delete them earlier in the same transaction`);
    }
    for (const v of cur.virtualIps) this.#release(v.networkId, v.address);
    this.#put('service', id, undefined, 'delete');
  }

  // ---- tasks

  #checkTaskRefs(spec: TaskSpec, path: string): Network[] {
    if (!this.#s.service.has(spec.serviceId)) {
      throw new StoreNotFoundError(`${path}.object.serviceId`, `service ${spec.serviceId} does not exist, create the service first`);
    }
    if (spec.nodeId !== '' && !this.#s.node.has(spec.nodeId)) {
      throw new StoreNotFoundError(`${path}.object.nodeId`, `node ${spec.nodeId} does not exist, assign a node of the cluster or leave it empty`);
    }
    return spec.networks.map((a, i) => this.#network(a.networkId, `${path}.object.networks[${i}].networkId`));
  }

  /** Fills in addresses: explicit ones are reserved first, then empty ones get the lowest free. */
  #attach(spec: TaskSpec, nets: Network[], kept: Map<string, string>, path: string): NetworkAttachment[] {
    const out = spec.networks.map((a) => ({ networkId: a.networkId, address: kept.get(a.networkId) ?? a.address }));
    out.forEach((a, i) => {
      if (a.address !== '' && !kept.has(a.networkId)) this.#reserve(nets[i]!, a.address, `${path}.object.networks[${i}].address`);
    });
    out.forEach((a, i) => {
      if (a.address === '') a.address = this.#allocate(nets[i]!, `${path}.object.networks[${i}]`);
    });
    return out.map((a) => Object.freeze(a));
  }

  #createTask(spec: TaskSpec, path: string): void {
    this.#mustNotExist('task', spec.id, path);
    const nets = this.#checkTaskRefs(spec, path);
    const networks = this.#attach(spec, nets, new Map(), path);
    this.#put('task', spec.id, Object.freeze({ ...this.#meta(spec.id, undefined), ...spec, networks: Object.freeze(networks) }), 'create');
  }

  #updateTask(spec: TaskSpec, expected: number, path: string): void {
    const cur = this.#current<Task>('task', spec.id, expected, path, `${path}.object.id`);
    if (spec.serviceId !== cur.serviceId) {
      throw new StoreInvalidError(`${path}.object.serviceId`, `task ${cur.id} belongs to service ${cur.serviceId} and cannot move, create a new task instead`);
    }
    const nets = this.#checkTaskRefs(spec, path);
    // An attachment on the same network keeps its address unless the update names another one.
    const kept = new Map<string, string>();
    for (const old of cur.networks) {
      const next = spec.networks.find((a) => a.networkId === old.networkId);
      if (next !== undefined && (next.address === '' || next.address === old.address)) kept.set(old.networkId, old.address);
      else this.#release(old.networkId, old.address);
    }
    const networks = this.#attach(spec, nets, kept, path);
    this.#put('task', spec.id, Object.freeze({ ...this.#meta(spec.id, cur), ...spec, networks: Object.freeze(networks) }), 'update');
  }

  #deleteTask(id: string, expected: number, path: string): void {
    const cur = this.#current<Task>('task', id, expected, path, `${path}.id`);
    for (const a of cur.networks) this.#release(a.networkId, a.address);
    this.#put('task', id, undefined, 'delete');
  }

  // ---------------------------------------------------------------- queries

  get<K extends Kind>(kind: K, id: string): ObjectOf[K] | undefined {
    const e = this.#s.map(kind).get(id);
    if (e === undefined) return undefined;
    return (kind === 'pool' ? poolView(e as PoolRecord) : e) as ObjectOf[K];
  }

  /** By name, case-insensitive (names are DNS names). */
  getByName<K extends 'node' | 'network' | 'service'>(kind: K, name: string): ObjectOf[K] | undefined {
    const names = kind === 'node' ? this.#s.nodeNames : kind === 'network' ? this.#s.networkNames : this.#s.serviceNames;
    const id = names.get(nameKey(name));
    return id === undefined ? undefined : this.get(kind, id);
  }

  /** Every object of a kind in id order, and the index they are current at: watch from index + 1. */
  list<K extends Kind>(kind: K): { index: number; items: ObjectOf[K][] } {
    const m = this.#s.map(kind);
    const items = sortedIds(m.keys()).map((id) => this.get(kind, id)!);
    return { index: this.#s.index, items };
  }

  count(kind: Kind): number {
    return this.#s.map(kind).size;
  }

  /** Tasks of a service in id order. */
  tasksByService(serviceId: string): Task[] {
    return sortedIds(this.#s.tasksByService.get(serviceId) ?? []).map((id) => this.#s.task.get(id)!);
  }

  /** Tasks assigned to a node in id order. */
  tasksByNode(nodeId: string): Task[] {
    return sortedIds(this.#s.tasksByNode.get(nodeId) ?? []).map((id) => this.#s.task.get(id)!);
  }

  networkByVni(vni: number): Network | undefined {
    const id = this.#s.vnis.get(vni);
    return id === undefined ? undefined : this.#s.network.get(id);
  }

  /** The ingress network, if one exists. */
  ingressNetwork(): Network | undefined {
    return this.#s.ingressNetwork === '' ? undefined : this.#s.network.get(this.#s.ingressNetwork);
  }

  /** Whether an IPv4 address is taken (or reserved) in one of a network's pools. */
  isAllocated(networkId: string, address: string): boolean {
    const net = this.#s.network.get(networkId);
    if (net === undefined) return false;
    const a = canonicalIPv4ToNumber(address);
    for (let i = 0; i < net.subnets.length; i++) {
      const bits = this.#s.pool.get(poolId(networkId, i))!.bits;
      if (bits.contains(a)) return bits.isSet(a - bits.base);
    }
    return false;
  }

  // ---------------------------------------------------------------- watch

  /**
   * Changes with index >= fromIndex, then every later one, filtered. Throws StoreCompactedError
   * (VXM_ERR_STORE_COMPACTED) when fromIndex is at or below the compacted index: list again and
   * watch from the list's index + 1. Without onEvent, pull with poll() or iterate; with onEvent,
   * the backlog is delivered before watch returns and later events at the end of each apply
   * (do not also poll a push watcher: both consume the same cursor).
   */
  watch(fromIndex: number, options: WatchOptions = {}): StoreWatcher {
    if (!Number.isSafeInteger(fromIndex)) {
      throw new StoreInvalidError('fromIndex', `${fromIndex} is not an integer index, watch from a list's index + 1`);
    }
    const from = Math.max(1, fromIndex);
    const w = new StoreWatcher(this.#log, from, options.filter, (x) => {
      this.#watchers.delete(x);
      this.#pushWatchers.delete(x);
    });
    this.#watchers.add(w);
    if (options.onEvent !== undefined) {
      this.#pushWatchers.set(w, options);
      this.#push(w, options);
    }
    return w;
  }

  /** Watchers currently open (pull and push). */
  get watcherCount(): number {
    return this.#watchers.size;
  }

  /** Oldest index a watch can start from is compactedIndex + 1. */
  get compactedIndex(): number {
    return this.#log.compactedIndex;
  }

  #notify(): void {
    if (this.#pushWatchers.size === 0) return;
    for (const [w, o] of [...this.#pushWatchers]) this.#push(w, o);
  }

  #push(w: StoreWatcher, o: WatchOptions): void {
    let events: ChangeEvent[];
    try {
      events = w.poll();
    } catch (e) {
      o.onError?.(e as StoreError);
      return;
    }
    for (const ev of events) {
      try {
        o.onEvent!(ev);
      } catch (e) {
        this.stats.watcherErrors++;
        w.close();
        o.onError?.(new StoreInternalError(`watch callback threw ${String(e)}, the watcher was closed: fix the callback and watch again`, { cause: e }));
        return;
      }
    }
  }

  // ---------------------------------------------------------------- snapshot

  /**
   * Deterministic bytes of the whole replicated state: "VXMS", format 1, then JSON with every
   * kind in KINDS order, objects in id order, fields in schema order. Same state ⇒ same bytes.
   * The change log is not included (watchers re-list after a restore).
   */
  snapshot(): Uint8Array {
    const s = this.#s;
    const parts: string[] = [`{"index":${s.index}`];
    for (const kind of KINDS) {
      const m = s.map(kind);
      const rows = sortedIds(m.keys()).map((id) => {
        const e = m.get(id)!;
        if (kind !== 'pool') return JSON.stringify(e);
        const p = e as PoolRecord;
        return JSON.stringify({ id: p.id, version: p.version, createdAt: p.createdAt, updatedAt: p.updatedAt, networkId: p.networkId, subnet: p.subnet, allocated: p.bits.runs() });
      });
      parts.push(`,"${kind}":[${rows.join(',')}]`);
    }
    parts.push('}');
    const json = new TextEncoder().encode(parts.join(''));
    const out = new Uint8Array(json.length + 5);
    out.set(SNAPSHOT_MAGIC, 0);
    out[4] = SNAPSHOT_FORMAT_V1;
    out.set(json, 5);
    return out;
  }

  /**
   * Replaces the state with a snapshot's, atomically: the snapshot is fully checked (schema,
   * uniqueness, references, pool bitmaps against the addresses in use) before anything changes.
   * Throws StoreInvalidError on a corrupt or foreign snapshot, leaving the store as it was.
   * Empty bytes restore the empty state. Open watchers get StoreCompactedError.
   */
  restore(data: Uint8Array): void {
    const next = data.length === 0 ? new State() : buildState(data);
    this.#s = next;
    this.#log.reset(next.index);
    for (const w of this.#watchers) w.invalidate();
    for (const [w, o] of [...this.#pushWatchers]) this.#push(w, o);
  }
}

// ---------------------------------------------------------------- restore

function buildState(data: Uint8Array): State {
  const bad = (path: string, msg: string): never => {
    throw new StoreInvalidError(`snapshot${path === '' ? '' : `.${path}`}`, msg);
  };
  if (data.length < 6 || SNAPSHOT_MAGIC.some((b, i) => data[i] !== b)) bad('', 'not a cluster store snapshot (no VXMS magic), restore bytes from ClusterStore.snapshot');
  if (data[4] !== SNAPSHOT_FORMAT_V1) bad('', `format ${data[4]} is not known to this manager (knows ${SNAPSHOT_FORMAT_V1}), upgrade it`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(5)));
  } catch {
    bad('', 'corrupt JSON, restore from another snapshot or manager');
  }
  if (!isPlainObject(v)) bad('', 'expected an object');
  const o = readRecord(v, 'snapshot', ['index', ...KINDS]);
  const s = new State();
  s.index = readInt(o['index'], 'snapshot.index', 0, Number.MAX_SAFE_INTEGER);
  const rows = (kind: Kind): unknown[] => {
    const r = o[kind];
    if (!Array.isArray(r)) bad(kind, 'expected an array');
    return r as unknown[];
  };
  const insert = (kind: Kind, e: Entity, path: string): void => {
    if (e.version > s.index) bad(path, `version ${e.version} is above the snapshot index ${s.index}`);
    if (s.map(kind).has(e.id)) bad(path, `duplicate ${kind} id ${e.id}`);
    s.put(kind, e.id, e);
  };
  const unique = (names: Map<string, string>, name: string, path: string): void => {
    if (names.has(nameKey(name))) bad(path, `duplicate name ${name}`);
  };
  rows('node').forEach((x, i) => {
    const n = readNode(x, `snapshot.node[${i}]`, 'stored');
    unique(s.nodeNames, n.name, `node[${i}].name`);
    insert('node', n, `node[${i}]`);
  });
  const expected = new Map<string, PoolBits>();
  const spans: { base: number; prefix: number }[] = [];
  rows('network').forEach((x, i) => {
    const n = readNetwork(x, `snapshot.network[${i}]`, 'stored');
    unique(s.networkNames, n.name, `network[${i}].name`);
    if (s.vnis.has(n.vni)) bad(`network[${i}].vni`, `duplicate VNI ${n.vni}`);
    if (n.ingress && s.ingressNetwork !== '') bad(`network[${i}].ingress`, 'a second ingress network');
    n.subnets.forEach((sub, j) => {
      const { base, prefix } = parseSubnet(sub, `snapshot.network[${i}].subnets[${j}]`);
      if (spans.some((t) => subnetsOverlap(base, prefix, t.base, t.prefix))) bad(`network[${i}].subnets[${j}]`, `${sub} overlaps another network`);
      spans.push({ base, prefix });
      const bits = new PoolBits(base, prefix);
      if (j === 0) bits.set(canonicalIPv4ToNumber(n.gateway) - base);
      expected.set(poolId(n.id, j), bits);
    });
    insert('network', n, `network[${i}]`);
  });
  rows('pool').forEach((x, i) => {
    const p = readStoredPool(x, `snapshot.pool[${i}]`);
    const bits = new PoolBits(p.base, p.prefix, new Uint32Array(Math.ceil(2 ** (32 - p.prefix) / 32)), 0);
    for (const [start, len] of p.allocated) for (let k = start; k < start + len; k++) bits.set(k);
    const net = s.network.get(p.networkId);
    const j = Number(p.id.slice(p.networkId.length + 1));
    if (net === undefined || net.subnets[j] !== p.subnet) bad(`pool[${i}]`, `pool ${p.id} does not match a subnet of network ${p.networkId}`);
    insert('pool', { id: p.id, version: p.version, createdAt: p.createdAt, updatedAt: p.updatedAt, networkId: p.networkId, subnet: p.subnet, bits }, `pool[${i}]`);
  });
  for (const pid of expected.keys()) if (!s.pool.has(pid)) bad('pool', `pool ${pid} is missing`);
  const take = (networkId: string, address: string, path: string): void => {
    const net = s.network.get(networkId);
    if (net === undefined) bad(path, `network ${networkId} does not exist`);
    const a = canonicalIPv4ToNumber(address);
    for (let j = 0; j < net!.subnets.length; j++) {
      const bits = expected.get(poolId(networkId, j))!;
      if (!bits.contains(a)) continue;
      if (bits.isSet(a - bits.base)) bad(path, `${address} is allocated twice in network ${networkId}`);
      bits.set(a - bits.base);
      return;
    }
    bad(path, `${address} is outside network ${networkId}`);
  };
  rows('service').forEach((x, i) => {
    const svc = readService(x, `snapshot.service[${i}]`, 'stored');
    unique(s.serviceNames, svc.name, `service[${i}].name`);
    svc.networks.forEach((nid, j) => {
      if (!s.network.has(nid)) bad(`service[${i}].networks[${j}]`, `network ${nid} does not exist`);
    });
    for (const p of svc.endpoint.ports) {
      if (p.mode === 'ingress' && s.ingressPorts.has(portKey(p.protocol, p.published))) bad(`service[${i}].endpoint`, `${p.protocol} port ${p.published} published twice`);
    }
    svc.virtualIps.forEach((vip, j) => take(vip.networkId, vip.address, `service[${i}].virtualIps[${j}]`));
    insert('service', svc, `service[${i}]`);
  });
  rows('task').forEach((x, i) => {
    const t = readTask(x, `snapshot.task[${i}]`, 'stored');
    if (!s.service.has(t.serviceId)) bad(`task[${i}].serviceId`, `service ${t.serviceId} does not exist`);
    if (t.nodeId !== '' && !s.node.has(t.nodeId)) bad(`task[${i}].nodeId`, `node ${t.nodeId} does not exist`);
    t.networks.forEach((a, j) => take(a.networkId, a.address, `task[${i}].networks[${j}]`));
    insert('task', t, `task[${i}]`);
  });
  for (const [pid, bits] of expected) {
    if (!bits.equals(s.pool.get(pid)!.bits)) bad('pool', `pool ${pid} does not match the addresses its network's services and tasks hold, restore from another snapshot`);
  }
  return s;
}
