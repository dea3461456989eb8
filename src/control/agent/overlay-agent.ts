// The node agent's dataplane half: turns an AgentConfig into devices and table deltas, runs
// the dataplane, and reports what it counted. Until the control plane exists, the config
// file is the only source of deltas.

import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Dataplane } from '../../dataplane/dataplane.js';
import { nativeStats } from '../../dataplane/io/native.js';
import { NATIVE_STAT_NAMES, TUN_F_ALL } from '../../dataplane/io/native-api.js';
import { NativeTun } from '../../dataplane/io/tun.js';
import { NativeUdpBind } from '../../dataplane/io/udp-bind.js';
import { createScheduler } from '../../dataplane/lb/schedulers/index.js';
import { ROUTE_LOCAL } from '../../dataplane/tables.js';
import { ServiceTables } from '../../dataplane/lb/services.js';
import { LB_COUNTER_NAMES, VipPath } from '../../dataplane/lb/vip-path.js';
import { ReturnPaths, RP_COUNTER_NAMES } from '../../dataplane/lb/return-paths.js';
import { COUNTER_NAMES as CT_COUNTER_NAMES } from '../../dataplane/lb/conntrack/conntrack.js';
import { DNS_PATH_COUNTER_NAMES, DnsPath, type TaskQuery } from '../../dataplane/dns/dns-path.js';
import { Forwarder } from '../../dataplane/dns/forwarder.js';
import { NameTable } from '../../dataplane/dns/records.js';
import { Resolver } from '../../dataplane/dns/resolver.js';
import { ConfigError, VxmeshError } from '../../errors.js';
import { formatIPv4, formatIPv6, type AgentConfig, type ServiceConfig } from './config.js';
import type { Server as HttpServer } from 'node:http';
import { agentRegistry, serveMetrics } from './metrics.js';
import { ProxyRelay } from './proxy-relay.js';
import { applyPublishing, removePublishing, type PublishedPort } from './publish.js';
import { placeHostTun, placeTaskTun } from './task-netns.js';
import { EndpointGossip, type PeerChange } from './endpoint-gossip.js';

/**
 * Implementation: conntrack slots examined per one-second sweep. The default table has 262144
 * IPv4 + 65536 IPv6 slots, so a full lap takes about 20 s and one slice costs well under 1 ms
 * (measured 6.9 ns per slot with nothing due).
 */
const CONNTRACK_SWEEP_BUDGET = 16384;

/** Implementation: sample the event loop every 10 ms; cheap, and fine enough for timer lag. */
const LOOP_DELAY_RESOLUTION_MS = 10;

export interface AgentStats {
  counters: Record<string, number>;
  drops: Record<string, number>;
  native: Record<string, number>;
  /** Timer lag on the agent's event loop, in milliseconds: what gossip/raft timers would feel. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  underlay: { gro: boolean; gso: boolean; rcvbuf: number; sndbuf: number };
  tunOffloads: Record<string, number>;
  /** Service load balancing: flows scheduled, replies NATed, conntrack hits and misses ... */
  lb?: Record<string, number>;
  /** The embedded resolver: answered, refused (names it does not own), malformed. */
  dns: Record<string, number>;
  /** Endpoint gossip: peers learned and dropped, and the members this node sees alive. */
  gossip?: Record<string, number>;
}

export class OverlayAgent {
  readonly config: AgentConfig;
  readonly dataplane: Dataplane;
  readonly udp: NativeUdpBind;
  readonly #tuns: NativeTun[] = [];
  readonly services: ServiceTables;
  readonly vip: VipPath;
  readonly dns: DnsPath;
  /** Ingress return paths; present when a network is an ingress network. */
  readonly returnPaths: ReturnPaths | undefined;
  #published = false;
  readonly #relays: ProxyRelay[] = [];
  #metrics: HttpServer | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #upstreamSocket: Socket | undefined;
  readonly #names = new Map<string, NameTable>();
  #dnsTick: NodeJS.Timeout | undefined;
  readonly #loopDelay: IntervalHistogram;
  /** Endpoint discovery on 7946, when the config has a gossip section. */
  gossip: EndpointGossip | undefined;
  /** Called for every remote endpoint gossip adds, updates or removes. */
  onPeer: ((c: PeerChange) => void) | undefined;

