// The node agent's dataplane config file: which networks this node carries, which local
// endpoints (task TUNs) it owns, and where every remote overlay address lives. It is the
// stand-in for the control plane until gossip and raft fill the same tables; it is turned
// into table deltas (see dataplane/tables.ts TableWriter), never read by the dataplane itself.
//
// Every field is checked here, with a message that names the field and says what to do, so
// a bad file fails before any device is created.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { IPv4, IPv4CidrRange, IPv6, IPv6CidrRange } from 'ip-num';
import { ConfigError } from '../../errors.js';
import { writeMacFromIPv4 } from '../../dataplane/packet/ethernet.js';

/** Protocol: IANA port for VXLAN (RFC 7348 section 5); swarm's default --data-path-port. */
export const DEFAULT_DATA_PORT = 4789;
/** Protocol: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 (RFC 7348 section 5). */
export const VXLAN_OVERHEAD_V4 = 50;
/** Implementation: 1500-byte underlay minus the encapsulation, swarm's overlay default. */
export const DEFAULT_OVERLAY_MTU = 1500 - VXLAN_OVERHEAD_V4;
/** Protocol: VNIs are 24 bits (RFC 7348 section 5). */
const VNI_MAX = 0xffffff;

export interface NetworkConfig {
  name: string;
  vni: number;
  subnet: string;
  gateway: number;
  subnet6?: string | undefined;
  gateway6?: Uint8Array | undefined;
  mtu: number;
  /**
   * An ingress network (swarm's `ingress`): published ports of its services are reachable on
   * every node, and the backend's node sends replies back through the node the client entered
   * by, so the backend sees the client's real address (no SNAT).
   */
  ingress: boolean;
}

export interface EndpointConfig {
  network: string;
  ipv4: number;
  prefix4: number;
  ipv6?: Uint8Array | undefined;
  prefix6: number;
  mac: Uint8Array;
  tun: string;
  /** The task's namespace; '' for a host endpoint. */
  netns: string;
  /**
   * A host endpoint: the TUN stays in the agent's own namespace as the way in for published
   * ports (nftables DNATs to the VIP or a local task through it) and out for replies to
   * outside clients. At most one per network per node.
   */
  host: boolean;
}

export interface PeerConfig {
  network: string;
  ipv4?: number | undefined;
  ipv6?: Uint8Array | undefined;
  mac: Uint8Array;
  vtep: number;
  port: number;
  /** That node's host endpoint (ingress replies learned to go back there). */
  host: boolean;
}

/**
 * A published port, as `docker service create --publish published=8080,target=80,mode=...`:
 * ingress mode answers on every node and balances over all tasks through the VIP; host mode
 * answers only on nodes that run a task and goes straight to a local one.
 */
export interface PublishConfig {
  protocol: 'tcp' | 'udp';
  published: number;
  /** The tasks' port (a targetPort of the service's ports). */
  target: number;
  mode: 'ingress' | 'host';
  /** Bind to this host address only (IPv4 or IPv6); undefined: every local address except loopback. */
  address?: string | undefined;
  /**
   * Terminate TCP here and relay to the VIP with a PROXY protocol v2 header (the client's
   * address for PROXY-aware backends), instead of DNAT. For backends whose replies cannot come
   * back through this node; costs a userspace relay per connection. Ingress mode, TCP only.
   */
  proxyProtocol: boolean;
}

export interface ServiceConfig {
  name: string;
  network: string;
  /** vip: clients reach a virtual IP and vxmesh balances; dnsrr: DNS returns the task IPs. */
  mode: 'vip' | 'dnsrr';
  vip4?: number | undefined;
  vip6?: Uint8Array | undefined;
  ports: { protocol: 'tcp' | 'udp'; port: number; targetPort: number }[];
  scheduler: 'rr' | 'wrr' | 'lc' | 'sh' | 'maglev';
  affinitySeconds: number;
  idleSeconds: number;
  preferLocal: boolean;
  publish: PublishConfig[];
  backends: { name: string; ipv4?: number | undefined; ipv6?: Uint8Array | undefined; weight: number; state: 'active' | 'draining' | 'down' }[];
}

