// Step 2 of the pipeline (DESIGN.md section 3): a task's DNS query to its network's resolver
// address (the gateway, port 53, UDP) is answered in place: the reply packet is built here
// and written straight back to the task's TUN. Like swarm's 127.0.0.11, but an address the
// task reaches through its TUN, so the agent sees the query.
//
// Names the table does not own are forwarded to upstream resolvers through a Forwarder whose
// transport (a UDP socket) the agent owns; the upstream's answer comes back through deliver()
// and is written to the task's TUN the same way. Without upstreams they get REFUSED (a
// resolver that does not recurse), so a client moves on to its next nameserver.

import {
  IPPROTO_UDP, fillIPv4HeaderChecksum, fillL4Checksum4, fillL4Checksum6, writeIPv4Header, writeIPv6Header, writeUdpHeader,
} from '../packet/index.js';
import { RCODE_REFUSED, writeErrorReply } from './message.js';
import type { Forwarder } from './forwarder.js';
import type { Resolver } from './resolver.js';

/** Where a forwarded query came from: enough to address the reply packet to the task. */
export interface TaskQuery {
  tun: number;
  v4: boolean;
  /** The query's IP header (40 bytes, IPv6 size) and UDP source port, copied. */
  ip: Buffer;
  port: number;
}

/** Protocol: DNS over UDP (RFC 1035 section 4.2.1). */
export const DNS_PORT = 53;

export const DNS_ANSWERED = 0; //   queries answered from the name table (any rcode)
export const DNS_REFUSED = 1; //    names outside the table: REFUSED until forwarding exists
export const DNS_MALFORMED = 2; //  queries dropped by the resolver (short, not a query, no room)
export const DNS_FORWARDED = 3; //  queries sent to an upstream resolver
export const DNS_UPSTREAM_REPLIES = 4; // upstream answers (or SERVFAIL after timeouts) delivered to tasks
export const DNS_COUNT = 5;
export const DNS_PATH_COUNTER_NAMES: readonly string[] = ['answered', 'refused', 'malformed', 'forwarded', 'upstream_replies'];

/** Implementation: room for an IPv6 + UDP header and the largest UDP answer (EDNS capped at 1232). */
const REPLY_ROOM = 40 + 8 + 1232;

export class DnsPath {
  readonly counters = new Float64Array(DNS_COUNT);
  readonly #resolvers: (Resolver | undefined)[] = [];
  readonly #rng: () => number;

  /** `rng` orders dnsrr answers; the agent passes its own, tests a seeded one. */
  constructor(rng: () => number) {
    this.#rng = rng;
  }

  /** Forwards names the tables do not own; set by the agent when upstreams are configured. */
  forwarder: Forwarder<TaskQuery> | undefined;
  /** Writes a reply packet to a task's TUN; set by the pipeline that owns the devices. */
  writeToTask: (tun: number, buf: Buffer, off: number, len: number) => boolean = () => false;
  /** The clock for forwarding deadlines (ms). */
  now: () => number = Date.now;
  readonly #late = Buffer.alloc(64 + REPLY_ROOM);

  setResolver(network: number, resolver: Resolver | undefined): void {
    this.#resolvers[network] = resolver;
  }

  hasResolver(network: number): boolean {
    return this.#resolvers[network] !== undefined;
  }

  /**
   * Answers the IPv4 UDP query at buf[off, off+len) (already checked as IPv4, sent to the
   * resolver address) into out[outOff, ...): returns the reply packet's length, or 0 when it
   * was dropped (counted). `out` must have REPLY_ROOM bytes from outOff.
   */
  answer4(network: number, buf: Buffer, off: number, len: number, out: Buffer, outOff: number, tun = -1): number {
    const ihl = (buf[off]! & 0x0f) * 4;
    const udp = off + ihl;
    const msg = udp + 8;
    const end = off + Math.min(len, buf.readUInt16BE(off + 2));
    if (msg > end) return this.#malformed();
    const from = { tun, v4: true, buf, off, port: buf.readUInt16BE(udp) };
    const n = this.#answer(network, buf.subarray(msg, end), out.subarray(outOff + 28, outOff + 28 + REPLY_ROOM - 48), from);
    return n <= 0 ? 0 : this.#packet4(buf, off, from.port, out, outOff, n);
  }

