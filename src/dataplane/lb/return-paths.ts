// Ingress return paths, on the node that runs the backend.
//
// An outside client reaches a published port on node A; A's nftables DNATs it to the VIP, A's
// pipeline balances it to a backend task on node B and tunnels it there with the client's own
// address as source (no SNAT: the backend sees the real client, swarm ask #1). B's task answers
// to that outside address, which is in no overlay table; the reply must go back to A, whose VIP
// conntrack rewrites the source to the VIP and whose kernel un-DNATs it to the published port.
//
// So B remembers, per flow, which node's host endpoint the client came through: learned from
// the inner source of arriving VXLAN packets that is not an overlay address, keyed by the
// 5-tuple (a client going through two ingress nodes to one backend is two flows, and each
// reply finds its own way back). The table is a second Conntrack (flat typed arrays, TCP
// states, idle timeouts, one coarse sweep) whose backend field holds the host endpoint's
// route id; no NAT happens here, the "NAT" address is the backend's own.

import { Conntrack } from './conntrack/conntrack.js';
import type { ConntrackConfig } from './conntrack/config.js';
import { PROTO_TCP, PROTO_UDP } from './services.js';

export const RP_LEARNED = 0; //  flows learned from outside clients arriving by VXLAN
export const RP_REPLIES = 1; //  replies sent back through the node the client came through
export const RP_COUNT = 2;
export const RP_COUNTER_NAMES: readonly string[] = ['learned', 'replies'];

/** Implementation: 64k IPv4 + 16k IPv6 flows by default (5 MB); ingress flows beyond it fall back to the local host endpoint. */
const DEFAULT_CAPACITY4 = 65536;
const DEFAULT_CAPACITY6 = 16384;

export class ReturnPaths {
  readonly table: Conntrack;
  readonly counters = new Float64Array(RP_COUNT);

  constructor(config: Partial<Omit<ConntrackConfig, 'timeouts'>> = {}) {
    // No new-flow rate limit: a refused insert here loses the return path, not a balancing choice.
    this.table = new Conntrack({ capacity4: DEFAULT_CAPACITY4, capacity6: DEFAULT_CAPACITY6, maxServices: 1, newFlowsPerSecond: 0, ...config });
  }

  /**
   * An IPv4 packet from an outside client arrived by VXLAN through the host endpoint `route`
   * and is about to be delivered to a local task: remember the way back.
   */
  learn4(buf: Uint8Array, off: number, len: number, route: number, now: number): void {
    const b = buf as Buffer;
    const proto = b[off + 9]!;
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) return;
    const l4 = off + (b[off]! & 0x0f) * 4;
    if ((b.readUInt16BE(off + 6) & 0x3fff) !== 0 || l4 + 14 > off + len) return;
    const src = b.readUInt32BE(off + 12), sport = b.readUInt16BE(l4);
    const dst = b.readUInt32BE(off + 16), dport = b.readUInt16BE(l4 + 2);
    const ct = this.table;
    let e = ct.lookup4(proto, src, sport, dst, dport, now);
    if (e < 0 || ct.backendOf(e) !== route) {
      e = ct.insert4(proto, src, sport, dst, dport, route, dst, dport, now);
      if (e < 0) return;
      this.counters[RP_LEARNED]!++;
    }
    if (proto === PROTO_TCP) ct.observeTcp(e, b[l4 + 13]!, true, now);
  }

  /** The route id to send a local task's IPv4 reply to an outside client through, or -1. */
  reply4(buf: Uint8Array, off: number, len: number, now: number): number {
    const ct = this.table;
    if (ct.size4 === 0) return -1;
    const b = buf as Buffer;
    const proto = b[off + 9]!;
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) return -1;
    const l4 = off + (b[off]! & 0x0f) * 4;
    if ((b.readUInt16BE(off + 6) & 0x3fff) !== 0 || l4 + 14 > off + len) return -1;
    const e = ct.lookupReply4(proto, b.readUInt32BE(off + 12), b.readUInt16BE(l4), b.readUInt32BE(off + 16), b.readUInt16BE(l4 + 2), now);
    if (e < 0) return -1;
    if (proto === PROTO_TCP) ct.observeTcp(e, b[l4 + 13]!, false, now);
    this.counters[RP_REPLIES]!++;
    return ct.backendOf(e);
  }

  /** learn4 for IPv6 (no extension headers: packets with them are not tracked). */
  learn6(buf: Uint8Array, off: number, len: number, route: number, now: number): void {
    const b = buf as Buffer;
    const proto = b[off + 6]!;
    if ((proto !== PROTO_TCP && proto !== PROTO_UDP) || len < 40 + 14) return;
    const l4 = off + 40;
    const sport = b.readUInt16BE(l4), dport = b.readUInt16BE(l4 + 2);
    const ct = this.table;
    let e = ct.lookup6(proto, b, off + 8, sport, b, off + 24, dport, now);
    if (e < 0 || ct.backendOf(e) !== route) {
      e = ct.insert6(proto, b, off + 8, sport, b, off + 24, dport, route, b, off + 24, dport, now);
      if (e < 0) return;
      this.counters[RP_LEARNED]!++;
    }
    if (proto === PROTO_TCP) ct.observeTcp(e, b[l4 + 13]!, true, now);
  }

  reply6(buf: Uint8Array, off: number, len: number, now: number): number {
    const ct = this.table;
    if (ct.size6 === 0) return -1;
    const b = buf as Buffer;
    const proto = b[off + 6]!;
    if ((proto !== PROTO_TCP && proto !== PROTO_UDP) || len < 40 + 14) return -1;
    const l4 = off + 40;
    const e = ct.lookupReply6(proto, b, off + 8, b.readUInt16BE(l4), b, off + 24, b.readUInt16BE(l4 + 2), now);
    if (e < 0) return -1;
    if (proto === PROTO_TCP) ct.observeTcp(e, b[l4 + 13]!, false, now);
    this.counters[RP_REPLIES]!++;
    return ct.backendOf(e);
  }

  /**
   * A TCP SYN from an outside client entering on THIS node (a host endpoint): whatever return
   * path an earlier flow with the same tuple learned (through another node) is stale now.
   */
  forget4(buf: Uint8Array, off: number, len: number, now: number): void {
    const ct = this.table;
    if (ct.size4 === 0) return;
    const b = buf as Buffer;
    if (b[off + 9] !== PROTO_TCP) return;
    const l4 = off + (b[off]! & 0x0f) * 4;
    if (l4 + 14 > off + len) return;
    const e = ct.lookup4(PROTO_TCP, b.readUInt32BE(off + 12), b.readUInt16BE(l4), b.readUInt32BE(off + 16), b.readUInt16BE(l4 + 2), now);
    if (e >= 0) ct.remove(e);
  }

  forget6(buf: Uint8Array, off: number, len: number, now: number): void {
    const ct = this.table;
    if (ct.size6 === 0) return;
    const b = buf as Buffer;
    if (b[off + 6] !== PROTO_TCP || len < 40 + 14) return;
    const e = ct.lookup6(PROTO_TCP, b, off + 8, b.readUInt16BE(off + 40), b, off + 24, b.readUInt16BE(off + 42), now);
    if (e >= 0) ct.remove(e);
  }

  /** The coarse sweep, with the VIP conntrack's. */
  expire(now: number, budget: number): number {
    return this.table.expire(now, budget);
  }
}
