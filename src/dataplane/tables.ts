// The overlay forwarding tables and the narrow delta interface that writes them.
//
// The control plane (a JSON config today, gossip and raft later) never touches the arrays: it
// sends deltas through TableWriter (add a network, add a local endpoint, add a peer ...). The
// pipeline reads the arrays directly. Everything the pipeline reads per packet is a typed
// array indexed by a small integer, so lookups allocate nothing.
//
// Routes: one id per overlay address owner (a local endpoint or a remote peer). An id can be
// reached by its IPv4 and its IPv6 address; both map to the same id in the network's tables.

import { AddrTable } from './addr-table.js';
import type { TunDevice } from './io/types.js';
import { TableError } from '../errors.js';
import { formatIPv4 } from './packet/ipv4.js';

export const ROUTE_FREE = 0;
export const ROUTE_LOCAL = 1;
export const ROUTE_REMOTE = 2;

export interface NetworkSpec {
  name: string;
  /** VXLAN network identifier, 24 bits (RFC 7348 section 5). */
  vni: number;
  /** Largest inner IP packet the overlay carries: underlay MTU minus the 50-byte encapsulation. */
  mtu: number;
  /** Address that ICMP errors come from (the network's gateway, as swarm's overlay has one). */
  gateway4: number;
  /** 16 bytes, or undefined when the network has no IPv6. */
  gateway6?: Uint8Array | undefined;
  /**
   * Ingress: traffic from outside clients (published ports) enters on some node's host
   * endpoint and may be balanced to a task on another node. Nodes then remember, per flow,
   * which node's host endpoint the client came through, so the reply goes back the same way
   * with the client's address untouched (no SNAT).
   */
  ingress?: boolean | undefined;
}

export interface LocalEndpointSpec {
  network: string;
  ipv4: number;
  ipv6?: Uint8Array | undefined;
  /** Inner MAC used for this endpoint on the wire (02:42 + IPv4 bytes by default). */
  mac: Uint8Array;
  tun: TunDevice;
  /**
   * A host endpoint: a TUN in the node's own namespace through which outside clients enter
   * (published ports, DNATed by the host's nftables). Packets from it may carry any source,
   * and it is this node's route for destinations outside the overlay on its network.
   */
  host?: boolean | undefined;
}

export interface PeerSpec {
  network: string;
  ipv4?: number | undefined;
  ipv6?: Uint8Array | undefined;
  /** MAC the peer's side expects as the inner destination. */
  mac: Uint8Array;
  /** Underlay address (VTEP) of the node that hosts the peer, IPv4 u32. */
  vtep: number;
  port: number;
  /** The peer is another node's host endpoint (replies to outside clients that entered there). */
  host?: boolean | undefined;
}

/** The delta interface: the only way anything outside the dataplane changes forwarding. */
export interface TableWriter {
  addNetwork(spec: NetworkSpec): void;
  removeNetwork(name: string): void;
  addLocalEndpoint(spec: LocalEndpointSpec): number;
  /** Removes the endpoint; the caller must close the returned TUN. */
  removeLocalEndpoint(network: string, ipv4: number): TunDevice;
  addPeer(spec: PeerSpec): void;
  removePeer(network: string, ipv4: number | undefined, ipv6?: Uint8Array): void;
}

export interface NetworkState {
  readonly index: number;
  readonly name: string;
  readonly vni: number;
  readonly mtu: number;
  readonly gateway4: number;
  readonly gateway6: Uint8Array | undefined;
  readonly v4: AddrTable;
  readonly v6: AddrTable;
  readonly ingress: boolean;
  /** Route id of this node's host endpoint on the network, or -1: where outside destinations go. */
  hostRoute: number;
  /** Underlay address (VTEP) → route id of that node's host endpoint (ingress return paths). */
  readonly hostByVtep: AddrTable;
}

const INITIAL_ROUTES = 256;

export class OverlayTables implements TableWriter {
  /** Networks by index; a removed network leaves `undefined` (indices are not reused while referenced). */
  readonly networks: (NetworkState | undefined)[] = [];
  /** VNI → network index. */
  readonly byVni = new AddrTable(1, 16);

  // Route arrays, indexed by route id. Replaced (grown) only on the control path; the
  // pipeline re-reads the fields at the start of each batch.
  routeKind = new Uint8Array(INITIAL_ROUTES);
  routeNet = new Int32Array(INITIAL_ROUTES);
  routeTun = new Int32Array(INITIAL_ROUTES); //   local: index into tuns
  routeVtep = new Int32Array(INITIAL_ROUTES); //  remote: underlay IPv4
  routePort = new Int32Array(INITIAL_ROUTES);
  routeMac = new Uint8Array(INITIAL_ROUTES * 6);
  routeIpv4 = new Int32Array(INITIAL_ROUTES);
  routeIpv6 = new Uint8Array(INITIAL_ROUTES * 16);
  routeHas6 = new Uint8Array(INITIAL_ROUTES);
  /** 1 for a host endpoint (local or remote): any source allowed, outside clients behind it. */
  routeHost = new Uint8Array(INITIAL_ROUTES);
  #freeRoutes: number[] = [];
  #nextRoute = 0;

