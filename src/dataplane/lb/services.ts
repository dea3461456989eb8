// Service VIPs: which (network, VIP address, protocol, port) is a service frontend, and the
// backend set behind it. Written only through ServiceWriter deltas (the control plane, or a
// config file today); read by the pipeline per packet through typed arrays and AddrTables, so
// a frontend lookup allocates nothing.
//
//   frontend = (network, VIP, protocol, port)  ──▶ service ──▶ backends (address, target port,
//                                                              weight, state) + a scheduler
//
// A service has one VIP per address family and any number of published ports; each port maps
// to a target port on the backends (swarm's published/target port pair). Backend indices are
// positions in the backend list given to setBackends; the scheduler picks among them.

import { AddrTable } from '../addr-table.js';
import { TableError } from '../../errors.js';
import type { Backend, BackendState, Scheduler, SchedulerKind } from './schedulers/types.js';

export { IPPROTO_TCP as PROTO_TCP, IPPROTO_UDP as PROTO_UDP } from '../packet/ip-proto.js';
import { IPPROTO_TCP as PROTO_TCP, IPPROTO_UDP as PROTO_UDP } from '../packet/ip-proto.js';

/** Implementation: frontend keys pack (vip id, protocol bit, port) into 31 bits. */
const MAX_VIPS_PER_NETWORK = 1 << 14;

export interface ServicePort {
  protocol: 'tcp' | 'udp';
  /** Port on the VIP (what clients connect to). */
  port: number;
  /** Port on the backends (the task's listening port). */
  targetPort: number;
}

export interface ServiceBackend extends Backend {
  ipv4?: number | undefined;
  ipv6?: Uint8Array | undefined;
}

export interface ServiceSpec {
  name: string;
  network: string;
  /** The network's index in OverlayTables (the pipeline looks frontends up per network). */
  networkIndex: number;
  vip4?: number | undefined;
  vip6?: Uint8Array | undefined;
  ports: ServicePort[];
  scheduler: SchedulerKind;
  /** ClientIP affinity: a client returns to the same backend within this many seconds (0: off). */
  affinitySeconds: number;
  /** Idle timeout of an established TCP flow through this service, seconds. */
  idleSeconds: number;
  /** Prefer a backend on this node when one is eligible. */
  preferLocal: boolean;
}

export interface ServiceWriter {
  addService(spec: ServiceSpec, backends: readonly ServiceBackend[]): number;
  removeService(name: string): void;
  /** Replaces the backend set (new tasks, removed tasks, weights). */
  setBackends(service: string, backends: readonly ServiceBackend[]): void;
  /** Drains (no new flows, existing ones finish) or takes a backend down (no flows at all). */
  setBackendState(service: string, backend: string, state: BackendState): void;
}

export interface ServiceState {
  readonly index: number;
  readonly spec: ServiceSpec;
  backends: ServiceBackend[];
  readonly scheduler: Scheduler;
  /** Backend IPv4 addresses by backend index (int32), for DNAT without touching objects. */
  backend4: Int32Array;
  /** Backend IPv6 addresses, 16 bytes per backend index. */
  backend6: Uint8Array;
  /** Bumped on every backend change, so derived state (a fallback table) knows to rebuild. */
  version: number;
  /**
   * Stable ids: a backend keeps its id (by name) across setBackends, while its index in
   * `backends` may shift. Conntrack and affinity store ids; schedulers work on indices.
   */
  backendIds: Int32Array;
  /** Stable id → current index, or -1 when that backend is gone. */
  indexOfId: Int32Array;
  readonly idOfName: Map<string, number>;
  nextId: number;
}

/** Implementation: ids fit the 16 low bits of a conntrack backend field (service << 16 | id). */
const MAX_BACKEND_IDS = 1 << 16;

interface NetworkVips {
  v4: AddrTable;
  v6: AddrTable;
  /** (vip id, protocol, port) → frontend id. */
  fronts: AddrTable;
  nextVip: number;
}

export type SchedulerFactory = (kind: SchedulerKind) => Scheduler;

export class ServiceTables implements ServiceWriter {
  readonly services: (ServiceState | undefined)[] = [];
  /** Frontend id → service index, and → target port on the backends. */
  frontService: Int32Array = new Int32Array(64);
  frontTargetPort: Int32Array = new Int32Array(64);
  #nextFront = 0;
  #freeFronts: number[] = [];
  readonly #byNetwork: NetworkVips[] = [];
  readonly #byName = new Map<string, ServiceState>();
  readonly #frontsOf = new Map<number, { net: number; key: number }[]>();
  readonly #newScheduler: SchedulerFactory;
  /** Called after a backend was taken down or removed, with its stable id: clear its flows. */
  onBackendDown: (service: number, backendId: number) => void = () => {};

