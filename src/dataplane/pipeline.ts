// The forwarding decision (DESIGN.md section 3), one batch at a time.
//
//   from a task's TUN:   validate → anti-spoof → look up the destination in the network's table
//                        → local task: pass the packet (or TSO super-packet) through whole to its TUN
//                        → remote task: put VXLAN + inner Ethernet in the headroom, hand to UDP
//                          (the addon splits super-packets into segments and sends with UDP GSO)
//                        → too big for the overlay with DF: ICMP frag-needed / packet-too-big back
//   from the underlay:   for each datagram (GRO hands many per slot): VXLAN → VNI → inner frame
//                        → ARP request / neighbour solicitation for a local task: answer it
//                        → IPv4/IPv6 for a local task: queue for its TUN (the addon coalesces TCP)
//                        → anything else: drop, counted by reason. Never relayed back to the
//                          underlay, so two nodes with stale tables cannot loop a packet.
//
// Nothing here allocates per packet: packets stay in the slabs they were read into, per-TUN
// write lists are preallocated Int32Arrays of indices, replies are built in a reply slab.

import {
  C_ARP_REPLIES, C_BATCHES, C_DNS_QUERIES, C_ICMP_ERRORS_SENT, C_REPLIES_FAILED, C_LOCAL_FORWARD, C_ND_REPLIES, C_TUN_RX_BYTES, C_TUN_RX_PACKETS,
  C_TUN_TX_BYTES, C_TUN_TX_PACKETS, C_UDP_RX_BYTES, C_UDP_RX_DATAGRAMS, C_UDP_TX_BYTES, C_UDP_TX_PACKETS,
  DROP_BAD_OFFLOAD, DROP_IO, DROP_MALFORMED, DROP_MULTICAST, DROP_NOT_LOCAL, DROP_NO_BACKEND, DROP_NO_ROUTE, DROP_OVERSIZE,
  DROP_SPOOFED_SOURCE, DROP_UNKNOWN_VNI, DROP_UNSUPPORTED, DROP_VXLAN_BAD, type DataplaneCounters,
} from './counters.js';
import {
  BATCH, GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, HEADROOM, PV_ADDR, PV_CSUM_OFF, PV_CSUM_START, PV_GSO_SIZE,
  PV_GSO_TYPE, PV_HDR_LEN, PV_INNER, PV_LEN, PV_OFF, PV_PORT, PV_SEG, PV_STRIDE, PV_VFLAGS, VF_NEEDS_CSUM, newPacketVec, type PacketBatch,
} from './io/packet-vec.js';
import type { UdpBind } from './io/types.js';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ICMPV6_NEIGHBOR_SOLICIT, IPPROTO_ICMPV6, IPPROTO_TCP as PROTO_TCP,
  IPPROTO_UDP as PROTO_UDP, VXLAN_FLAG_I, VXLAN_PREFIX_LEN, checkArp, checkIPv4, checkIPv6, checkNeighborSolicitation,
  ipv6Equal, isIPv6Unspecified, isIcmpError, isIcmpv6Error, writeArpReply, writeIcmpFragNeeded,
  writeNeighborAdvertisement, writePacketTooBig, writeVxlanPrefix,
} from './packet/index.js';
import { DNS_PORT, DNS_REPLY_ROOM, type DnsPath } from './dns/dns-path.js';
import type { ReturnPaths } from './lb/return-paths.js';
import { VIP_DROP, type VipPath } from './lb/vip-path.js';
import { ROUTE_LOCAL, ROUTE_REMOTE, type NetworkState, type OverlayTables } from './tables.js';

/** Protocol: VXLAN header (RFC 7348 section 5) plus the inner Ethernet header. */
export const ENCAP_PREFIX = VXLAN_PREFIX_LEN;
/** Implementation: GRO hands at most 64 segments per slot (UDP_MAX_SEGMENTS on receive is lower). */
const MAX_SEGMENTS_PER_SLOT = 64;
/** Implementation: reply slab slots; an ICMP error quotes at most 1280 bytes (RFC 4443 3.2). */
const REPLY_SLOT = 2048;
const REPLY_SLOTS = 64;