  /** Local TUNs by index, the route id of the endpoint behind each. */
  readonly tuns: (TunDevice | undefined)[] = [];
  tunRoute = new Int32Array(64);
  #freeTuns: number[] = [];

  #netByName = new Map<string, NetworkState>();

  addNetwork(spec: NetworkSpec): void {
    if (this.#netByName.has(spec.name)) throw new TableError('VXM_ERR_DUPLICATE', `addNetwork: network ${spec.name} exists: remove it first`);
    if (this.byVni.get4(spec.vni) >= 0) throw new TableError('VXM_ERR_DUPLICATE', `addNetwork: VNI ${spec.vni} is used by another network: pick another VNI`);
    let index = this.networks.indexOf(undefined);
    if (index < 0) index = this.networks.length;
    const net: NetworkState = {
      index, name: spec.name, vni: spec.vni, mtu: spec.mtu, gateway4: spec.gateway4 | 0,
      gateway6: spec.gateway6 ? Uint8Array.from(spec.gateway6) : undefined,
      v4: new AddrTable(1), v6: new AddrTable(4),
      ingress: spec.ingress ?? false, hostRoute: -1, hostByVtep: new AddrTable(1, 16),
    };
    this.networks[index] = net;
    this.#netByName.set(spec.name, net);
    this.byVni.set(spec.vni, index);
  }

  removeNetwork(name: string): void {
    const net = this.#network(name, 'removeNetwork');
    for (const [, id] of net.v4.entries()) {
      if (this.routeKind[id] === ROUTE_LOCAL) {
        throw new TableError('VXM_ERR_DUPLICATE', `removeNetwork: network ${name} still has local endpoints: remove them first`);
      }
    }
    // Collect first: freeing deletes from the tables, and a backward-shift delete moves later
    // entries into slots an iterator has already passed.
    const ids = new Set<number>();
    for (const [, id] of net.v4.entries()) ids.add(id);
    for (const [, id] of net.v6.entries()) ids.add(id);
    for (const id of ids) this.#freeRoute(id);
    this.byVni.delete(net.vni);
    this.networks[net.index] = undefined;
    this.#netByName.delete(name);
  }

  addLocalEndpoint(spec: LocalEndpointSpec): number {
    const net = this.#network(spec.network, 'addLocalEndpoint');
    this.#checkFree(net, spec.ipv4, spec.ipv6, 'addLocalEndpoint');
    let tunIndex = this.#freeTuns.pop() ?? this.tuns.length;
    if (tunIndex >= this.tunRoute.length) this.tunRoute = grow(this.tunRoute, tunIndex * 2);
    if (spec.host && net.hostRoute >= 0) {
      throw new TableError('VXM_ERR_DUPLICATE', `addLocalEndpoint: network ${net.name} already has a host endpoint on this node: remove it first`);
    }
    const id = this.#allocRoute();
    this.routeKind[id] = ROUTE_LOCAL;
    this.routeTun[id] = tunIndex;
    this.#fillRoute(id, net, spec.ipv4, spec.ipv6, spec.mac);
    this.routeHost[id] = spec.host ? 1 : 0;
    if (spec.host) net.hostRoute = id;
    this.tuns[tunIndex] = spec.tun;
    this.tunRoute[tunIndex] = id;
    return tunIndex;
  }

  removeLocalEndpoint(network: string, ipv4: number): TunDevice {
    const net = this.#network(network, 'removeLocalEndpoint');
    const id = net.v4.get4(ipv4);
    if (id < 0 || this.routeKind[id] !== ROUTE_LOCAL) {
      throw new TableError('VXM_ERR_NOT_FOUND', `removeLocalEndpoint: no local endpoint ${formatIPv4(ipv4)} in ${network}`);
    }
    const tunIndex = this.routeTun[id]!;
    const tun = this.tuns[tunIndex]!;
    // The caller closes the TUN (which stops its poll); until then a batch already read from
    // it finds no source route and is dropped, never sent with a reused route's identity.
    this.tuns[tunIndex] = undefined;
    this.tunRoute[tunIndex] = -1;
    this.#freeTuns.push(tunIndex);
    this.#freeRoute(id);
    return tun;
  }

  addPeer(spec: PeerSpec): void {
    const net = this.#network(spec.network, 'addPeer');
    if (spec.ipv4 === undefined && spec.ipv6 === undefined) {
      throw new TableError('VXM_ERR_NOT_FOUND', 'addPeer: a peer needs an IPv4 or an IPv6 address');
    }
    this.#checkFree(net, spec.ipv4, spec.ipv6, 'addPeer');
    if (spec.host && net.hostByVtep.get4(spec.vtep) >= 0) {
      throw new TableError('VXM_ERR_DUPLICATE', `addPeer: the node at that VTEP already has a host endpoint in ${net.name}: remove it first`);
    }
    const id = this.#allocRoute();
    this.routeKind[id] = ROUTE_REMOTE;
    this.routeVtep[id] = spec.vtep | 0;
    this.routePort[id] = spec.port;
    this.#fillRoute(id, net, spec.ipv4, spec.ipv6, spec.mac);
    this.routeHost[id] = spec.host ? 1 : 0;
    if (spec.host) net.hostByVtep.set(spec.vtep >>> 0, id);
  }

  removePeer(network: string, ipv4: number | undefined, ipv6?: Uint8Array): void {
    const net = this.#network(network, 'removePeer');
    const id = ipv4 !== undefined ? net.v4.get4(ipv4) : ipv6 ? net.v6.get6(ipv6, 0) : -1;
    if (id < 0 || this.routeKind[id] !== ROUTE_REMOTE) throw new TableError('VXM_ERR_NOT_FOUND', `removePeer: no such peer in ${network}`);
    this.#freeRoute(id);
  }

  networkByName(name: string): NetworkState | undefined {
    return this.#netByName.get(name);
  }

  #network(name: string, op: string): NetworkState {
    const net = this.#netByName.get(name);
    if (!net) throw new TableError('VXM_ERR_NOT_FOUND', `${op}: unknown network ${name}: add the network first`);
    return net;
  }