/** Implementation: idle TCP flows through a VIP live 2 h by default, not swarm's silent 900 s. */
export const DEFAULT_SERVICE_IDLE_SECONDS = 7200;

export interface AgentConfig {
  node: string;
  underlay: { address: string; addressU32: number; port: number; socketBuffer: number };
  dataplane: {
    /** Ask the kernel for TUN checksum/TSO/USO offloads and use UDP GSO/GRO (false: a naive baseline). */
    offloads: boolean;
    /** Merge in-order TCP segments from the underlay before writing to a task's TUN. */
    coalesce: boolean;
  };
  networks: NetworkConfig[];
  endpoints: EndpointConfig[];
  peers: PeerConfig[];
  services: ServiceConfig[];
  /**
   * The embedded resolver on each network's gateway address (UDP 53). Names outside `domain`
   * go to `upstreams` (IPv4 address[:port]); none configured: they get REFUSED. Upstreams are
   * never guessed from the host's resolv.conf: a lab must not leak queries to the outside.
   */
  dns: { domain: string; ttl: number; upstreams: { address: string; port: number }[] };
  /** Prometheus metrics on http://address:port/metrics (off unless configured; Docker's port is 9323). */
  metrics?: { address: string; port: number } | undefined;
  /**
   * Endpoint discovery by gossip (swarm's networkdb over memberlist, on 7946): this node
   * announces its local endpoints and learns every other node's, so `peers` need list none,
   * and a node that dies (or leaves) has its endpoints dropped everywhere within the SWIM
   * failure-detection time (about 6 s with the LAN defaults). Off unless configured.
   */
  gossip?: {
    /** Bind address; default the underlay address. */
    bind: string;
    port: number;
    /** Other nodes' gossip addresses (address or address:port), any that are up will do. */
    join: string[];
    seal: 'none' | 'auth' | 'encrypt';
    /** Cluster keys (see `vxmesh gossip --key-file`); required unless seal is none. */
    keyFile?: string | undefined;
    clusterLabel?: string | undefined;
  } | undefined;
}

export function loadAgentConfig(path: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, `cannot read the config file (${(err as NodeJS.ErrnoException).code ?? 'error'}): check the path`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, `not valid JSON (${(err as Error).message}): fix the syntax`);
  }
  return parseAgentConfig(raw);
}