  #packet4(ip: Buffer, ipOff: number, port: number, out: Buffer, outOff: number, n: number): number {
    const total = 28 + n;
    writeIPv4Header(out, outOff, total, 0, 0x4000, 64, IPPROTO_UDP, ip.readUInt32BE(ipOff + 16), ip.readUInt32BE(ipOff + 12));
    writeUdpHeader(out, outOff + 20, DNS_PORT, port, 8 + n);
    fillIPv4HeaderChecksum(out, outOff);
    fillL4Checksum4(out, outOff);
    return total;
  }

  #packet6(ip: Buffer, ipOff: number, port: number, out: Buffer, outOff: number, n: number): number {
    writeIPv6Header(out, outOff, 8 + n, IPPROTO_UDP, 64, ip, ipOff + 24, ip, ipOff + 8);
    writeUdpHeader(out, outOff + 40, DNS_PORT, port, 8 + n);
    fillL4Checksum6(out, outOff);
    return 48 + n;
  }

  /** An upstream's reply (or the forwarder's SERVFAIL) for a task's query: write it to the task. */
  deliver(client: TaskQuery, reply: Uint8Array): void {
    const out = this.#late;
    const max = REPLY_ROOM - 48;
    if (reply.length > max) return void this.counters[DNS_MALFORMED]!++;
    const at = 64 + (client.v4 ? 28 : 48);
    out.set(reply, at);
    const n = client.v4 ? this.#packet4(client.ip, 0, client.port, out, 64, reply.length) : this.#packet6(client.ip, 0, client.port, out, 64, reply.length);
    if (this.writeToTask(client.tun, out, 64, n)) this.counters[DNS_UPSTREAM_REPLIES]!++;
  }

  /** The same for an IPv6 query (no extension headers). */
  answer6(network: number, buf: Buffer, off: number, len: number, out: Buffer, outOff: number, tun = -1): number {
    const udp = off + 40;
    const msg = udp + 8;
    const end = off + Math.min(len, 40 + buf.readUInt16BE(off + 4));
    if (msg > end) return this.#malformed();
    const from = { tun, v4: false, buf, off, port: buf.readUInt16BE(udp) };
    const n = this.#answer(network, buf.subarray(msg, end), out.subarray(outOff + 48, outOff + REPLY_ROOM), from);
    return n <= 0 ? 0 : this.#packet6(buf, off, from.port, out, outOff, n);
  }

  #answer(network: number, query: Buffer, out: Buffer, from: { tun: number; v4: boolean; buf: Buffer; off: number; port: number }): number {
    const resolver = this.#resolvers[network];
    if (!resolver) return this.#malformed();
    const r = resolver.answer(query, query.length, out, this.#rng);
    if (r.kind === 'answer') {
      this.counters[DNS_ANSWERED]!++;
      return r.length;
    }
    if (r.kind === 'forward' && this.forwarder && from.tun >= 0) {
      // Off the per-packet path: one small object per forwarded query is fine.
      const client: TaskQuery = { tun: from.tun, v4: from.v4, ip: Buffer.from(from.buf.subarray(from.off, from.off + (from.v4 ? 20 : 40))), port: from.port };
      const sent = this.forwarder.forward(query, query.length, client, this.now());
      if (sent === 'sent') this.counters[DNS_FORWARDED]!++;
      return 0; // the answer (or a SERVFAIL) arrives through deliver()
    }
    if (r.kind === 'forward') {
      const n = writeErrorReply(query, query.length, out, RCODE_REFUSED, false);
      if (n > 0) this.counters[DNS_REFUSED]!++;
      else this.counters[DNS_MALFORMED]!++;
      return n;
    }
    return this.#malformed();
  }


  #malformed(): number {
    this.counters[DNS_MALFORMED]!++;
    return 0;
  }
}

export const DNS_REPLY_ROOM = REPLY_ROOM;