  #checkFree(net: NetworkState, ipv4: number | undefined, ipv6: Uint8Array | undefined, op: string): void {
    if (ipv4 !== undefined && net.v4.get4(ipv4) >= 0) {
      throw new TableError('VXM_ERR_DUPLICATE', `${op}: ${formatIPv4(ipv4)} is already in ${net.name}: remove it first`);
    }
    if (ipv6 !== undefined && net.v6.get6(ipv6, 0) >= 0) {
      throw new TableError('VXM_ERR_DUPLICATE', `${op}: an IPv6 address is already in ${net.name}: remove it first`);
    }
  }

  #fillRoute(id: number, net: NetworkState, ipv4: number | undefined, ipv6: Uint8Array | undefined, mac: Uint8Array): void {
    this.routeNet[id] = net.index;
    this.routeMac.set(mac.subarray(0, 6), id * 6);
    this.routeIpv4[id] = (ipv4 ?? 0) | 0;
    if (ipv4 !== undefined) net.v4.set(ipv4, id);
    if (ipv6) {
      this.routeIpv6.set(ipv6, id * 16);
      this.routeHas6[id] = 1;
      net.v6.set(ipv6, id);
    } else {
      this.routeHas6[id] = 0;
    }
  }

  #allocRoute(): number {
    const id = this.#freeRoutes.pop() ?? this.#nextRoute++;
    if (id >= this.routeKind.length) {
      const cap = this.routeKind.length * 2;
      this.routeKind = grow(this.routeKind, cap);
      this.routeNet = grow(this.routeNet, cap);
      this.routeTun = grow(this.routeTun, cap);
      this.routeVtep = grow(this.routeVtep, cap);
      this.routePort = grow(this.routePort, cap);
      this.routeMac = grow(this.routeMac, cap * 6);
      this.routeIpv4 = grow(this.routeIpv4, cap);
      this.routeIpv6 = grow(this.routeIpv6, cap * 16);
      this.routeHas6 = grow(this.routeHas6, cap);
      this.routeHost = grow(this.routeHost, cap);
    }
    return id;
  }

  #freeRoute(id: number): void {
    const net = this.networks[this.routeNet[id]!];
    if (net) {
      if (net.hostRoute === id) net.hostRoute = -1;
      if (this.routeHost[id] && this.routeKind[id] === ROUTE_REMOTE && net.hostByVtep.get4(this.routeVtep[id]! >>> 0) === id) net.hostByVtep.delete(this.routeVtep[id]! >>> 0);
      if (net.v4.get4(this.routeIpv4[id]!) === id) net.v4.delete(this.routeIpv4[id]!);
      if (this.routeHas6[id]) net.v6.delete(this.routeIpv6.subarray(id * 16, id * 16 + 16));
    }
    this.routeKind[id] = ROUTE_FREE;
    this.routeHost[id] = 0;
    this.#freeRoutes.push(id);
  }
}

function grow<T extends Uint8Array | Int32Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}