export function parseAgentConfig(raw: unknown): AgentConfig {
  const root = obj(raw, 'config');
  const node = str(root.node ?? 'node', 'node');
  const u = obj(root.underlay, 'underlay');
  const underlayAddress = str(u.address, 'underlay.address');
  const underlay = {
    address: underlayAddress,
    addressU32: ipv4(underlayAddress, 'underlay.address'),
    port: int(u.port ?? DEFAULT_DATA_PORT, 'underlay.port', 1, 65535),
    socketBuffer: int(u.socketBuffer ?? 16 << 20, 'underlay.socketBuffer', 65536, 1 << 30),
  };
  const d = root.dataplane === undefined ? {} : obj(root.dataplane, 'dataplane');
  const dataplane = {
    offloads: bool(d.offloads ?? true, 'dataplane.offloads'),
    coalesce: bool(d.coalesce ?? true, 'dataplane.coalesce'),
  };

  const networks: NetworkConfig[] = arr(root.networks, 'networks').map((n, i) => {
    const p = `networks[${i}]`;
    const o = obj(n, p);
    const subnet = str(o.subnet, `${p}.subnet`);
    const range = cidr4(subnet, `${p}.subnet`);
    if (range.getSize() < 4n) throw new ConfigError(`${p}.subnet`, `${subnet} is too small for a network: use a /30 or larger`);
    const gateway = o.gateway === undefined ? Number(range.getFirst().getValue()) + 1 : ipv4(o.gateway, `${p}.gateway`);
    const net: NetworkConfig = {
      name: str(o.name, `${p}.name`),
      vni: int(o.vni, `${p}.vni`, 1, VNI_MAX),
      subnet,
      gateway,
      mtu: int(o.mtu ?? DEFAULT_OVERLAY_MTU, `${p}.mtu`, 1280, 65535 - VXLAN_OVERHEAD_V4),
      ingress: bool(o.ingress ?? false, `${p}.ingress`),
    };
    if (!range.contains(IPv4.fromNumber(BigInt(gateway)))) throw new ConfigError(`${p}.gateway`, `not inside ${subnet}: pick an address of the subnet`);
    if (o.subnet6 !== undefined) {
      net.subnet6 = str(o.subnet6, `${p}.subnet6`);
      const r6 = cidr6(net.subnet6, `${p}.subnet6`);
      if (r6.getSize() < 4n) throw new ConfigError(`${p}.subnet6`, `${net.subnet6} is too small for a network: use a /126 or larger`);
      net.gateway6 = o.gateway6 === undefined ? bigintTo16(r6.getFirst().getValue() + 1n) : ipv6(o.gateway6, `${p}.gateway6`);
      if (!contains6(r6, net.gateway6)) throw new ConfigError(`${p}.gateway6`, `not inside ${net.subnet6}: pick an address of the subnet`);
    }
    return net;
  });
  const byName = new Map<string, NetworkConfig>();
  const vnis = new Set<number>();
  networks.forEach((n, i) => {
    if (byName.has(n.name)) throw new ConfigError(`networks[${i}].name`, `duplicate network name ${n.name}: names must be unique`);
    if (vnis.has(n.vni)) throw new ConfigError(`networks[${i}].vni`, `VNI ${n.vni} is used twice: give each network its own VNI`);
    byName.set(n.name, n);
    vnis.add(n.vni);
  });
  const network = (v: unknown, p: string): NetworkConfig => {
    const name = str(v, p);
    const n = byName.get(name);
    if (!n) throw new ConfigError(p, `unknown network ${name}: declare it under networks`);
    return n;
  };

  // Keyed by the parsed value, so fd00:1::2 and FD00:1:0::2 are the same address.
  const seen = new Set<string>();
  const claim = (net: string, addr: number | Uint8Array, p: string): void => {
    const key = `${net}/${typeof addr === 'number' ? addr : Buffer.from(addr).toString('hex')}`;
    if (seen.has(key)) throw new ConfigError(p, `this address appears twice in network ${net}: each address has one owner`);
    seen.add(key);
  };

  const tunNames = new Set<string>();
  const endpointsOnHost = new Set<string>();
  const endpoints: EndpointConfig[] = arr(root.endpoints ?? [], 'endpoints').map((e, i) => {
    const p = `endpoints[${i}]`;
    const o = obj(e, p);
    const net = network(o.network, `${p}.network`);
    const v4 = ipv4(o.ipv4, `${p}.ipv4`);
    if (!cidr4(net.subnet, '').contains(IPv4.fromNumber(BigInt(v4)))) throw new ConfigError(`${p}.ipv4`, `not inside ${net.subnet}: use an address of the network`);
    claim(net.name, v4, `${p}.ipv4`);
    const tun = str(o.tun, `${p}.tun`);
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tun)) throw new ConfigError(`${p}.tun`, 'interface names are 1 to 15 letters, digits, "_", "." or "-"');
    if (tunNames.has(tun)) throw new ConfigError(`${p}.tun`, `TUN name ${tun} is used twice`);
    tunNames.add(tun);
    const host = bool(o.host ?? false, `${p}.host`);
    if (host && o.netns !== undefined) throw new ConfigError(`${p}.netns`, 'a host endpoint stays in the agent\'s namespace: drop netns or host');
    if (host && endpointsOnHost.has(net.name)) throw new ConfigError(`${p}.host`, `network ${net.name} already has a host endpoint: one per network`);
    if (host) endpointsOnHost.add(net.name);
    const ep: EndpointConfig = {
      network: net.name, ipv4: v4, prefix4: Number(net.subnet.split('/')[1]), prefix6: 64,
      mac: o.mac === undefined ? macFromIPv4(v4) : mac(o.mac, `${p}.mac`),
      tun, netns: host ? '' : netnsName(o.netns, `${p}.netns`), host,
    };
    if (o.ipv6 !== undefined) {
      if (!net.subnet6) throw new ConfigError(`${p}.ipv6`, `network ${net.name} has no subnet6: add one or drop the IPv6 address`);
      ep.ipv6 = ipv6(o.ipv6, `${p}.ipv6`);
      if (!contains6(cidr6(net.subnet6, ''), ep.ipv6)) throw new ConfigError(`${p}.ipv6`, `not inside ${net.subnet6}: use an address of the network`);
      ep.prefix6 = Number(net.subnet6.split('/')[1]);
      claim(net.name, ep.ipv6, `${p}.ipv6`);
    }
    return ep;
  });

  const peers: PeerConfig[] = arr(root.peers ?? [], 'peers').map((e, i) => {
    const p = `peers[${i}]`;
    const o = obj(e, p);
    const net = network(o.network, `${p}.network`);
    if (o.ipv4 === undefined && o.ipv6 === undefined) throw new ConfigError(p, 'a peer needs ipv4 or ipv6');
    const v4 = o.ipv4 === undefined ? undefined : ipv4(o.ipv4, `${p}.ipv4`);
    if (v4 !== undefined) claim(net.name, v4, `${p}.ipv4`);
    const v6 = o.ipv6 === undefined ? undefined : ipv6(o.ipv6, `${p}.ipv6`);
    if (v6 !== undefined) claim(net.name, v6, `${p}.ipv6`);
    if (o.mac === undefined && v4 === undefined) throw new ConfigError(`${p}.mac`, 'an IPv6-only peer needs its mac');
    return {
      network: net.name, ipv4: v4, ipv6: v6,
      mac: o.mac === undefined ? macFromIPv4(v4!) : mac(o.mac, `${p}.mac`),
      vtep: ipv4(o.vtep, `${p}.vtep`),
      port: int(o.port ?? underlay.port, `${p}.port`, 1, 65535),
      host: bool(o.host ?? false, `${p}.host`),
    };
  });

  const serviceNames = new Set<string>();
  const publishedPorts = new Set<string>();
  const services: ServiceConfig[] = arr(root.services ?? [], 'services').map((e, i) => {
    const p = `services[${i}]`;
    const o = obj(e, p);
    const name = str(o.name, `${p}.name`);
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(name)) throw new ConfigError(`${p}.name`, 'a service name is a DNS label: letters, digits and "-", at most 63');
    if (serviceNames.has(name)) throw new ConfigError(`${p}.name`, `duplicate service ${name}`);
    serviceNames.add(name);
    const net = network(o.network, `${p}.network`);
    const mode = oneOf(o.mode ?? 'vip', `${p}.mode`, ['vip', 'dnsrr'] as const);
    const svc: ServiceConfig = {
      name, network: net.name, mode,
      ports: arr(o.ports ?? [], `${p}.ports`).map((q, j) => {
        const pp = `${p}.ports[${j}]`;
        const po = obj(q, pp);
        const port = int(po.port, `${pp}.port`, 1, 65535);
        return { protocol: oneOf(po.protocol ?? 'tcp', `${pp}.protocol`, ['tcp', 'udp'] as const), port, targetPort: int(po.targetPort ?? port, `${pp}.targetPort`, 1, 65535) };
      }),
      scheduler: oneOf(o.scheduler ?? 'rr', `${p}.scheduler`, ['rr', 'wrr', 'lc', 'sh', 'maglev'] as const),
      affinitySeconds: int(o.affinitySeconds ?? 0, `${p}.affinitySeconds`, 0, 86400),
      idleSeconds: int(o.idleSeconds ?? DEFAULT_SERVICE_IDLE_SECONDS, `${p}.idleSeconds`, 1, 30 * 86400),
      preferLocal: bool(o.preferLocal ?? false, `${p}.preferLocal`),
      publish: [],
      backends: [],
    };
    const seenPorts = new Set<string>();
    svc.ports.forEach((q, j) => {
      const key = `${q.protocol}/${q.port}`;
      if (seenPorts.has(key)) throw new ConfigError(`${p}.ports[${j}]`, `${key} is published twice`);
      seenPorts.add(key);
    });
    if (mode === 'vip') {
      if (o.vip === undefined && o.vip6 === undefined) throw new ConfigError(p, 'a vip-mode service needs vip or vip6 (or mode "dnsrr")');
      if (svc.ports.length === 0) throw new ConfigError(`${p}.ports`, 'a vip-mode service publishes at least one port');
      if (o.vip !== undefined) {
        svc.vip4 = ipv4(o.vip, `${p}.vip`);
        if (!cidr4(net.subnet, '').contains(IPv4.fromNumber(BigInt(svc.vip4)))) throw new ConfigError(`${p}.vip`, `not inside ${net.subnet}: VIPs come from the network's subnet`);
        claim(net.name, svc.vip4, `${p}.vip`);
      }
      if (o.vip6 !== undefined) {
        if (!net.subnet6) throw new ConfigError(`${p}.vip6`, `network ${net.name} has no subnet6`);
        svc.vip6 = ipv6(o.vip6, `${p}.vip6`);
        if (!contains6(cidr6(net.subnet6, ''), svc.vip6)) throw new ConfigError(`${p}.vip6`, `not inside ${net.subnet6}`);
        claim(net.name, svc.vip6, `${p}.vip6`);
      }
    }
    svc.publish = arr(o.publish ?? [], `${p}.publish`).map((q, j) => {
      const pp = `${p}.publish[${j}]`;
      const po = obj(q, pp);
      const protocol = oneOf(po.protocol ?? 'tcp', `${pp}.protocol`, ['tcp', 'udp'] as const);
      const mode = oneOf(po.mode ?? 'ingress', `${pp}.mode`, ['ingress', 'host'] as const);
      const published = int(po.published, `${pp}.published`, 1, 65535);
      const target = int(po.target ?? svc.ports.find((x) => x.protocol === protocol)?.targetPort ?? published, `${pp}.target`, 1, 65535);
      if (mode === 'ingress') {
        if (svc.mode !== 'vip') throw new ConfigError(`${pp}.mode`, 'ingress publishing balances through the VIP: use mode "host" for a dnsrr service');
        if (!svc.ports.some((x) => x.protocol === protocol && x.targetPort === target)) {
          throw new ConfigError(`${pp}.target`, `the service has no ${protocol} port with targetPort ${target}: add it under ports`);
        }
        if (!net.ingress) throw new ConfigError(`${pp}.mode`, `network ${net.name} is not an ingress network: set "ingress": true on it`);
      }
      let address: string | undefined;
      if (po.address !== undefined) {
        address = str(po.address, `${pp}.address`);
        if (isIP(address) === 0) throw new ConfigError(`${pp}.address`, `${address} is not an IP address`);
      }
      const proxyProtocol = bool(po.proxyProtocol ?? false, `${pp}.proxyProtocol`);
      if (proxyProtocol && (mode !== 'ingress' || protocol !== 'tcp')) throw new ConfigError(`${pp}.proxyProtocol`, 'PROXY protocol relays TCP to the VIP: use it with mode "ingress" and protocol "tcp"');
      const key = `${protocol}/${address ?? '*'}/${published}`;
      if (publishedPorts.has(key)) throw new ConfigError(`${pp}.published`, `${protocol} port ${published} is published twice on ${address ?? 'every address'}`);
      publishedPorts.add(key);
      return { protocol, published, target, mode, address, proxyProtocol };
    });
    const backendNames = new Set<string>();
    svc.backends = arr(o.backends ?? [], `${p}.backends`).map((b, j) => {
      const bp = `${p}.backends[${j}]`;
      const bo = obj(b, bp);
      const bname = str(bo.name, `${bp}.name`);
      if (backendNames.has(bname)) throw new ConfigError(`${bp}.name`, `duplicate backend ${bname} in ${name}`);
      backendNames.add(bname);
      const be = {
        name: bname,
        ipv4: bo.ipv4 === undefined ? undefined : ipv4(bo.ipv4, `${bp}.ipv4`),
        ipv6: bo.ipv6 === undefined ? undefined : ipv6(bo.ipv6, `${bp}.ipv6`),
        weight: int(bo.weight ?? 1, `${bp}.weight`, 0, 1_000_000),
        state: oneOf(bo.state ?? 'active', `${bp}.state`, ['active', 'draining', 'down'] as const),
      };
      if (svc.vip4 !== undefined && be.ipv4 === undefined) throw new ConfigError(`${bp}.ipv4`, 'the service has an IPv4 VIP: every backend needs ipv4');
      if (svc.vip6 !== undefined && be.ipv6 === undefined) throw new ConfigError(`${bp}.ipv6`, 'the service has an IPv6 VIP: every backend needs ipv6');
      return be;
    });
    return svc;
  });

  const d2 = root.dns === undefined ? {} : obj(root.dns, 'dns');
  const domain = str(d2.domain ?? 'mesh', 'dns.domain');
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(domain)) {
    throw new ConfigError('dns.domain', `${domain} is not a domain name such as mesh or cluster.local`);
  }
  const upstreams = arr(d2.upstreams ?? [], 'dns.upstreams').map((u, i) => {
    const text = str(u, `dns.upstreams[${i}]`);
    const m = /^([0-9.]+)(?::([0-9]+))?$/.exec(text);
    if (!m) throw new ConfigError(`dns.upstreams[${i}]`, `${text} is not an IPv4 address with an optional :port`);
    ipv4(m[1], `dns.upstreams[${i}]`);
    return { address: m[1]!, port: int(m[2] === undefined ? 53 : Number(m[2]), `dns.upstreams[${i}]`, 1, 65535) };
  });
  const dns = { domain, ttl: int(d2.ttl ?? 5, 'dns.ttl', 0, 86400), upstreams };

  let metrics: AgentConfig['metrics'];
  if (root.metrics !== undefined) {
    const m = obj(root.metrics, 'metrics');
    const address = str(m.address ?? '127.0.0.1', 'metrics.address');
    if (isIP(address) === 0) throw new ConfigError('metrics.address', `${address} is not an IP address`);
    metrics = { address, port: int(m.port ?? 9323, 'metrics.port', 1, 65535) };
  }

  let gossip: AgentConfig['gossip'];
  if (root.gossip !== undefined) {
    const g = obj(root.gossip, 'gossip');
    const bind = str(g.bind ?? underlay.address, 'gossip.bind');
    if (isIP(bind) === 0) throw new ConfigError('gossip.bind', `${bind} is not an IP address`);
    const port = int(g.port ?? 7946, 'gossip.port', 1, 65535);
    const join = arr(g.join ?? [], 'gossip.join').map((j, i) => {
      const text = str(j, `gossip.join[${i}]`);
      const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
      const host = m ? m[1]! : text;
      if (isIP(host) === 0) throw new ConfigError(`gossip.join[${i}]`, `${text} is not an address or address:port`);
      const p = m ? int(Number(m[2]), `gossip.join[${i}]`, 1, 65535) : port;
      return isIP(host) === 6 ? `[${host}]:${p}` : `${host}:${p}`;
    });
    const seal = str(g.seal ?? 'none', 'gossip.seal');
    if (seal !== 'none' && seal !== 'auth' && seal !== 'encrypt') throw new ConfigError('gossip.seal', `${seal}: use none, auth or encrypt`);
    const keyFile = g.keyFile === undefined ? undefined : str(g.keyFile, 'gossip.keyFile');
    if (seal !== 'none' && keyFile === undefined) throw new ConfigError('gossip.keyFile', `seal ${seal} needs the cluster keys: set keyFile`);
    const clusterLabel = g.clusterLabel === undefined ? undefined : str(g.clusterLabel, 'gossip.clusterLabel');
    gossip = { bind, port, join, seal, keyFile, clusterLabel };
  }

  return { node, underlay, dataplane, networks, endpoints, peers, services, dns, metrics, gossip };
}