  constructor(config: AgentConfig) {
    this.config = config;
    this.udp = NativeUdpBind.open(config.underlay.address, config.underlay.port, config.underlay.socketBuffer);
    this.services = new ServiceTables((kind) => createScheduler(kind));
    this.vip = new VipPath(this.services);
    this.vip.isLocal = (network, ipv4, ipv6) => {
      const net = this.dataplane.tables.networks[network];
      const rid = !net ? -1 : ipv4 !== undefined ? net.v4.get4(ipv4) : ipv6 ? net.v6.get6(ipv6, 0) : -1;
      return rid >= 0 && this.dataplane.tables.routeKind[rid] === ROUTE_LOCAL;
    };
    // The I/O shell may use the platform's randomness; the resolver itself only sees an rng.
    this.dns = new DnsPath(Math.random);
    this.returnPaths = config.networks.some((n) => n.ingress) ? new ReturnPaths() : undefined;
    this.dataplane = new Dataplane(this.udp, {
      coalesce: config.dataplane.coalesce, dataPort: config.underlay.port,
      vip: config.services.some((x) => x.mode === 'vip') ? this.vip : undefined, dns: this.dns, now: Date.now,
      returnPaths: this.returnPaths,
    });
    this.#loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  }

  /** Creates every device and table entry, then starts forwarding. */
  start(): void {
    const { tables } = this.dataplane;
    const cfg = this.config;

    try {
      for (const n of cfg.networks) {
        tables.addNetwork({ name: n.name, vni: n.vni, mtu: n.mtu, gateway4: n.gateway, gateway6: n.gateway6, ingress: n.ingress });
      }
      for (const p of cfg.peers) tables.addPeer(p);
      for (const n of cfg.networks) {
        const names = new NameTable({ domain: cfg.dns.domain, ttl: cfg.dns.ttl });
        for (const svc of cfg.services.filter((x) => x.network === n.name)) {
          names.addService({
            name: svc.name, mode: svc.mode,
            ...(svc.vip4 !== undefined ? { vip4: formatIPv4(svc.vip4) } : {}),
            ...(svc.vip6 ? { vip6: formatIPv6(svc.vip6) } : {}),
            // SRV _<port>._<proto>.<service>: the published port (dnsrr: the tasks' port).
            ports: svc.ports.map((p) => ({ name: String(p.port), port: svc.mode === 'vip' ? p.port : p.targetPort, protocol: p.protocol })),
          });
          names.setTasks(svc.name, svc.backends.filter((b) => b.ipv4 !== undefined).map((b) => ({
            name: b.name, ipv4: formatIPv4(b.ipv4!), ...(b.ipv6 ? { ipv6: formatIPv6(b.ipv6) } : {}),
          })));
        }
        this.dns.setResolver(tables.networkByName(n.name)!.index, new Resolver(names, { recursionAvailable: false }));
        this.#names.set(n.name, names);
      }
      for (const svc of cfg.services.filter((x) => x.mode === 'vip')) {
        const networkIndex = tables.networkByName(svc.network)!.index;
        const index = this.services.addService(
          {
            name: svc.name, network: svc.network, networkIndex, vip4: svc.vip4, vip6: svc.vip6, ports: svc.ports,
            scheduler: svc.scheduler, affinitySeconds: svc.affinitySeconds, idleSeconds: svc.idleSeconds, preferLocal: svc.preferLocal,
          },
          svc.backends,
        );
        this.vip.configure(this.services.services[index]!);
      }
      const ports = this.#publishedPorts();
      const hostNets = new Set(cfg.endpoints.filter((e) => e.host).map((e) => e.network));
      if (hostNets.size > 0) this.#enableForwarding(cfg.endpoints.some((e) => e.host && e.ipv6 !== undefined));
      for (const ep of cfg.endpoints) {
        const tun = NativeTun.open(ep.tun, cfg.dataplane.offloads ? TUN_F_ALL : 0);
        this.#tuns.push(tun);
        const net = cfg.networks.find((n) => n.name === ep.network)!;
        if (ep.host) placeHostTun(ep, net.mtu, cfg.dataplane.offloads);
        // Tasks on a network with a way out (ingress, or a host endpoint here) reply to outside
        // clients through their TUN: the pipeline sends those replies back the way they came.
        else placeTaskTun(ep, net.mtu, cfg.dataplane.offloads, net.ingress || hostNets.has(ep.network));
        tables.addLocalEndpoint({ network: ep.network, ipv4: ep.ipv4, ipv6: ep.ipv6, mac: ep.mac, tun, host: ep.host });
      }
      if (ports.length > 0) {
        applyPublishing(ports, cfg.endpoints.filter((e) => e.host).map((e) => e.tun));
        this.#published = true;
      }
    } catch (err) {
      this.close();
      throw err;
    }
    this.#startForwarding();
    this.dataplane.start();
    this.#loopDelay.enable();
    if (cfg.services.length > 0 || this.returnPaths) {
      // One coarse timer for every flow (no timer per entry): a bounded slice of the tables a second.
      this.#sweep = setInterval(() => {
        const now = Date.now();
        this.vip.expire(now, CONNTRACK_SWEEP_BUDGET);
        this.returnPaths?.expire(now, CONNTRACK_SWEEP_BUDGET);
      }, 1000);
      this.#sweep.unref();
    }
  }

  /**
   * The published ports this node answers, from the services: ingress ports go to the VIP
   * (every node), host ports to this node's own active tasks of the service (none: not
   * published here, as swarm's mode=host).
   */
  #publishedPorts(): PublishedPort[] {
    const cfg = this.config;
    const out: PublishedPort[] = [];
    for (const svc of cfg.services) {
      svc.publish.forEach((p, j) => {
        if (!cfg.endpoints.some((e) => e.host && e.network === svc.network)) {
          throw new ConfigError(`services.${svc.name}.publish[${j}]`, `publishing needs a host endpoint on network ${svc.network} on this node: add an endpoint with "host": true`);
        }
        const label = `${svc.name} ${p.mode} ${p.protocol}/${p.published}`;
        if (p.proxyProtocol) return; // relayed in userspace (listen()), not DNATed
        if (p.mode === 'ingress') {
          const port = svc.ports.find((x) => x.protocol === p.protocol && x.targetPort === p.target)!.port;
          out.push({
            protocol: p.protocol, published: p.published, address: p.address, port, label,
            to4: svc.vip4 !== undefined ? [formatIPv4(svc.vip4)] : [], to6: svc.vip6 ? [formatIPv6(svc.vip6)] : [],
          });
        } else {
          const local = localBackends(svc, cfg);
          if (local.to4.length + local.to6.length === 0) return;
          out.push({ protocol: p.protocol, published: p.published, address: p.address, port: p.target, label, ...local });
        }
      });
    }
    return out;
  }

  /**
   * Starts the listeners: the Prometheus endpoint if configured, and the PROXY protocol v2
   * relays of published ports that ask for one (after start(), once the host endpoints can
   * route to the VIPs).
   */
  async listen(): Promise<void> {
    if (this.config.gossip) {
      this.gossip = new EndpointGossip({
        config: this.config, tables: this.dataplane.tables, onPeer: (c) => this.onPeer?.(c),
        onBackends: (service) => this.#applyBackends(service),
      });
      await this.gossip.start();
    }
    const m = this.config.metrics;
    if (m) this.#metrics = await serveMetrics(agentRegistry(() => this.stats(), this.config.node), m.address, m.port);
    for (const svc of this.config.services) {
      for (const p of svc.publish) {
        if (!p.proxyProtocol) continue;
        const port = svc.ports.find((x) => x.protocol === p.protocol && x.targetPort === p.target)!.port;
        const relay = new ProxyRelay({
          address: p.address, port: p.published, toPort: port,
          to4: svc.vip4 !== undefined ? formatIPv4(svc.vip4) : undefined, to6: svc.vip6 ? formatIPv6(svc.vip6) : undefined,
        });
        this.#relays.push(relay);
        await relay.start();
      }
    }
  }

  /** Host endpoints route between the host's interfaces and the overlay: forwarding on. */
  #enableForwarding(v6: boolean): void {
    const set = (path: string, value: string): void => {
      if (readFileSync(path, 'utf8').trim() !== value) writeFileSync(path, value);
    };
    set('/proc/sys/net/ipv4/ip_forward', '1');
    if (v6) set('/proc/sys/net/ipv6/conf/all/forwarding', '1');
  }

  describeEndpoints(): { tun: string; netns: string; ipv4: string; ipv6?: string }[] {
    return this.config.endpoints.map((e) => ({
      tun: e.tun, netns: e.netns, ipv4: formatIPv4(e.ipv4), ...(e.ipv6 ? { ipv6: formatIPv6(e.ipv6) } : {}),
    }));
  }

  stats(): AgentStats {
    const { counters, drops } = this.dataplane.counters.snapshot();
    const native: Record<string, number> = {};
    NATIVE_STAT_NAMES.forEach((name, i) => (native[name] = nativeStats[i]!));
    const h = this.#loopDelay;
    // The histogram records whole timer intervals; the lag is what exceeds the resolution.
    const ms = (ns: number): number => Math.max(0, Math.round((ns - LOOP_DELAY_RESOLUTION_MS * 1e6) / 1e4) / 100);
    return {
      counters, drops, native,
      eventLoopDelayMs: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) },
      underlay: { gro: this.udp.info.gro, gso: this.udp.info.gso, rcvbuf: this.udp.info.rcvbuf, sndbuf: this.udp.info.sndbuf },
      tunOffloads: Object.fromEntries(this.#tuns.map((t) => [t.name, t.offloads])),
      ...(this.config.services.length > 0 ? { lb: this.#lbStats() } : {}),
      dns: Object.fromEntries(DNS_PATH_COUNTER_NAMES.map((n, i) => [n, this.dns.counters[i]!])),
      ...(this.gossip ? { gossip: { ...this.gossip.counters, membersAlive: this.gossip.node.core.members().filter((x) => x.state === 'alive').length } } : {}),
    };
  }

  /** Leaves the gossip cluster cleanly (the others drop this node's endpoints at once). */
  async leave(): Promise<void> {
    await this.gossip?.leave();
  }

  /**
   * Applies a changed config without a restart, as table deltas: today the backends of
   * existing services (added, removed, weights, active/draining/down) and their DNS records.
   * Anything else that changed is listed in `needsRestart` and left as it was.
   */
  reload(next: AgentConfig): { updated: string[]; needsRestart: string[] } {
    const updated: string[] = [];
    const needsRestart: string[] = [];
    const cur = this.config;
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a, bytesAsArrays) === JSON.stringify(b, bytesAsArrays);
    for (const key of ['node', 'underlay', 'dataplane', 'networks', 'endpoints', 'peers', 'dns', 'gossip'] as const) {
      if (!same(cur[key], next[key])) needsRestart.push(key);
    }
    const byName = new Map(cur.services.map((x) => [x.name, x]));
    if (next.services.length !== cur.services.length || next.services.some((x) => !byName.has(x.name))) needsRestart.push('services (added or removed)');
    for (const svc of next.services) {
      const old = byName.get(svc.name);
      if (!old) continue;
      const { backends: nb, ...nrest } = svc;
      const { backends: ob, ...orest } = old;
      if (!same(nrest, orest)) needsRestart.push(`services.${svc.name} (other than backends)`);
      if (same(nb, ob)) continue;
      old.backends = nb;
      this.#applyBackends(svc.name);
      updated.push(svc.name);
    }
    if (updated.length > 0) this.gossip?.announceBackends(cur.services);
    // Host-mode ports follow the local tasks' states (a drained task stops taking new clients).
    if (updated.length > 0 && this.#published) applyPublishing(this.#publishedPorts(), cur.endpoints.filter((e) => e.host).map((e) => e.tun));
    return { updated, needsRestart };
  }

  /**
   * A service's backends into the load balancer and DNS: the configured ones plus those other
   * nodes announce by gossip (a configured name wins). A gossiped backend the tables refuse (a
   * VIP family it lacks) leaves the service as it was, counted in gossip.conflicts.
   */
  #applyBackends(name: string): void {
    const svc = this.config.services.find((x) => x.name === name);
    if (!svc) return;
    const mine = new Set(svc.backends.map((b) => b.name));
    const all = [...svc.backends, ...(this.gossip?.remoteBackends(name) ?? []).filter((b) => !mine.has(b.name))];
    if (svc.mode === 'vip') {
      try {
        this.services.setBackends(svc.name, all);
      } catch (err) {
        if (!(err instanceof VxmeshError) || !this.gossip) throw err;
        this.gossip.counters.conflicts++;
        return;
      }
    }
    // DNS hands out only backends that take new clients (draining and down ones drop out).
    this.#names.get(svc.network)?.setTasks(svc.name, all.filter((b) => b.ipv4 !== undefined && b.state === 'active').map((b) => ({
      name: b.name, ipv4: formatIPv4(b.ipv4!), ...(b.ipv6 ? { ipv6: formatIPv6(b.ipv6) } : {}),
    })));
  }

  /** Names the resolver does not own go to the configured upstreams over this agent's own socket. */
  #startForwarding(): void {
    const upstreams = this.config.dns.upstreams;
    if (upstreams.length === 0) return;
    const socket = createSocket('udp4');
    socket.bind(0);
    const forwarder = new Forwarder<TaskQuery>({
      upstreams,
      transport: { send: (msg, up) => socket.send(msg, up.port, up.address) },
      deliver: (client, reply) => this.dns.deliver(client, reply),
      rng: Math.random,
    });
    socket.on('message', (msg, rinfo) => forwarder.onReply(msg, msg.length, { address: rinfo.address, port: rinfo.port }));
    socket.on('error', () => {}); // send errors are counted by the forwarder's timeouts
    this.dns.forwarder = forwarder;
    this.#upstreamSocket = socket;
    // One coarse timer for every pending query's deadline.
    this.#dnsTick = setInterval(() => forwarder.tick(Date.now()), 100);
    this.#dnsTick.unref();
  }

  #lbStats(): Record<string, number> {
    const out: Record<string, number> = {};
    LB_COUNTER_NAMES.forEach((n, i) => (out[n] = this.vip.counters[i]!));
    CT_COUNTER_NAMES.forEach((n, i) => (out[`conntrack_${n}`] = this.vip.conntrack.counters[i]!));
    out['conntrack_flows'] = this.vip.conntrack.size4 + this.vip.conntrack.size6;
    const rp = this.returnPaths;
    this.#relays.forEach((r, i) => {
      for (const [k, v] of Object.entries(r.counters)) out[`proxy_relay${i}_${k}`] = v;
    });
    if (rp) {
      RP_COUNTER_NAMES.forEach((n, i) => (out[`return_paths_${n}`] = rp.counters[i]!));
      out['return_paths_flows'] = rp.table.size4 + rp.table.size6;
    }
    return out;
  }

  close(): void {
    this.gossip?.close();
    this.#metrics?.close();
    this.#metrics = undefined;
    for (const r of this.#relays) r.close();
    this.#relays.length = 0;
    if (this.#published) removePublishing();
    this.#published = false;
    if (this.#sweep) clearInterval(this.#sweep);
    if (this.#dnsTick) clearInterval(this.#dnsTick);
    this.dns.forwarder?.close();
    this.#upstreamSocket?.close();
    this.#loopDelay.disable();
    this.dataplane.close();
    for (const t of this.#tuns) t.close();
  }
}

/** The service's active backends that are tasks on this node, by family. */
function localBackends(svc: ServiceConfig, cfg: AgentConfig): { to4: string[]; to6: string[] } {
  const to4: string[] = [];
  const to6: string[] = [];
  const local = cfg.endpoints.filter((e) => !e.host && e.network === svc.network);
  for (const b of svc.backends) {
    if (b.state !== 'active') continue;
    if (b.ipv4 !== undefined && local.some((e) => e.ipv4 === b.ipv4)) to4.push(formatIPv4(b.ipv4));
    if (b.ipv6 && local.some((e) => e.ipv6 && Buffer.from(e.ipv6).equals(Buffer.from(b.ipv6!)))) to6.push(formatIPv6(b.ipv6));
  }
  return { to4, to6 };
}

/** JSON.stringify replacer: addresses held as bytes compare by value. */
function bytesAsArrays(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? Array.from(value) : value;
}
