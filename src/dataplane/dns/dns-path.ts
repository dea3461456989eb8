// Step 2 of the pipeline (DESIGN.md section 3): a task's DNS query to its network's resolver
// address (the gateway, port 53, UDP) is answered in place: the reply packet is built here
// and written straight back to the task's TUN. Like swarm's 127.0.0.11, but an address the
// task reaches through its TUN, so the agent sees the query.
//
// Names the table does not own get REFUSED for now (a resolver that does not recurse), so a
// client moves on to the next nameserver in its resolv.conf; forwarding them to the host's
// upstream resolvers (forwarder.ts) is the next step.

import {
  IPPROTO_UDP, fillIPv4HeaderChecksum, fillL4Checksum4, fillL4Checksum6, writeIPv4Header, writeIPv6Header,
} from '../packet/index.js';
import { RCODE_REFUSED, writeErrorReply } from './message.js';
import type { Resolver } from './resolver.js';

/** Protocol: DNS over UDP (RFC 1035 section 4.2.1). */
export const DNS_PORT = 53;

export const DNS_ANSWERED = 0; //   queries answered from the name table (any rcode)
export const DNS_REFUSED = 1; //    names outside the table: REFUSED until forwarding exists
export const DNS_MALFORMED = 2; //  queries dropped by the resolver (short, not a query, no room)
export const DNS_COUNT = 3;
export const DNS_PATH_COUNTER_NAMES: readonly string[] = ['answered', 'refused', 'malformed'];

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
  answer4(network: number, buf: Buffer, off: number, len: number, out: Buffer, outOff: number): number {
    const ihl = (buf[off]! & 0x0f) * 4;
    const udp = off + ihl;
    const msg = udp + 8;
    const end = off + Math.min(len, buf.readUInt16BE(off + 2));
    if (msg > end) return this.#malformed();
    const n = this.#answer(network, buf.subarray(msg, end), out.subarray(outOff + 28, outOff + 28 + REPLY_ROOM - 48));
    if (n <= 0) return 0;
    const total = 28 + n;
    writeIPv4Header(out, outOff, total, 0, 0x4000, 64, IPPROTO_UDP, buf.readUInt32BE(off + 16), buf.readUInt32BE(off + 12));
    this.#udp(out, outOff + 20, buf.readUInt16BE(udp), 8 + n);
    fillIPv4HeaderChecksum(out, outOff);
    fillL4Checksum4(out, outOff);
    return total;
  }

  /** The same for an IPv6 query (no extension headers). */
  answer6(network: number, buf: Buffer, off: number, len: number, out: Buffer, outOff: number): number {
    const udp = off + 40;
    const msg = udp + 8;
    const end = off + Math.min(len, 40 + buf.readUInt16BE(off + 4));
    if (msg > end) return this.#malformed();
    const n = this.#answer(network, buf.subarray(msg, end), out.subarray(outOff + 48, outOff + REPLY_ROOM));
    if (n <= 0) return 0;
    writeIPv6Header(out, outOff, 8 + n, IPPROTO_UDP, 64, buf, off + 24, buf, off + 8);
    this.#udp(out, outOff + 40, buf.readUInt16BE(udp), 8 + n);
    fillL4Checksum6(out, outOff);
    return 48 + n;
  }

  #answer(network: number, query: Buffer, out: Buffer): number {
    const resolver = this.#resolvers[network];
    if (!resolver) return this.#malformed();
    const r = resolver.answer(query, query.length, out, this.#rng);
    if (r.kind === 'answer') {
      this.counters[DNS_ANSWERED]!++;
      return r.length;
    }
    if (r.kind === 'forward') {
      const n = writeErrorReply(query, query.length, out, RCODE_REFUSED, false);
      if (n > 0) this.counters[DNS_REFUSED]!++;
      else this.counters[DNS_MALFORMED]!++;
      return n;
    }
    return this.#malformed();
  }

  #udp(out: Buffer, at: number, dstPort: number, length: number): void {
    out.writeUInt16BE(DNS_PORT, at);
    out.writeUInt16BE(dstPort, at + 2);
    out.writeUInt16BE(length, at + 4);
    out.writeUInt16BE(0, at + 6);
  }

  #malformed(): number {
    this.counters[DNS_MALFORMED]!++;
    return 0;
  }
}

export const DNS_REPLY_ROOM = REPLY_ROOM;
