// Endpoint discovery by gossip: what Docker's networkdb does on top of memberlist. Every node
// writes its local endpoints (task and host TUNs) into the gossip tables under its own name;
// every other node turns those entries into remote peers of the dataplane (TableWriter.addPeer),
// and drops them when the owner deletes them or is declared dead or left (the tables fence a
// gone owner's entries, GossipTables invariant I2). Static `peers` of the config still work
// alongside; a gossiped entry that collides with one of them, or with a local endpoint, is
// counted and left out.
//
//   local endpoints ──set──▶ TablesDelegate ─▶ GossipTables ─▶ SWIM (UDP/TCP 7946)
//   GossipTables events (add/update/delete by other owners) ──▶ TableWriter.addPeer/removePeer

import { formatIPv4, parseIPv4 } from '../../dataplane/packet/ipv4.js';
import { formatIPv6, parseIPv6 } from '../../dataplane/packet/ipv6.js';
import type { PeerSpec, TableWriter } from '../../dataplane/tables.js';
import { TableError } from '../../errors.js';
import type { MemberEvent } from '../swim/core.js';
import { Keyring, Sealer, type SealMode } from '../seal/index.js';
import { GossipNode } from '../swim/driver/gossip-node.js';
import { TablesDelegate } from '../swim/tables/delegate.js';
import { GossipTables, type TableEvent } from '../swim/tables/index.js';
import { readKeys } from '../cli/gossip.js';
import type { AgentConfig, EndpointConfig, ServiceConfig } from './config.js';

/** Protocol (ours): the gossip table of endpoints, keyed by the endpoint's IPv4 address. */
export const ENDPOINT_TABLE = 'ep';
/**
 * Protocol (ours): the gossip table of service backends, keyed "<service>/<backend name>".
 * A node announces the backends that are tasks on it; every node balances over all of them.
 */
export const BACKEND_TABLE = 'be';
/** Protocol (ours): endpoint value format version. */
const VALUE_V1 = 1;

export interface EndpointGossipCounters {
  /** Remote endpoints added to the dataplane. */
  added: number;
  /** Remote endpoints whose value changed (re-added). */
  updated: number;
  /** Remote endpoints removed (deleted by their owner, or the owner is gone). */
  removed: number;
  /** Entries that collide with a local endpoint or a configured peer: left out. */
  conflicts: number;
  /** Entries for a network this node does not carry: ignored. */
  otherNetwork: number;
  /** Entries whose value does not decode. */
  badValue: number;
  /** Backend entries for a service this node's config does not have: ignored. */
  otherService: number;
}

export type GossipBackend = ServiceConfig['backends'][number];

export interface PeerChange {
  op: 'add' | 'update' | 'remove';
  network: string;
  ipv4: string;
  node: string;
  vtep: string;
}