function oneOf<T extends string>(v: unknown, p: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !values.includes(v as T)) throw new ConfigError(p, `must be one of ${values.join(', ')}`);
  return v as T;
}

/** Docker's convention: 02:42 followed by the four IPv4 bytes. */
export function macFromIPv4(ip: number): Uint8Array {
  const mac = new Uint8Array(6);
  writeMacFromIPv4(mac, 0, ip);
  return mac;
}

export { formatIPv4 } from '../../dataplane/packet/ipv4.js';
export { formatIPv6 } from '../../dataplane/packet/ipv6.js';

function obj(v: unknown, p: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(p, 'must be an object');
  return v as Record<string, unknown>;
}
function arr(v: unknown, p: string): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(p, 'must be an array');
  return v;
}
function str(v: unknown, p: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(p, 'must be a non-empty string');
  return v;
}
function bool(v: unknown, p: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(p, 'must be true or false');
  return v;
}
function int(v: unknown, p: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(p, `must be an integer from ${min} to ${max}`);
  return v;
}
function ipv4(v: unknown, p: string): number {
  const s = str(v, p);
  try {
    return Number(IPv4.fromString(s).getValue());
  } catch {
    throw new ConfigError(p, `${s} is not an IPv4 address`);
  }
}
function ipv6(v: unknown, p: string): Uint8Array {
  const s = str(v, p);
  try {
    return bigintTo16(IPv6.fromString(s).getValue());
  } catch {
    throw new ConfigError(p, `${s} is not an IPv6 address`);
  }
}
function cidr4(s: string, p: string): IPv4CidrRange {
  try {
    return IPv4CidrRange.fromCidr(s);
  } catch {
    throw new ConfigError(p, `${s} is not an IPv4 CIDR such as 10.0.1.0/24`);
  }
}
function cidr6(s: string, p: string): IPv6CidrRange {
  try {
    return IPv6CidrRange.fromCidr(s);
  } catch {
    throw new ConfigError(p, `${s} is not an IPv6 CIDR such as fd00:1::/64`);
  }
}
/** A named namespace (ip netns); a bare number would be read by `ip link set netns` as a PID. */
function netnsName(v: unknown, p: string): string {
  const s = str(v, p);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(s) || /^[0-9]+$/.test(s) || s === '.' || s === '..') {
    throw new ConfigError(p, `${s} is not a network namespace name (letters, digits, "_", "." or "-", not all digits)`);
  }
  return s;
}
function contains6(range: IPv6CidrRange, addr: Uint8Array): boolean {
  let x = 0n;
  for (const b of addr) x = (x << 8n) | BigInt(b);
  return range.contains(IPv6.fromBigInt(x));
}
function mac(v: unknown, p: string): Uint8Array {
  const s = str(v, p);
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s);
  if (!m) throw new ConfigError(p, `${s} is not a MAC address such as 02:42:0a:00:01:02`);
  return Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
}
function bigintTo16(x: bigint): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}
