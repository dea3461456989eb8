// The VIP step of the pipeline (DESIGN.md section 3, step 3), on the client's node:
//
//   client task ──▶ VIP:port      conntrack hit, or affinity / scheduler pick, then DNAT to
//                                 backend:targetPort (source untouched: the backend sees the
//                                 real client address, swarm's ask #1)
//   backend ──▶ client task        the reply reaches the client's node (vxmesh owns every hop):
//                                 a return-path conntrack hit rewrites the source back to VIP:port
//
// Rewrites are incremental (RFC 1624) and keep a partial (virtio NEEDS_CSUM) L4 checksum
// partial, so TSO super-packets are NATed once, not per segment. Nothing here allocates per
// packet; `now` is the pipeline's per-batch coarse clock.

import {
  IPV6_DST, IPV6_SRC, ipv4RewriteDst, ipv4RewriteSrc, ipv6RewriteAddr, l4RewritePort,
} from '../packet/index.js';
import { AffinityTable } from './conntrack/affinity.js';
import { Conntrack, FLAG_AFFINITY } from './conntrack/conntrack.js';
import { ST_TCP_CLOSE, ST_TCP_FIN_WAIT, ST_TCP_TIME_WAIT } from './conntrack/state.js';
import { createScheduler } from './schedulers/index.js';
import type { Scheduler } from './schedulers/types.js';
import { PROTO_TCP, PROTO_UDP, ServiceTables, type ServiceState } from './services.js';

/** Results of toVip: not a VIP packet, rewritten to a backend, or dropped (counted). */
export const VIP_NONE = 0;
export const VIP_DNAT = 1;
export const VIP_DROP = -1;

export const LB_NEW_FLOWS = 0; //        flows scheduled (a new backend choice)
export const LB_AFFINITY_HITS = 1; //   new flows sent to the client's previous backend
export const LB_STATELESS = 2; //       new flows chosen statelessly (table full or flow rate too high)
export const LB_NO_BACKEND = 3; //      VIP packets dropped: no eligible backend
export const LB_REPLIES_NATED = 4; //   return-path packets rewritten back to the VIP
export const LB_FRAGMENTS = 5; //       VIP packets that were fragments (no ports to balance on): dropped
export const LB_COUNT = 6;
export const LB_COUNTER_NAMES: readonly string[] = ['new_flows', 'affinity_hits', 'stateless', 'no_backend', 'replies_nated', 'fragments'];

/** Backends are identified in conntrack and affinity as (service << 16 | stable backend id). */
function backendId(svc: ServiceState, index: number): number {
  return (svc.index << 16) | svc.backendIds[index]!;
}

export class VipPath {
  readonly services: ServiceTables;
  readonly conntrack: Conntrack;
  readonly affinity: AffinityTable;
  readonly counters = new Float64Array(LB_COUNT);
  /** Per service: a consistent-hash chooser used when conntrack cannot take the flow. */
  readonly #fallback: (Scheduler | undefined)[] = [];
  readonly #fallbackVersion: number[] = [];
  readonly #addr6 = new Uint8Array(16);

  /**
   * Whether an address is a task on this node (for preferLocal). The pipeline's owner sets it
   * from the overlay tables; by default nothing is local.
   */
  isLocal: (network: number, ipv4: number | undefined, ipv6: Uint8Array | undefined) => boolean = () => false;
  /** Per service: a scheduler over the local backends only (others marked draining, indices kept). */
  readonly #local: (Scheduler | undefined)[] = [];
  readonly #localVersion: number[] = [];

  constructor(services: ServiceTables, conntrack = new Conntrack(), affinity = new AffinityTable()) {
    this.services = services;
    this.conntrack = conntrack;
    this.affinity = affinity;
    // A flow that goes away without being seen to close (idle expiry, UDP, a backend marked
    // down, a port reuse) still gives back its least-connections count.
    conntrack.onRelease = (e) => {
      if (isClosed(conntrack.stateOf(e))) return; // counted when it closed
      const svc = this.services.services[conntrack.serviceOf(e)];
      const index = svc ? (svc.indexOfId[conntrack.backendOf(e) & 0xffff] ?? -1) : -1;
      if (index >= 0 && (conntrack.backendOf(e) >>> 16) === svc!.index) svc!.scheduler.connectionClosed(index);
    };
    services.onBackendDown = (service, id) => {
      this.conntrack.removeBackend((service << 16) | id);
      this.affinity.removeBackend((service << 16) | id);
    };
  }