interface EndpointValue {
  v: number;
  mac: string;
  vtep: string;
  port: number;
  host: boolean;
  ipv6?: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

function macText(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The value this node gossips for one of its endpoints. */
export function encodeEndpoint(ep: EndpointConfig, vtep: number, port: number): Uint8Array {
  const v: EndpointValue = { v: VALUE_V1, mac: macText(ep.mac), vtep: formatIPv4(vtep), port, host: ep.host };
  if (ep.ipv6) v.ipv6 = formatIPv6(ep.ipv6);
  return enc.encode(JSON.stringify(v));
}

function ipv4Or(s: string): number | undefined {
  try {
    return parseIPv4(s);
  } catch {
    return undefined;
  }
}

function ipv6Or(s: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  try {
    parseIPv6(s, out);
    return out;
  } catch {
    return undefined;
  }
}

/** A remote peer from a gossiped entry, or undefined when the bytes are not one. */
export function decodeEndpoint(network: string, key: string, value: Uint8Array): PeerSpec | undefined {
  let v: Partial<EndpointValue>;
  try {
    v = JSON.parse(dec.decode(value)) as Partial<EndpointValue>;
  } catch {
    return undefined;
  }
  if (v.v !== VALUE_V1 || typeof v.mac !== 'string' || typeof v.vtep !== 'string' || typeof v.host !== 'boolean') return undefined;
  if (!Number.isInteger(v.port) || v.port! < 1 || v.port! > 65535) return undefined;
  const ipv4 = ipv4Or(key);
  const vtep = ipv4Or(v.vtep);
  const macParts = v.mac.split(':');
  if (ipv4 === undefined || vtep === undefined || macParts.length !== 6 || macParts.some((x) => !/^[0-9a-f]{2}$/i.test(x))) return undefined;
  const ipv6 = v.ipv6 === undefined ? undefined : ipv6Or(v.ipv6);
  if (v.ipv6 !== undefined && ipv6 === undefined) return undefined;
  return { network, ipv4, ipv6, mac: new Uint8Array(macParts.map((x) => parseInt(x, 16))), vtep, port: v.port!, host: v.host };
}

/** The value a node gossips for one of its local backends. */
export function encodeBackend(b: GossipBackend): Uint8Array {
  return enc.encode(JSON.stringify({
    v: VALUE_V1, weight: b.weight, state: b.state,
    ...(b.ipv4 !== undefined ? { ipv4: formatIPv4(b.ipv4) } : {}), ...(b.ipv6 ? { ipv6: formatIPv6(b.ipv6) } : {}),
  }));
}

/** A backend from a gossiped entry ("<service>/<name>"), or undefined when it is not one. */
export function decodeBackend(key: string, value: Uint8Array): { service: string; backend: GossipBackend } | undefined {
  const slash = key.indexOf('/');
  if (slash <= 0 || slash === key.length - 1) return undefined;
  let v: { v?: unknown; weight?: unknown; state?: unknown; ipv4?: unknown; ipv6?: unknown };
  try {
    v = JSON.parse(dec.decode(value)) as typeof v;
  } catch {
    return undefined;
  }
  if (v.v !== VALUE_V1 || !Number.isInteger(v.weight) || (v.weight as number) < 0 || (v.weight as number) > 1000) return undefined;
  if (v.state !== 'active' && v.state !== 'draining' && v.state !== 'down') return undefined;
  const ipv4 = typeof v.ipv4 === 'string' ? ipv4Or(v.ipv4) : undefined;
  const ipv6 = typeof v.ipv6 === 'string' ? ipv6Or(v.ipv6) : undefined;
  if ((v.ipv4 !== undefined && ipv4 === undefined) || (v.ipv6 !== undefined && ipv6 === undefined) || (ipv4 === undefined && ipv6 === undefined)) return undefined;
  return { service: key.slice(0, slash), backend: { name: key.slice(slash + 1), ipv4, ipv6, weight: v.weight as number, state: v.state } };
}

export interface EndpointGossipOptions {
  config: AgentConfig;
  tables: TableWriter;
  onPeer?: (c: PeerChange) => void;
  /** The backends other nodes announce for a service changed (all of them, by name). */
  onBackends?: (service: string, remote: GossipBackend[]) => void;
}

export class EndpointGossip {
  readonly counters: EndpointGossipCounters = { added: 0, updated: 0, removed: 0, conflicts: 0, otherNetwork: 0, badValue: 0, otherService: 0 };
  readonly node: GossipNode;
  readonly gossipTables: GossipTables;
  readonly #delegate: TablesDelegate;
  readonly #o: EndpointGossipOptions;
  /** Peers this module added, by "network/ipv4". */
  readonly #learned = new Map<string, { spec: PeerSpec; owner: string }>();
  readonly #networks: Set<string>;
  /** Other nodes' backends by service, then by "<service>/<name>" key. */
  readonly #remoteBackends = new Map<string, Map<string, GossipBackend>>();
  /** Keys of the backend entries this node announced (to delete the ones that went). */
  #announced = new Map<string, string>();

  constructor(o: EndpointGossipOptions) {
    this.#o = o;
    const cfg = o.config;
    const g = cfg.gossip!;
    this.#networks = new Set(cfg.networks.map((n) => n.name));
    // The epoch orders this run's writes after every earlier run's (README of swim/tables).
    this.gossipTables = new GossipTables({ self: cfg.node, epoch: Date.now() });
    const meta = { role: 'worker', addrs: [cfg.underlay.address], labels: {} };
    this.#delegate = new TablesDelegate(this.gossipTables, meta);
    const sealer = new Sealer({
      mode: g.seal as SealMode, maxPlainBytes: 16 << 20, compress: false,
      ...(g.keyFile ? { keyring: new Keyring(readKeys(g.keyFile)) } : {}),
    });
    this.node = new GossipNode({
      name: cfg.node, bindAddress: g.bind, port: g.port, sealer, meta: this.#delegate.meta(), seeds: g.join,
      ...(g.clusterLabel ? { label: g.clusterLabel } : {}),
      delegate: this.#delegate,
      onTick: (now) => this.#delegate.tick(now),
      onStep: (now, events) => this.step(now, events),
    });
    this.#delegate.bind(this.node.core);
  }

  /** Binds 7946, announces this node's endpoints and joins the seeds. */
  async start(): Promise<void> {
    const cfg = this.#o.config;
    const now = this.node.now();
    for (const ep of cfg.endpoints) {
      this.#delegate.set(now, ENDPOINT_TABLE, ep.network, formatIPv4(ep.ipv4), encodeEndpoint(ep, cfg.underlay.addressU32, cfg.underlay.port));
    }
    this.announceBackends(cfg.services);
    await this.node.start();
  }

  /**
   * Announces this node's backends (those whose address is one of its endpoints) and withdraws
   * the ones no longer there; call again after the services changed (SIGHUP).
   */
  announceBackends(services: readonly ServiceConfig[]): void {
    const now = this.node.now();
    const cfg = this.#o.config;
    const next = new Map<string, string>();
    for (const svc of services) {
      const local = cfg.endpoints.filter((e) => !e.host && e.network === svc.network);
      for (const b of svc.backends) {
        const mine = local.some((e) => (b.ipv4 !== undefined && e.ipv4 === b.ipv4) || (b.ipv6 !== undefined && e.ipv6 !== undefined && Buffer.from(e.ipv6).equals(Buffer.from(b.ipv6))));
        if (!mine) continue;
        const key = `${svc.name}/${b.name}`;
        next.set(key, svc.network);
        this.#delegate.set(now, BACKEND_TABLE, svc.network, key, encodeBackend(b));
      }
    }
    for (const [key, network] of this.#announced) if (!next.has(key)) this.#delegate.delete(now, BACKEND_TABLE, network, key);
    this.#announced = next;
  }

  /** Other nodes' backends of a service, as last gossiped. */
  remoteBackends(service: string): GossipBackend[] {
    return [...(this.#remoteBackends.get(service)?.values() ?? [])];
  }

  /** Tells the others we leave (they drop our endpoints at once), then closes. */
  async leave(): Promise<void> {
    await this.node.leave();
  }

  close(): void {
    this.node.close();
  }

  /** Hands membership events to the tables and applies what changed to the dataplane (the gossip node calls it after every round). */
  step(now: number, events: readonly MemberEvent[]): void {
    if (events.length > 0) this.#delegate.memberEvents(now, events);
    for (const ev of this.gossipTables.drainEvents()) this.#apply(ev);
  }

  #apply(ev: TableEvent): void {
    if (ev.table === BACKEND_TABLE) return this.#applyBackend(ev);
    if (ev.table !== ENDPOINT_TABLE) return;
    if (!this.#networks.has(ev.network)) {
      this.counters.otherNetwork++;
      return;
    }
    const id = `${ev.network}/${ev.key}`;
    const cur = this.#learned.get(id);
    const tables = this.#o.tables;
    if (cur) {
      tables.removePeer(ev.network, cur.spec.ipv4, cur.spec.ipv6);
      this.#learned.delete(id);
    }
    if (ev.op === 'delete' || ev.value === null) {
      if (cur) {
        this.counters.removed++;
        this.#o.onPeer?.({ op: 'remove', network: ev.network, ipv4: ev.key, node: cur.owner, vtep: formatIPv4(cur.spec.vtep) });
      }
      return;
    }
    if (ev.owner === this.#o.config.node) return; // our own entry won the key back
    const spec = decodeEndpoint(ev.network, ev.key, ev.value);
    if (!spec) {
      this.counters.badValue++;
      return;
    }
    try {
      tables.addPeer(spec);
    } catch (err) {
      // A duplicate address (a local endpoint, a configured peer): the dataplane refused it.
      if (!(err instanceof TableError)) throw err;
      this.counters.conflicts++;
      return;
    }
    this.#learned.set(id, { spec, owner: ev.owner });
    if (cur) this.counters.updated++;
    else this.counters.added++;
    this.#o.onPeer?.({ op: cur ? 'update' : 'add', network: ev.network, ipv4: ev.key, node: ev.owner, vtep: formatIPv4(spec.vtep) });
  }

  #applyBackend(ev: TableEvent): void {
    const slash = ev.key.indexOf('/');
    const service = slash > 0 ? ev.key.slice(0, slash) : '';
    const svc = this.#o.config.services.find((x) => x.name === service && x.network === ev.network);
    if (!svc) {
      this.counters.otherService++;
      return;
    }
    let remote = this.#remoteBackends.get(service);
    const had = remote?.has(ev.key) ?? false;
    if (ev.op === 'delete' || ev.value === null || ev.owner === this.#o.config.node) {
      if (!had) return;
      remote!.delete(ev.key);
    } else {
      const d = decodeBackend(ev.key, ev.value);
      if (!d) {
        this.counters.badValue++;
        return;
      }
      if (!remote) this.#remoteBackends.set(service, (remote = new Map()));
      remote.set(ev.key, d.backend);
    }
    this.#o.onBackends?.(service, this.remoteBackends(service));
  }
}