  constructor(newScheduler: SchedulerFactory) {
    this.#newScheduler = newScheduler;
  }

  /** Frontend id for an IPv4 VIP packet, or -1: the hot-path lookup. */
  frontend4(network: number, vip: number, proto: number, port: number): number {
    const n = this.#byNetwork[network];
    if (!n) return -1;
    const vipId = n.v4.get4(vip);
    return vipId < 0 ? -1 : n.fronts.get4(frontKey(vipId, proto, port));
  }

  /** Frontend id for an IPv6 VIP packet (address at buf[off, off+16)), or -1. */
  frontend6(network: number, buf: Uint8Array, off: number, proto: number, port: number): number {
    const n = this.#byNetwork[network];
    if (!n) return -1;
    const vipId = n.v6.get6(buf, off);
    return vipId < 0 ? -1 : n.fronts.get4(frontKey(vipId, proto, port));
  }

  /** Whether an IPv4 address is a VIP on the network (for fragments, which carry no ports). */
  isVip4(network: number, addr: number): boolean {
    const n = this.#byNetwork[network];
    return n !== undefined && n.v4.get4(addr) >= 0;
  }

  service(name: string): ServiceState | undefined {
    return this.#byName.get(name);
  }

  addService(spec: ServiceSpec, backends: readonly ServiceBackend[]): number {
    if (this.#byName.has(spec.name)) throw new TableError('VXM_ERR_DUPLICATE', `addService: service ${spec.name} exists: remove it first`);
    if (spec.vip4 === undefined && spec.vip6 === undefined) throw new TableError('VXM_ERR_NOT_FOUND', `addService: service ${spec.name} needs a VIP`);
    const n = (this.#byNetwork[spec.networkIndex] ??= { v4: new AddrTable(1), v6: new AddrTable(4), fronts: new AddrTable(1), nextVip: 0 });
    // Validate everything before changing anything.
    const vipKeys: [number, number | Uint8Array][] = [];
    if (spec.vip4 !== undefined) vipKeys.push([0, spec.vip4]);
    if (spec.vip6 !== undefined) vipKeys.push([1, spec.vip6]);
    const fronts: { net: number; key: number }[] = [];
    const planned: number[] = [];
    for (const [family, vip] of vipKeys) {
      const vipId = family === 0 ? n.v4.get4(vip as number) : n.v6.get6(vip as Uint8Array, 0);
      const id = vipId >= 0 ? vipId : n.nextVip + planned.length;
      if (vipId < 0) planned.push(id);
      if (id >= MAX_VIPS_PER_NETWORK) throw new TableError('VXM_ERR_TABLE_FULL', `addService: more than ${MAX_VIPS_PER_NETWORK} VIPs on network ${spec.network}`);
      for (const p of spec.ports) {
        const key = frontKey(id, p.protocol === 'tcp' ? PROTO_TCP : PROTO_UDP, p.port);
        if (n.fronts.get4(key) >= 0 || fronts.some((f) => f.key === key)) {
          throw new TableError('VXM_ERR_DUPLICATE', `addService: ${p.protocol}/${p.port} on that VIP is already published: pick another port`);
        }
        fronts.push({ net: spec.networkIndex, key });
      }
    }
    let index = this.services.indexOf(undefined);
    if (index < 0) index = this.services.length;
    const state: ServiceState = {
      index, spec, backends: [], scheduler: this.#newScheduler(spec.scheduler),
      backend4: new Int32Array(0), backend6: new Uint8Array(0), version: 0,
      backendIds: new Int32Array(0), indexOfId: new Int32Array(0).fill(-1), idOfName: new Map(), nextId: 0,
    };
    this.services[index] = state;
    this.#byName.set(spec.name, state);
    for (const [family, vip] of vipKeys) {
      if (family === 0 && n.v4.get4(vip as number) < 0) n.v4.set(vip as number, n.nextVip++);
      if (family === 1 && n.v6.get6(vip as Uint8Array, 0) < 0) n.v6.set(vip as Uint8Array, n.nextVip++);
    }
    // One frontend per (VIP family, port), in the order `fronts` was planned.
    fronts.forEach((f, k) => {
      const front = this.#allocFront();
      n.fronts.set(f.key, front);
      this.frontService[front] = index;
      this.frontTargetPort[front] = spec.ports[k % spec.ports.length]!.targetPort;
    });
    this.#frontsOf.set(index, fronts);
    this.setBackends(spec.name, backends);
    return index;
  }

  removeService(name: string): void {
    const s = this.#service(name, 'removeService');
    const n = this.#byNetwork[s.spec.networkIndex]!;
    for (const f of this.#frontsOf.get(s.index) ?? []) {
      const front = n.fronts.get4(f.key);
      if (front >= 0) this.#freeFronts.push(front);
      n.fronts.delete(f.key);
    }
    // A VIP with no frontends left is no longer a VIP.
    const stillUsed = (vipId: number): boolean => [...n.fronts.entries()].some(([k]) => k[0]! >>> 17 === vipId);
    if (s.spec.vip4 !== undefined) {
      const id = n.v4.get4(s.spec.vip4);
      if (id >= 0 && !stillUsed(id)) n.v4.delete(s.spec.vip4);
    }
    if (s.spec.vip6 !== undefined) {
      const id = n.v6.get6(s.spec.vip6, 0);
      if (id >= 0 && !stillUsed(id)) n.v6.delete(s.spec.vip6);
    }
    this.#frontsOf.delete(s.index);
    this.#byName.delete(name);
    this.services[s.index] = undefined;
  }

  setBackends(service: string, backends: readonly ServiceBackend[]): void {
    const s = this.#service(service, 'setBackends');
    const names = new Set<string>();
    for (const b of backends) {
      if (names.has(b.name)) throw new TableError('VXM_ERR_DUPLICATE', `setBackends: backend ${b.name} appears twice in ${service}`);
      names.add(b.name);
      if (s.spec.vip4 !== undefined && b.ipv4 === undefined) throw new TableError('VXM_ERR_NOT_FOUND', `setBackends: backend ${b.name} of ${service} needs an IPv4 address (the service has an IPv4 VIP)`);
      if (s.spec.vip6 !== undefined && b.ipv6 === undefined) throw new TableError('VXM_ERR_NOT_FOUND', `setBackends: backend ${b.name} of ${service} needs an IPv6 address (the service has an IPv6 VIP)`);
    }
    const previous = new Set(s.backends.map((b) => b.name));
    // Ids for new names before anything changes, so a full id space fails without side effects.
    const fresh = backends.filter((b) => !s.idOfName.has(b.name)).length;
    if (s.nextId + fresh > MAX_BACKEND_IDS) throw new TableError('VXM_ERR_TABLE_FULL', `setBackends: ${service} has used ${MAX_BACKEND_IDS} backend ids: recreate the service`);
    for (const b of backends) if (!s.idOfName.has(b.name)) s.idOfName.set(b.name, s.nextId++);
    s.backends = backends.map((b) => ({ ...b }));
    s.backendIds = Int32Array.from(s.backends, (b) => s.idOfName.get(b.name)!);
    s.indexOfId = new Int32Array(s.nextId).fill(-1);
    s.backendIds.forEach((id, i) => (s.indexOfId[id] = i));
    s.backend4 = Int32Array.from(s.backends, (b) => (b.ipv4 ?? 0) | 0);
    s.backend6 = new Uint8Array(16 * s.backends.length);
    s.backends.forEach((b, i) => b.ipv6 && s.backend6.set(b.ipv6, i * 16));
    s.scheduler.setBackends(s.backends);
    s.version++;
    // Backends that disappeared, or are down, lose their flows (reported by stable id).
    for (const name of previous) if (!names.has(name)) this.onBackendDown(s.index, s.idOfName.get(name)!);
    s.backends.forEach((b, i) => b.state === 'down' && this.onBackendDown(s.index, s.backendIds[i]!));
  }

  setBackendState(service: string, backend: string, state: BackendState): void {
    const s = this.#service(service, 'setBackendState');
    const i = s.backends.findIndex((b) => b.name === backend);
    if (i < 0) throw new TableError('VXM_ERR_NOT_FOUND', `setBackendState: ${service} has no backend ${backend}`);
    s.backends[i] = { ...s.backends[i]!, state };
    s.scheduler.setBackends(s.backends);
    s.version++;
    if (state === 'down') this.onBackendDown(s.index, s.backendIds[i]!);
  }

  #service(name: string, op: string): ServiceState {
    const s = this.#byName.get(name);
    if (!s) throw new TableError('VXM_ERR_NOT_FOUND', `${op}: unknown service ${name}`);
    return s;
  }

  #allocFront(): number {
    const id = this.#freeFronts.pop() ?? this.#nextFront++;
    if (id >= this.frontService.length) {
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.frontService = grow(this.frontService);
      this.frontTargetPort = grow(this.frontTargetPort);
    }
    return id;
  }
}

function frontKey(vipId: number, proto: number, port: number): number {
  return (vipId << 17) | ((proto === PROTO_UDP ? 1 : 0) << 16) | port;
}