export interface PipelineOptions {
  /** Merge in-order TCP segments from the underlay into super-packets before the TUN write. */
  coalesce: boolean;
  /** UDP port remote VTEPs listen on, for replies (ARP, NA) to the sender's VTEP. */
  dataPort: number;
  /** Service VIPs (load balancing, NAT); absent: no services on this node. */
  vip?: VipPath | undefined;
  /** The embedded resolver on each network's gateway address, port 53; absent: none. */
  dns?: DnsPath | undefined;
  /** The coarse clock for conntrack, in milliseconds, read once per batch. */
  now?: () => number;
  /** Ingress return paths (which node an outside client came through); absent: no ingress networks. */
  returnPaths?: ReturnPaths | undefined;
}

export class Pipeline {
  readonly tables: OverlayTables;
  readonly counters: DataplaneCounters;
  readonly udp: UdpBind;
  readonly options: PipelineOptions;

  readonly #udpIdx = new Int32Array(BATCH);
  // Per destination TUN: a list of indices into the vector being flushed.
  #tunLists: Int32Array[] = [];
  #tunCounts = new Int32Array(16);
  readonly #pendingTuns = new Int32Array(BATCH * MAX_SEGMENTS_PER_SLOT);
  #pendingCount = 0;
  // One vector entry per received GRO segment (inner IP packets inside the receive slab).
  readonly #rxVec = newPacketVec(BATCH * MAX_SEGMENTS_PER_SLOT);
  #rxCount = 0;
  // Replies (ARP, NA, ICMP errors) are built here; never more than REPLY_SLOTS per batch.
  readonly #reply = Buffer.alloc(REPLY_SLOTS * REPLY_SLOT);
  readonly #replyVec = newPacketVec(REPLY_SLOTS);
  readonly #replyIdx = new Int32Array(REPLY_SLOTS);
  #replyCount = 0;
  // ICMP errors back to a task are written at once; they have their own buffer so they never
  // touch replies that fromUdp may still have pending.
  readonly #icmp = Buffer.alloc(REPLY_SLOT);
  readonly #icmpVec = newPacketVec(1);
  readonly #icmpIdx = new Int32Array(1);

  readonly #vip: VipPath | undefined;
  readonly #dns: DnsPath | undefined;
  readonly #rp: ReturnPaths | undefined;
  readonly #dnsOut = Buffer.alloc(HEADROOM + DNS_REPLY_ROOM);
  readonly #clock: () => number;
  #now = 0;

  constructor(tables: OverlayTables, udp: UdpBind, counters: DataplaneCounters, options: PipelineOptions) {
    this.tables = tables;
    this.udp = udp;
    this.counters = counters;
    this.options = options;
    this.#vip = options.vip;
    this.#dns = options.dns;
    this.#rp = options.returnPaths;
    if (options.dns) options.dns.writeToTask = (tun, out, off, len) => this.#writeBack(tun, out, off, len);
    this.#clock = options.now ?? Date.now;
  }