  /** Call after addService: applies the per-service idle and affinity timeouts. */
  configure(service: ServiceState): void {
    this.conntrack.setServiceTimeout(service.index, service.spec.idleSeconds * 1000);
    if (service.spec.affinitySeconds > 0) this.affinity.setTimeout(service.index, service.spec.affinitySeconds * 1000);
    this.#fallback[service.index] = undefined;
  }

  get active(): boolean {
    return this.services.services.length > 0;
  }

  /** Client → VIP, IPv4 packet at buf[off, off+len). `partial`: the L4 checksum is a virtio partial sum. */
  toVip4(buf: Buffer, off: number, len: number, network: number, partial: boolean, now: number): number {
    const proto = buf[off + 9]!;
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) return VIP_NONE;
    const l4 = off + (buf[off]! & 0x0f) * 4;
    const dst = buf.readUInt32BE(off + 16);
    if ((buf.readUInt16BE(off + 6) & 0x3fff) !== 0 || l4 + 14 > off + len) {
      // A fragment (or a header too short for ports) cannot be balanced: only a VIP's concern.
      if (!this.services.isVip4(network, dst)) return VIP_NONE;
      this.counters[LB_FRAGMENTS]!++;
      return VIP_DROP;
    }
    const dport = buf.readUInt16BE(l4 + 2);
    const front = this.services.frontend4(network, dst, proto, dport);
    if (front < 0) {
      if (proto === PROTO_TCP && (buf[l4 + 13]! & SYN_ACK) === TCP_SYN && this.conntrack.size4 > 0) {
        this.#forgetClosed(this.conntrack.lookupReply4(proto, dst, dport, buf.readUInt32BE(off + 12), buf.readUInt16BE(l4), now));
      }
      return VIP_NONE;
    }
    const s = this.services.frontService[front]!;
    const svc = this.services.services[s]!;
    const src = buf.readUInt32BE(off + 12);
    const sport = buf.readUInt16BE(l4);
    const ct = this.conntrack;
    let e = ct.lookup4(proto, src, sport, dst, dport, now);
    let natAddr: number;
    let natPort: number;
    if (e >= 0) {
      natAddr = ct.natAddr4Of(e);
      natPort = ct.natPortOf(e);
    } else {
      const b = this.#choose(svc, src, now, ct.admit(now));
      if (b < 0) return VIP_DROP;
      natAddr = svc.backend4[b & 0xffff]! >>> 0;
      natPort = this.services.frontTargetPort[front]!;
      if ((b & FLAG_STATELESS_BIT) === 0) {
        e = ct.insert4(proto, src, sport, dst, dport, backendId(svc, b & 0xffff), natAddr, natPort, now, s, b & FLAG_AFFINITY_BIT ? FLAG_AFFINITY : 0);
        if (e >= 0) svc.scheduler.connectionOpened(b & 0xffff);
      }
    }
    if (e >= 0 && proto === PROTO_TCP) this.#observe(e, svc, buf[l4 + 13]!, true, now);
    ipv4RewriteDst(buf, off, natAddr, partial);
    l4RewritePort(buf, l4, proto, 2, natPort, partial);
    return VIP_DNAT;
  }

  /** Backend → client, IPv4, on the client's node: rewrites a tracked reply's source to the VIP. */
  fromBackend4(buf: Buffer, off: number, len: number, partial: boolean, now: number): void {
    if (this.conntrack.size4 === 0) return;
    const proto = buf[off + 9]!;
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) return;
    const l4 = off + (buf[off]! & 0x0f) * 4;
    if ((buf.readUInt16BE(off + 6) & 0x3fff) !== 0 || l4 + 14 > off + len) return;
    const ct = this.conntrack;
    const e = ct.lookupReply4(proto, buf.readUInt32BE(off + 12), buf.readUInt16BE(l4), buf.readUInt32BE(off + 16), buf.readUInt16BE(l4 + 2), now);
    if (e < 0) return;
    if (proto === PROTO_TCP) this.#observe(e, this.services.services[ct.serviceOf(e)], buf[l4 + 13]!, false, now);
    ipv4RewriteSrc(buf, off, ct.vipAddr4Of(e), partial);
    l4RewritePort(buf, l4, proto, 0, ct.vipPortOf(e), partial);
    this.counters[LB_REPLIES_NATED]!++;
  }

  /** Client → VIP, IPv6 (no extension headers: a VIP packet with them is not balanced). */
  toVip6(buf: Buffer, off: number, len: number, network: number, partial: boolean, now: number): number {
    const proto = buf[off + 6]!;
    if ((proto !== PROTO_TCP && proto !== PROTO_UDP) || len < 40 + 14) return VIP_NONE;
    const l4 = off + 40;
    const dport = buf.readUInt16BE(l4 + 2);
    const front = this.services.frontend6(network, buf, off + 24, proto, dport);
    if (front < 0) {
      if (proto === PROTO_TCP && (buf[l4 + 13]! & SYN_ACK) === TCP_SYN && this.conntrack.size6 > 0) {
        this.#forgetClosed(this.conntrack.lookupReply6(proto, buf, off + 24, dport, buf, off + 8, buf.readUInt16BE(l4), now));
      }
      return VIP_NONE;
    }
    const s = this.services.frontService[front]!;
    const svc = this.services.services[s]!;
    const sport = buf.readUInt16BE(l4);
    const ct = this.conntrack;
    const nat = this.#addr6;
    let e = ct.lookup6(proto, buf, off + 8, sport, buf, off + 24, dport, now);
    let natPort: number;
    if (e >= 0) {
      ct.copyAddr6(e, 2, nat, 0);
      natPort = ct.natPortOf(e);
    } else {
      const b = this.#choose6(svc, buf, off + 8, now, ct.admit(now, true));
      if (b < 0) return VIP_DROP;
      nat.set(svc.backend6.subarray((b & 0xffff) * 16, (b & 0xffff) * 16 + 16)); // once per new flow
      natPort = this.services.frontTargetPort[front]!;
      if ((b & FLAG_STATELESS_BIT) === 0) {
        e = ct.insert6(proto, buf, off + 8, sport, buf, off + 24, dport, backendId(svc, b & 0xffff), nat, 0, natPort, now, s, b & FLAG_AFFINITY_BIT ? FLAG_AFFINITY : 0);
        if (e >= 0) svc.scheduler.connectionOpened(b & 0xffff);
      }
    }
    if (e >= 0 && proto === PROTO_TCP) this.#observe(e, svc, buf[l4 + 13]!, true, now);
    ipv6RewriteAddr(buf, off, IPV6_DST, nat, 0, partial);
    l4RewritePort(buf, l4, proto, 2, natPort, partial);
    return VIP_DNAT;
  }

  fromBackend6(buf: Buffer, off: number, len: number, partial: boolean, now: number): void {
    if (this.conntrack.size6 === 0) return;
    const proto = buf[off + 6]!;
    if ((proto !== PROTO_TCP && proto !== PROTO_UDP) || len < 40 + 14) return;
    const l4 = off + 40;
    const ct = this.conntrack;
    const e = ct.lookupReply6(proto, buf, off + 8, buf.readUInt16BE(l4), buf, off + 24, buf.readUInt16BE(l4 + 2), now);
    if (e < 0) return;
    if (proto === PROTO_TCP) this.#observe(e, this.services.services[ct.serviceOf(e)], buf[l4 + 13]!, false, now);
    ct.copyAddr6(e, 1, this.#addr6, 0);
    ipv6RewriteAddr(buf, off, IPV6_SRC, this.#addr6, 0, partial);
    l4RewritePort(buf, l4, proto, 0, ct.vipPortOf(e), partial);
    this.counters[LB_REPLIES_NATED]!++;
  }

  /**
   * A new TCP connection straight to a task (no VIP) whose reply tuple is the same as an old VIP
   * flow's: the client reused its port (the old flow is closing or closed). Without this, the
   * task's replies would match the old flow and leave with the VIP as source, and the client
   * would reset them. A flow that is still open is left alone: that tuple is truly ambiguous
   * (one client port to both the VIP and the task at once) and the VIP flow keeps it.
   */
  #forgetClosed(e: number): void {
    if (e >= 0 && this.conntrack.stateOf(e) >= ST_TCP_FIN_WAIT) this.conntrack.remove(e);
  }

  /** The coarse sweep (one timer for all flows, never one per entry). */
  expire(now: number, budget: number): number {
    return this.conntrack.expire(now, budget) + this.affinity.expire(now, budget);
  }

  #observe(e: number, svc: ServiceState | undefined, flags: number, fromClient: boolean, now: number): void {
    const ct = this.conntrack;
    const before = ct.stateOf(e);
    const after = ct.observeTcp(e, flags, fromClient, now);
    if (svc && !isClosed(before) && isClosed(after)) {
      const index = svc.indexOfId[ct.backendOf(e) & 0xffff] ?? -1;
      if (index >= 0) svc.scheduler.connectionClosed(index);
    }
  }

  /** Backend index for a new IPv4 flow (| flag bits), or -1 after counting the drop. */
  #choose(svc: ServiceState, client: number, now: number, admitted: boolean): number {
    const s = svc.index;
    if (svc.spec.affinitySeconds > 0) {
      const id = this.affinity.get4(client, s, now);
      const index = id >= 0 ? (svc.indexOfId[id & 0xffff] ?? -1) : -1;
      if (index >= 0 && this.#eligible(svc, index)) {
        this.counters[LB_AFFINITY_HITS]!++;
        return index | FLAG_AFFINITY_BIT | (admitted ? 0 : FLAG_STATELESS_BIT);
      }
    }
    const b = this.#pick(svc, hashClient4(client), admitted);
    if (b < 0) return b;
    if (svc.spec.affinitySeconds > 0) this.affinity.set4(client, s, backendId(svc, b & 0xffff), now);
    return b;
  }

  #choose6(svc: ServiceState, buf: Buffer, off: number, now: number, admitted: boolean): number {
    const s = svc.index;
    if (svc.spec.affinitySeconds > 0) {
      const id = this.affinity.get6(buf, off, s, now);
      const index = id >= 0 ? (svc.indexOfId[id & 0xffff] ?? -1) : -1;
      if (index >= 0 && this.#eligible(svc, index)) {
        this.counters[LB_AFFINITY_HITS]!++;
        return index | FLAG_AFFINITY_BIT | (admitted ? 0 : FLAG_STATELESS_BIT);
      }
    }
    const b = this.#pick(svc, hashClient6(buf, off), admitted);
    if (b < 0) return b;
    if (svc.spec.affinitySeconds > 0) this.affinity.set6(buf, off, s, backendId(svc, b & 0xffff), now);
    return b;
  }

  #pick(svc: ServiceState, hash: number, admitted: boolean): number {
    let b = -1;
    if (admitted && svc.spec.preferLocal) b = this.#localScheduler(svc).pick(hash);
    if (b >= 0) {
      // a local backend took it
    } else if (admitted) {
      b = svc.scheduler.pick(hash);
    } else {
      // Stateless: a consistent choice that the same client gets again without any state.
      let f = this.#fallback[svc.index];
      if (!f || this.#fallbackVersion[svc.index] !== svc.version) {
        f = this.#fallback[svc.index] ??= createScheduler('maglev');
        f.setBackends(svc.backends);
        this.#fallbackVersion[svc.index] = svc.version;
      }
      b = f.pick(hash);
      this.counters[LB_STATELESS]!++;
    }
    if (b < 0) {
      this.counters[LB_NO_BACKEND]!++;
      return -1;
    }
    this.counters[LB_NEW_FLOWS]!++;
    return admitted ? b : b | FLAG_STATELESS_BIT;
  }

  #localScheduler(svc: ServiceState): Scheduler {
    let l = this.#local[svc.index];
    if (!l || this.#localVersion[svc.index] !== svc.version) {
      l = this.#local[svc.index] ??= createScheduler(svc.spec.scheduler);
      const net = svc.spec.networkIndex;
      l.setBackends(svc.backends.map((b) => (this.isLocal(net, b.ipv4, b.ipv6) ? b : { ...b, state: 'draining' as const })));
      this.#localVersion[svc.index] = svc.version;
    }
    return l;
  }

  #eligible(svc: ServiceState, b: number): boolean {
    const be = svc.backends[b];
    return be !== undefined && be.state === 'active' && be.weight > 0;
  }

}

function isClosed(state: number): boolean {
  return state === ST_TCP_TIME_WAIT || state === ST_TCP_CLOSE;
}

/** Protocol: TCP flags (RFC 9293 section 3.1): a connection's first segment has SYN without ACK. */
const TCP_SYN = 0x02;
const SYN_ACK = 0x12;

// Flag bits carried above the 16-bit backend index in #choose results.
const FLAG_AFFINITY_BIT = 1 << 16;
const FLAG_STATELESS_BIT = 1 << 17;

/**
 * Source hashing on the client address only (not the 5-tuple): sh and maglev then keep every
 * connection of a client on one backend, which is what users of "sh" expect.
 */
function hashClient4(a: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashClient6(b: Uint8Array, o: number): number {
  let h = 0x9e3779b9;
  for (let k = 0; k < 16; k += 4) {
    h = Math.imul(h ^ ((b[o + k]! << 24) | (b[o + k + 1]! << 16) | (b[o + k + 2]! << 8) | b[o + k + 3]!), 0x85ebca6b);
    h ^= h >>> 13;
  }
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