  /** Answers a task's DNS query and writes the reply back to its TUN; returns -1 (consumed). */
  #answerDns(tunIndex: number, net: NetworkState, buf: Buffer, off: number, len: number, v4: boolean): number {
    const dns = this.#dns!;
    if (!dns.hasResolver(net.index)) return this.#dropped(DROP_NO_ROUTE);
    this.counters.counters[C_DNS_QUERIES]!++;
    const out = this.#dnsOut;
    const n = v4 ? dns.answer4(net.index, buf, off, len, out, HEADROOM, tunIndex) : dns.answer6(net.index, buf, off, len, out, HEADROOM, tunIndex);
    if (n > 0) this.#writeBack(tunIndex, out, HEADROOM, n);
    return -1;
  }

  /** Writes one packet built by the pipeline (an ICMP error, a DNS answer) to a task's TUN. */
  #writeBack(tunIndex: number, out: Buffer, off: number, len: number): boolean {
    const v = this.#icmpVec;
    v.fill(0);
    v[PV_OFF] = off;
    v[PV_LEN] = len;
    const tun = this.tables.tuns[tunIndex];
    if (tun && tun.write(out, v, this.#icmpIdx, 1, false) === 1) return true;
    this.counters.counters[C_REPLIES_FAILED]!++;
    return false;
  }

  /** A packet about to reach a local task: if it is a backend's reply, its source becomes the VIP again. */
  #replyToClient(buf: Buffer, off: number, len: number, partial: boolean): void {
    const vip = this.#vip!;
    if (buf[off]! >> 4 === 4) vip.fromBackend4(buf, off, len, partial, this.#now);
    else vip.fromBackend6(buf, off, len, partial, this.#now);
  }

  /** Forwards packets 0..n-1 of `batch`, read from the TUN at `tunIndex`. */
  fromTun(tunIndex: number, batch: PacketBatch, n: number): void {
    const t = this.tables;
    const c = this.counters.counters;
    const buf = batch.buf;
    const vec = batch.vec;
    const srcRoute = t.tunRoute[tunIndex]!;
    const routeKind = t.routeKind, routeMac = t.routeMac, routeTun = t.routeTun;
    const net = srcRoute >= 0 && routeKind[srcRoute] === ROUTE_LOCAL ? t.networks[t.routeNet[srcRoute]!] : undefined;
    let nUdp = 0;
    c[C_BATCHES]!++;
    this.#now = this.#clock();
    if (!net) {
      // The endpoint was removed while this batch was in flight.
      c[C_TUN_RX_PACKETS]! += n;
      this.counters.drop(DROP_NO_ROUTE, n);
      return;
    }
    for (let i = 0; i < n; i++) {
      const b = i * PV_STRIDE;
      const off = vec[b + PV_OFF]!;
      const len = vec[b + PV_LEN]!;
      c[C_TUN_RX_PACKETS]!++;
      c[C_TUN_RX_BYTES]! += len;
      const rid = this.#routeFromTask(buf, off, len, net, srcRoute, (vec[b + PV_VFLAGS]! & VF_NEEDS_CSUM) !== 0, tunIndex);
      if (rid < 0) continue; // dropped and counted, or answered here (DNS)
      const gso = vec[b + PV_GSO_TYPE]!;
      if (gso !== GSO_NONE && !offloadMatches(buf, off, gso, vec[b + PV_GSO_SIZE]!)) {
        this.counters.drop(DROP_BAD_OFFLOAD);
        continue;
      }
      if (routeKind[rid] === ROUTE_LOCAL) {
        // Same node: the super-packet goes through whole, virtio header and all.
        if (this.#vip) this.#replyToClient(buf, off, len, (vec[b + PV_VFLAGS]! & VF_NEEDS_CSUM) !== 0);
        c[C_LOCAL_FORWARD]!++;
        this.#queueTun(routeTun[rid]!, i);
        continue;
      }
      // Remote: the largest packet on the wire is one segment of a super-packet.
      const wireSize = gso === GSO_NONE ? len : l4HeaderEnd(buf, off, len) - off + vec[b + PV_GSO_SIZE]!;
      if (wireSize > net.mtu && this.#tooBig(tunIndex, buf, off, len, net)) continue;
      const p = off - ENCAP_PREFIX;
      writeVxlanPrefix(buf, p, net.vni, routeMac, rid * 6, routeMac, srcRoute * 6, (buf[off]! >> 4) === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
      vec[b + PV_OFF] = p;
      vec[b + PV_LEN] = len + ENCAP_PREFIX;
      vec[b + PV_INNER] = ENCAP_PREFIX;
      vec[b + PV_ADDR] = t.routeVtep[rid]!;
      vec[b + PV_PORT] = t.routePort[rid]!;
      this.#udpIdx[nUdp++] = i;
      c[C_UDP_TX_PACKETS]!++;
      c[C_UDP_TX_BYTES]! += len + ENCAP_PREFIX;
    }
    if (nUdp > 0) {
      const sent = this.udp.send(buf, vec, this.#udpIdx, nUdp);
      if (sent < nUdp) {
        c[C_UDP_TX_PACKETS]! -= nUdp - sent; // counted above as offered; only sent ones stay
        this.counters.drop(DROP_IO, nUdp - sent);
      }
    }
    this.#flushTuns(buf, vec, false);
  }

  /** Handles datagrams 0..n-1 of `batch`, received on the underlay socket. */
  fromUdp(batch: PacketBatch, n: number): void {
    const c = this.counters.counters;
    const buf = batch.buf;
    const vec = batch.vec;
    c[C_BATCHES]!++;
    this.#now = this.#clock();
    this.#rxCount = 0;
    this.#replyCount = 0;
    for (let i = 0; i < n; i++) {
      const b = i * PV_STRIDE;
      const off = vec[b + PV_OFF]!;
      const end = off + vec[b + PV_LEN]!;
      const seg = vec[b + PV_SEG]!;
      const step = seg > 0 ? seg : end - off;
      const vtep = vec[b + PV_ADDR]!;
      if (step <= 0) {
        c[C_UDP_RX_DATAGRAMS]!++;
        this.counters.drop(DROP_VXLAN_BAD);
        continue;
      }
      if (seg > 0 && this.#tunnelSuperFrame(buf, off, end - off, seg)) continue;
      for (let o = off; o < end; o += step) {
        const l = Math.min(step, end - o);
        c[C_UDP_RX_DATAGRAMS]!++;
        c[C_UDP_RX_BYTES]! += l;
        this.#fromUnderlay(buf, o, l, vtep);
        if (this.#rxCount >= this.#rxVec.length / PV_STRIDE) this.#flushRx(buf); // cannot happen with 64 segments per slot; kept as a bound
      }
    }
    this.#flushRx(buf);
    if (this.#replyCount > 0) {
      const sent = this.udp.send(this.#reply, this.#replyVec, this.#replyIdx, this.#replyCount);
      if (sent < this.#replyCount) c[C_REPLIES_FAILED]! += this.#replyCount - sent;
      this.#replyCount = 0;
    }
  }

  /** Returns the route id for a packet a task sent, or -1 after counting the drop. */
  #routeFromTask(buf: Buffer, off: number, len: number, net: NetworkState, srcRoute: number, partial: boolean, tunIndex: number): number {
    const t = this.tables;
    if (len < 1) return this.#dropped(DROP_MALFORMED);
    const version = buf[off]! >> 4;
    let rid: number;
    if (version === 4) {
      if (checkIPv4(buf, off, len) !== 0) return this.#dropped(DROP_MALFORMED);
      // Same order as IPv6: multicast first (the task kernel's chatter), then anti-spoof.
      const dst = buf.readUInt32BE(off + 16);
      if (dst >= 0xe0000000) return this.#dropped(DROP_MULTICAST); // 224/4 multicast, 240/4, broadcast
      // A host endpoint carries outside clients (published ports): any source is theirs.
      if ((buf.readUInt32BE(off + 12) | 0) !== t.routeIpv4[srcRoute] && t.routeHost[srcRoute] === 0) return this.#dropped(DROP_SPOOFED_SOURCE);
      // The embedded resolver: a query to the gateway's port 53 is answered right here.
      if (this.#dns && dst === net.gateway4 >>> 0 && buf[off + 9] === PROTO_UDP && isDnsQuery(buf, off + (buf[off]! & 0x0f) * 4, off + len)) {
        return this.#answerDns(tunIndex, net, buf, off, len, true);
      }
      // A service VIP: conntrack or a scheduler picks the backend, the packet is DNATed to it.
      const vip = this.#vip;
      if (vip && vip.toVip4(buf, off, len, net.index, partial, this.#now) === VIP_DROP) return this.#dropped(DROP_NO_BACKEND);
      rid = net.v4.get4(vip ? buf.readUInt32BE(off + 16) : dst);
    } else if (version === 6) {
      if (checkIPv6(buf, off, len) !== 0) return this.#dropped(DROP_MALFORMED);
      if (buf[off + 24] === 0xff) return this.#dropped(DROP_MULTICAST); // ff00::/8: RS, MLD reports ...
      if ((!t.routeHas6[srcRoute] || !ipv6Equal(buf, off + 8, t.routeIpv6, srcRoute * 16)) && t.routeHost[srcRoute] === 0) return this.#dropped(DROP_SPOOFED_SOURCE);
      if (this.#dns && net.gateway6 && buf[off + 6] === PROTO_UDP && ipv6Equal(buf, off + 24, net.gateway6, 0) && isDnsQuery(buf, off + 40, off + len)) {
        return this.#answerDns(tunIndex, net, buf, off, len, false);
      }
      const vip = this.#vip;
      if (vip && vip.toVip6(buf, off, len, net.index, partial, this.#now) === VIP_DROP) return this.#dropped(DROP_NO_BACKEND);
      rid = net.v6.get6(buf, off + 24);
    } else {
      return this.#dropped(DROP_MALFORMED);
    }
    if (rid < 0) rid = this.#outside(buf, off, len, net, srcRoute, version === 4);
    if (rid < 0) return this.#dropped(DROP_NO_ROUTE);
    // A new connection from an outside client entering here: replies come back through here.
    if (t.routeHost[srcRoute] !== 0 && net.ingress && this.#rp && isTcpSyn(buf, off, len)) {
      if (version === 4) this.#rp.forget4(buf, off, len, this.#now);
      else this.#rp.forget6(buf, off, len, this.#now);
    }
    return rid;
  }

  /**
   * A destination outside the overlay (an outside client of a published port): back through
   * the node the client came in by (learned return path), else through this node's host
   * endpoint, else -1. Never back out of the host endpoint it came from.
   */
  #outside(buf: Buffer, off: number, len: number, net: NetworkState, srcRoute: number, v4: boolean): number {
    const rp = this.#rp;
    if (rp && net.ingress) {
      const r = v4 ? rp.reply4(buf, off, len, this.#now) : rp.reply6(buf, off, len, this.#now);
      if (r >= 0 && this.tables.routeKind[r] === ROUTE_REMOTE && this.tables.routeNet[r] === net.index) return r;
    }
    const h = net.hostRoute;
    return h >= 0 && h !== srcRoute ? h : -1;
  }

  /**
   * An oversize packet from a task. IPv4 with DF and every IPv6 packet get an ICMP error back
   * (RFC 1191, RFC 8201) and are dropped: returns true. IPv4 without DF is sent anyway (the
   * underlay socket lets the kernel fragment the outer datagram, like the kernel's vxlan
   * with df unset): returns false.
   */
  #tooBig(tunIndex: number, buf: Buffer, off: number, len: number, net: NetworkState): boolean {
    const v4 = buf[off]! >> 4 === 4;
    if (v4 && (buf[off + 6]! & 0x40) === 0) return false;
    this.counters.drop(DROP_OVERSIZE);
    if (v4 ? isIcmpError(buf, off) : isIcmpv6Error(buf, off)) return true;
    const r = this.#icmp;
    const p = HEADROOM;
    // The builders validate the whole original and quote only what the RFC limits allow.
    const n = v4
      ? writeIcmpFragNeeded(r, p, buf, off, len, net.mtu, net.gateway4)
      : net.gateway6 ? writePacketTooBig(r, p, buf, off, len, net.mtu, net.gateway6, 0) : 0;
    if (n > 0 && this.#writeBack(tunIndex, r, p, n)) this.counters.counters[C_ICMP_ERRORS_SENT]!++;
    return true;
  }

  /** One VXLAN datagram at buf[o, o+l) from the VTEP `vtep`. */
  #fromUnderlay(buf: Buffer, o: number, l: number, vtep: number): void {
    const t = this.tables;
    if (l < ENCAP_PREFIX || (buf[o]! & VXLAN_FLAG_I) === 0) return void this.counters.drop(DROP_VXLAN_BAD);
    const vni = (buf[o + 4]! << 16) | (buf[o + 5]! << 8) | buf[o + 6]!;
    const ni = t.byVni.get4(vni);
    const net = ni >= 0 ? t.networks[ni] : undefined;
    if (!net) return void this.counters.drop(DROP_UNKNOWN_VNI);
    const eth = o + 8;
    const type = (buf[eth + 12]! << 8) | buf[eth + 13]!;
    const ip = eth + 14;
    const ipLen = l - ENCAP_PREFIX;
    let rid: number;
    let pktLen: number;
    if (type === ETHERTYPE_IPV4) {
      if (checkIPv4(buf, ip, ipLen) !== 0) return void this.counters.drop(DROP_MALFORMED);
      const dst = buf.readUInt32BE(ip + 16);
      if (dst >= 0xe0000000) return void this.counters.drop(DROP_MULTICAST);
      rid = net.v4.get4(dst);
      pktLen = buf.readUInt16BE(ip + 2); // frames may carry Ethernet padding after the packet
    } else if (type === ETHERTYPE_IPV6) {
      if (checkIPv6(buf, ip, ipLen) !== 0) return void this.counters.drop(DROP_MALFORMED);
      if (buf[ip + 6] === IPPROTO_ICMPV6 && ipLen > 40 && buf[ip + 40] === ICMPV6_NEIGHBOR_SOLICIT) return this.#answerNs(buf, eth, ip, ipLen, net, vtep);
      if (buf[ip + 24] === 0xff) return void this.counters.drop(DROP_MULTICAST);
      rid = net.v6.get6(buf, ip + 24);
      pktLen = 40 + buf.readUInt16BE(ip + 4);
    } else if (type === ETHERTYPE_ARP) {
      return this.#answerArp(buf, eth, ip, ipLen, net, vtep);
    } else {
      return void this.counters.drop(DROP_UNSUPPORTED);
    }
    // Not an overlay address: a reply to an outside client who came in through this node.
    if (rid < 0) rid = net.hostRoute;
    if (rid < 0) return void this.counters.drop(DROP_NO_ROUTE);
    if (t.routeKind[rid] !== ROUTE_LOCAL) return void this.counters.drop(DROP_NOT_LOCAL);
    if (net.ingress && this.#rp) this.#maybeLearn(buf, ip, pktLen, net, vtep, type === ETHERTYPE_IPV4);
    if (this.#vip) this.#replyToClient(buf, ip, pktLen, false);
    const k = this.#rxCount++;
    const v = this.#rxVec;
    const b = k * PV_STRIDE;
    v[b + PV_OFF] = ip;
    v[b + PV_LEN] = pktLen;
    v[b + PV_GSO_TYPE] = 0;
    v[b + PV_GSO_SIZE] = 0;
    v[b + PV_CSUM_START] = 0;
    v[b + PV_CSUM_OFF] = 0;
    v[b + PV_HDR_LEN] = 0;
    v[b + PV_VFLAGS] = 0;
    v[b + PV_INNER] = 0;
    this.#queueTun(t.routeTun[rid]!, k);
  }

  /**
   * On an ingress network, a packet whose source is no overlay address came from an outside
   * client through the sending node's host endpoint: remember that node for the replies.
   */
  #maybeLearn(buf: Buffer, ip: number, len: number, net: NetworkState, vtep: number, v4: boolean): void {
    if (v4 ? net.v4.get4(buf.readUInt32BE(ip + 12)) >= 0 : net.v6.get6(buf, ip + 8) >= 0) return;
    const gw = net.hostByVtep.get4(vtep);
    if (gw < 0) return;
    if (v4) this.#rp!.learn4(buf, ip, len, gw, this.#now);
    else this.#rp!.learn6(buf, ip, len, gw, this.#now);
  }

  /**
   * A kernel vxlan peer behind a veth sends its TSO output as one UDP tunnel GSO packet, and a
   * UDP_GRO socket receives it whole: one VXLAN header, one inner super-packet, and the inner
   * MSS as the GRO segment size. That is recognised by the inner IP length covering the whole
   * slot (a run of our own GSO datagrams has inner packets no longer than one segment). The
   * super-packet goes to the task's TUN as it is, with GSO metadata: returns true when taken
   * (forwarded or dropped and counted).
   */
  #tunnelSuperFrame(buf: Buffer, o: number, l: number, mss: number): boolean {
    if (l < ENCAP_PREFIX + 40 || (buf[o]! & VXLAN_FLAG_I) === 0) return false;
    const eth = o + 8;
    const type = (buf[eth + 12]! << 8) | buf[eth + 13]!;
    const ip = eth + 14;
    let innerLen: number;
    let proto: number;
    let iphl: number;
    if (type === ETHERTYPE_IPV4 && buf[ip]! >> 4 === 4) {
      innerLen = buf.readUInt16BE(ip + 2);
      proto = buf[ip + 9]!;
      iphl = (buf[ip]! & 0x0f) * 4;
    } else if (type === ETHERTYPE_IPV6 && buf[ip]! >> 4 === 6) {
      innerLen = 40 + buf.readUInt16BE(ip + 4);
      proto = buf[ip + 6]!;
      iphl = 40;
    } else {
      return false;
    }
    if (ENCAP_PREFIX + innerLen !== l || innerLen <= mss) return false;
    const c = this.counters.counters;
    c[C_UDP_RX_DATAGRAMS]!++;
    c[C_UDP_RX_BYTES]! += l;
    const t = this.tables;
    const vni = (buf[o + 4]! << 16) | (buf[o + 5]! << 8) | buf[o + 6]!;
    const ni = t.byVni.get4(vni);
    const net = ni >= 0 ? t.networks[ni] : undefined;
    if (!net) return this.#droppedTrue(DROP_UNKNOWN_VNI);
    const v4 = type === ETHERTYPE_IPV4;
    if ((v4 ? checkIPv4(buf, ip, innerLen) : checkIPv6(buf, ip, innerLen)) !== 0) return this.#droppedTrue(DROP_MALFORMED);
    const gso = proto === PROTO_TCP ? (v4 ? GSO_TCPV4 : GSO_TCPV6) : proto === PROTO_UDP ? GSO_UDP_L4 : GSO_NONE;
    if (gso === GSO_NONE) return this.#droppedTrue(DROP_BAD_OFFLOAD);
    const rid = v4 ? net.v4.get4(buf.readUInt32BE(ip + 16)) : net.v6.get6(buf, ip + 24);
    if (rid < 0) return this.#droppedTrue(DROP_NO_ROUTE);
    if (t.routeKind[rid] !== ROUTE_LOCAL) return this.#droppedTrue(DROP_NOT_LOCAL);
    const k = this.#rxCount++;
    const v = this.#rxVec;
    const b = k * PV_STRIDE;
    v[b + PV_OFF] = ip;
    v[b + PV_LEN] = innerLen;
    v[b + PV_GSO_TYPE] = gso;
    v[b + PV_GSO_SIZE] = mss;
    // The checksum field holds the sender's partial (pseudo-header) sum: finish it on the way up.
    v[b + PV_CSUM_START] = iphl;
    v[b + PV_CSUM_OFF] = proto === PROTO_TCP ? 16 : 6;
    v[b + PV_HDR_LEN] = 0;
    v[b + PV_VFLAGS] = VF_NEEDS_CSUM;
    v[b + PV_INNER] = 0;
    this.#queueTun(t.routeTun[rid]!, k);
    return true;
  }

  #droppedTrue(reason: number): boolean {
    this.counters.drop(reason);
    return true;
  }

  #answerArp(buf: Buffer, eth: number, arp: number, len: number, net: NetworkState, vtep: number): void {
    // RFC 826: Ethernet/IPv4 request (op 1) for an address a local task holds.
    if (checkArp(buf, arp, len) !== 0) return void this.counters.drop(DROP_MALFORMED);
    if (buf.readUInt16BE(arp + 6) !== 1) return void this.counters.drop(DROP_UNSUPPORTED);
    const target = buf.readUInt32BE(arp + 24);
    const rid = net.v4.get4(target);
    if (rid < 0 || this.tables.routeKind[rid] !== ROUTE_LOCAL) return void this.counters.drop(DROP_NOT_LOCAL);
    const slot = this.#takeReplySlot(vtep);
    if (slot < 0) return;
    const r = this.#reply;
    const p = slot * REPLY_SLOT + HEADROOM;
    const mac = this.tables.routeMac;
    writeVxlanPrefix(r, p, net.vni, buf, arp + 8, mac, rid * 6, ETHERTYPE_ARP);
    // Unpadded 42-byte frame, as the kernel's vxlan sends it (padding is a NIC's job).
    const n = writeArpReply(r, p + ENCAP_PREFIX, mac, rid * 6, target, buf, arp + 8, buf.readUInt32BE(arp + 14));
    this.#replyVec[slot * PV_STRIDE + PV_LEN] = ENCAP_PREFIX + n;
    this.counters.counters[C_ARP_REPLIES]!++;
  }

  #answerNs(buf: Buffer, eth: number, ip: number, len: number, net: NetworkState, vtep: number): void {
    // RFC 4861 7.2.4: a solicitation for a target a local task holds gets a solicited
    // advertisement; DAD probes (unspecified source) are left alone: nothing here owns
    // addresses that a remote node could be claiming.
    if (checkNeighborSolicitation(buf, ip, len) !== 0) return void this.counters.drop(DROP_MALFORMED);
    const rid = net.v6.get6(buf, ip + 48);
    if (rid < 0 || this.tables.routeKind[rid] !== ROUTE_LOCAL) return void this.counters.drop(DROP_NOT_LOCAL);
    if (isIPv6Unspecified(buf, ip + 8)) return void this.counters.drop(DROP_UNSUPPORTED);
    const slot = this.#takeReplySlot(vtep);
    if (slot < 0) return;
    const r = this.#reply;
    const p = slot * REPLY_SLOT + HEADROOM;
    const t = this.tables;
    writeVxlanPrefix(r, p, net.vni, buf, eth + 6, t.routeMac, rid * 6, ETHERTYPE_IPV6);
    const n = writeNeighborAdvertisement(r, p + ENCAP_PREFIX, t.routeIpv6, rid * 16, buf, ip + 8, t.routeMac, rid * 6, true);
    this.#replyVec[slot * PV_STRIDE + PV_LEN] = ENCAP_PREFIX + n;
    this.counters.counters[C_ND_REPLIES]!++;
  }

  #takeReplySlot(vtep: number): number {
    if (this.#replyCount >= REPLY_SLOTS) {
      this.counters.drop(DROP_IO); // no reply can be built: the request itself is dropped
      return -1;
    }
    const slot = this.#replyCount++;
    const v = this.#replyVec;
    const b = slot * PV_STRIDE;
    v.fill(0, b, b + PV_STRIDE);
    v[b + PV_OFF] = slot * REPLY_SLOT + HEADROOM;
    v[b + PV_ADDR] = vtep;
    v[b + PV_PORT] = this.options.dataPort;
    this.#replyIdx[slot] = slot;
    return slot;
  }

  #queueTun(tunIndex: number, entry: number): void {
    if (tunIndex >= this.#tunCounts.length) {
      const counts = new Int32Array(tunIndex * 2 + 1);
      counts.set(this.#tunCounts);
      this.#tunCounts = counts;
    }
    let list = this.#tunLists[tunIndex];
    if (!list) list = this.#tunLists[tunIndex] = new Int32Array(BATCH * MAX_SEGMENTS_PER_SLOT);
    const k = this.#tunCounts[tunIndex]!;
    if (k === 0) this.#pendingTuns[this.#pendingCount++] = tunIndex;
    list[k] = entry;
    this.#tunCounts[tunIndex] = k + 1;
  }

  #flushRx(buf: Buffer): void {
    this.#flushTuns(buf, this.#rxVec, this.options.coalesce);
    this.#rxCount = 0;
  }

  #flushTuns(buf: Buffer, vec: Int32Array, coalesce: boolean): void {
    const c = this.counters.counters;
    for (let p = 0; p < this.#pendingCount; p++) {
      const ti = this.#pendingTuns[p]!;
      const n = this.#tunCounts[ti]!;
      this.#tunCounts[ti] = 0;
      const tun = this.tables.tuns[ti];
      const list = this.#tunLists[ti]!;
      if (!tun) {
        this.counters.drop(DROP_NO_ROUTE, n);
        continue;
      }
      const written = tun.write(buf, vec, list, n, coalesce);
      c[C_TUN_TX_PACKETS]! += written;
      for (let k = 0; k < n; k++) c[C_TUN_TX_BYTES]! += vec[list[k]! * PV_STRIDE + PV_LEN]!;
      if (written < n) this.counters.drop(DROP_IO, n - written);
    }
    this.#pendingCount = 0;
  }

  #dropped(reason: number): number {
    this.counters.drop(reason);
    return -1;
  }
}


/**
 * Whether a super-packet's virtio metadata fits its headers: the addon splits by it, so a
 * TCPV4 type on a UDP packet or a zero segment size must never reach it.
 */
function offloadMatches(buf: Buffer, off: number, gso: number, gsoSize: number): boolean {
  if (gsoSize <= 0) return false;
  const v4 = buf[off]! >> 4 === 4;
  const proto = v4 ? buf[off + 9]! : buf[off + 6]!;
  if (gso === GSO_TCPV4) return v4 && proto === PROTO_TCP;
  if (gso === GSO_TCPV6) return !v4 && proto === PROTO_TCP;
  if (gso === GSO_UDP_L4) return proto === PROTO_UDP;
  return false;
}

/** Offset just past the TCP or UDP header of the IP packet at off (for segment sizes). */
function l4HeaderEnd(buf: Buffer, off: number, len: number): number {
  let l4: number;
  let proto: number;
  if (buf[off]! >> 4 === 4) {
    l4 = off + (buf[off]! & 0x0f) * 4;
    proto = buf[off + 9]!;
  } else {
    l4 = off + 40;
    proto = buf[off + 6]!;
  }
  if (proto === PROTO_TCP && l4 + 13 <= off + len) return l4 + (buf[l4 + 12]! >> 4) * 4;
  if (proto === PROTO_UDP) return l4 + 8;
  return l4;
}

/** A TCP segment with SYN and without ACK: the first of a connection. */
function isTcpSyn(buf: Buffer, off: number, len: number): boolean {
  const v4 = buf[off]! >> 4 === 4;
  const l4 = v4 ? off + (buf[off]! & 0x0f) * 4 : off + 40;
  if ((v4 ? buf[off + 9] : buf[off + 6]) !== PROTO_TCP || l4 + 14 > off + len) return false;
  return (buf[l4 + 13]! & 0x12) === 0x02;
}

/** UDP to port 53 with room for a DNS header (12 bytes). */
function isDnsQuery(buf: Buffer, udp: number, end: number): boolean {
  return udp + 8 + 12 <= end && buf.readUInt16BE(udp + 2) === DNS_PORT;
}


