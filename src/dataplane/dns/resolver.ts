// The resolver core: one query in, one decision out. Pure and synchronous (time-free, and the
// only randomness is the injected rng), so tests replay it byte for byte.
//
// Decision order, each step a reason:
//   1. shorter than a header, or QR set → drop (nothing to answer / never answer responses)
//   2. malformed (bad label, pointer, truncation, QDCOUNT != 1, bad OPT) → FORMERR, header only
//   3. opcode other than QUERY → NOTIMP (RFC 1035 section 4.1.1)
//   4. EDNS version > 0 → BADVERS (RFC 6891 section 6.1.3)
//   5. reverse name of one of our addresses → PTR; other reverse names → forward
//   6. names the table does not own → forward; owned but absent → NXDOMAIN
//   7. owned name without the asked type → NODATA (NOERROR, empty answer; RFC 2308 section 2.2)
//
// Negative answers carry no SOA, so downstream caches do not keep them (RFC 2308 section 5):
// a service created a second later is found at once.

import {
  CLASS_ANY, CLASS_IN, DP_NOT_QUERY, DP_OK, DP_SHORT, DP_NAMES, EDNS_UDP_MAX, OPCODE_QUERY,
  RCODE_BADVERS, RCODE_FORMERR, RCODE_NOERROR, RCODE_NOTIMP, RCODE_NXDOMAIN, RCODE_REFUSED,
  ResponseWriter, SECTION_ADDITIONAL, SECTION_ANSWER, TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_AXFR,
  TYPE_IXFR, TYPE_PTR, TYPE_SRV, UDP_CLASSIC_MAX, newDnsQuery, parseQuery, writeHeaderOnlyReply,
  type DnsQuery,
} from './message.js';
import type { NameTable, ServiceRecord, TaskRecord } from './records.js';

export type AnswerResult =
  | { kind: 'answer'; length: number; rcode: number; truncated: boolean; malformed: boolean }
  | { kind: 'forward' }
  | { kind: 'drop'; reason: 'short' | 'response' | 'no_room' };

/** Largest DNS message over TCP (RFC 7766 section 8: two-byte length prefix). */
export const TCP_MAX_MESSAGE = 65535;

export interface ResolverOptions {
  /**
   * RA in our replies. Default true: names we do not own are forwarded, so recursion is
   * available to the client (as with Docker's 127.0.0.11).
   */
  recursionAvailable?: boolean;
}

const FORWARD: AnswerResult = { kind: 'forward' };
const DROP_SHORT: AnswerResult = { kind: 'drop', reason: 'short' };
const DROP_RESPONSE: AnswerResult = { kind: 'drop', reason: 'response' };
const DROP_NO_ROOM: AnswerResult = { kind: 'drop', reason: 'no_room' };

export class Resolver {
  private readonly q: DnsQuery = newDnsQuery();
  private readonly w = new ResponseWriter();
  private order = new Int32Array(64);
  private readonly ra: boolean;
  /** DP_* code of the last parse (for malformed-by-reason counters). */
  lastParse = DP_OK;

  constructor(readonly table: NameTable, opts: ResolverOptions = {}) {
    this.ra = opts.recursionAvailable ?? true;
  }

  /** Name of a DP_* parse code. */
  static parseReason(code: number): string {
    return DP_NAMES[code] ?? 'unknown';
  }

  /**
   * Decides what to do with the query in query[0, len): write a reply into out and return its
   * length, ask for forwarding, or drop. Never throws on any bytes. rng returns [0, 1) and
   * only orders dnsrr answers. maxLen is the transport's limit: omit it for UDP (then the
   * client's EDNS size capped at 1232, or 512), pass TCP_MAX_MESSAGE over TCP.
   */
  answer(query: Uint8Array, len: number, out: Uint8Array, rng: () => number, maxLen?: number): AnswerResult {
    const q = this.q;
    const r = parseQuery(query, len, q);
    this.lastParse = r;
    if (r === DP_SHORT) return DROP_SHORT;
    if (r === DP_NOT_QUERY) return DROP_RESPONSE;
    if (r !== DP_OK) {
      const n = writeHeaderOnlyReply(query, len, out, RCODE_FORMERR);
      if (n === 0) return DROP_NO_ROOM;
      return { kind: 'answer', length: n, rcode: RCODE_FORMERR, truncated: false, malformed: true };
    }
    const limit = maxLen ?? (q.edns ? Math.min(q.ednsUdpSize, EDNS_UDP_MAX) : UDP_CLASSIC_MAX);
    if (q.opcode !== OPCODE_QUERY) return this.empty(out, RCODE_NOTIMP, false, limit);
    if (q.edns && q.ednsVersion > 0) return this.empty(out, RCODE_BADVERS, false, limit);
    if (q.qnameOdd) return FORWARD;

    const name = q.qname;
    if (name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa')) return this.reverse(out, limit);

    const found = this.table.lookup(name);
    if (found.kind === 'foreign') return FORWARD;
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return this.empty(out, RCODE_REFUSED, false, limit);
    if (found.kind === 'nxdomain') return this.empty(out, RCODE_NXDOMAIN, true, limit);
    if (found.kind === 'apex') return this.empty(out, RCODE_NOERROR, true, limit);
    if (q.qtype === TYPE_AXFR || q.qtype === TYPE_IXFR) return this.empty(out, RCODE_REFUSED, true, limit);

    const w = this.w;
    if (!w.begin(out, q, RCODE_NOERROR, true, this.ra, limit)) return DROP_NO_ROOM;
    const ttl = this.table.ttl;
    const t = q.qtype;
    const wantA = t === TYPE_A || t === TYPE_ANY;
    const want6 = t === TYPE_AAAA || t === TYPE_ANY;
    switch (found.kind) {
      case 'service': {
        const svc = found.svc;
        if (svc.mode === 'vip') {
          if (wantA && svc.vip4 >= 0) w.addA(SECTION_ANSWER, null, ttl, svc.vip4);
          if (want6 && svc.vip6 !== null) w.addAAAA(SECTION_ANSWER, null, ttl, svc.vip6);
        } else {
          this.taskAddresses(svc, wantA, want6, rng);
        }
        break;
      }
      case 'tasks':
        this.taskAddresses(found.svc, wantA, want6, rng);
        break;
      case 'task':
        if (wantA) w.addA(SECTION_ANSWER, null, ttl, found.task.ipv4);
        if (want6 && found.task.ipv6 !== null) w.addAAAA(SECTION_ANSWER, null, ttl, found.task.ipv6);
        break;
      case 'srv':
        if (t === TYPE_SRV || t === TYPE_ANY) this.srv(found.svc, found.port.port, rng);
        break;
    }
    return this.done();
  }

  private done(): AnswerResult {
    const truncated = this.w.tc;
    const length = this.w.finish();
    return { kind: 'answer', length, rcode: this.rcodeOf(), truncated, malformed: false };
  }

  private rcodeOf(): number {
    const b = this.w.buf;
    return b[3] & 0xf;
  }

  /** A reply with no records: NXDOMAIN, NODATA, REFUSED, NOTIMP, BADVERS. */
  private empty(out: Uint8Array, rcode: number, aa: boolean, limit: number): AnswerResult {
    if (!this.w.begin(out, this.q, rcode, aa, this.ra, limit)) return DROP_NO_ROOM;
    const length = this.w.finish();
    return { kind: 'answer', length, rcode: rcode & 0xf, truncated: false, malformed: false };
  }

  /** Fills this.order[0, n) with a uniform random permutation (Fisher-Yates). */
  private shuffle(n: number, rng: () => number): Int32Array {
    if (this.order.length < n) this.order = new Int32Array(Math.max(n, this.order.length * 2));
    const o = this.order;
    for (let i = 0; i < n; i++) o[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.min(i, Math.floor(rng() * (i + 1)));
      const tmp = o[i];
      o[i] = o[j];
      o[j] = tmp;
    }
    return o;
  }

  private taskAddresses(svc: ServiceRecord, wantA: boolean, want6: boolean, rng: () => number): void {
    const tasks = svc.tasks;
    const o = this.shuffle(tasks.length, rng);
    const ttl = this.table.ttl;
    if (wantA) for (let i = 0; i < tasks.length; i++) this.w.addA(SECTION_ANSWER, null, ttl, tasks[o[i]].ipv4);
    if (want6) {
      for (let i = 0; i < tasks.length; i++) {
        const v6 = tasks[o[i]].ipv6;
        if (v6 !== null) this.w.addAAAA(SECTION_ANSWER, null, ttl, v6);
      }
    }
  }

  /**
   * SRV (RFC 2782): vip mode → one record whose target is the service name (the VIP balances);
   * dnsrr → one record per task, shuffled, equal priority and weight. Target addresses go in
   * the additional section when they fit (left out silently otherwise: RFC 2181 section 9).
   */
  private srv(svc: ServiceRecord, port: number, rng: () => number): void {
    const w = this.w;
    const ttl = this.table.ttl;
    if (svc.mode === 'vip') {
      w.addSrv(SECTION_ANSWER, ttl, 0, 0, port, svc.fqdn);
      if (svc.vip4 >= 0) w.addA(SECTION_ADDITIONAL, svc.fqdn, ttl, svc.vip4);
      if (svc.vip6 !== null) w.addAAAA(SECTION_ADDITIONAL, svc.fqdn, ttl, svc.vip6);
      return;
    }
    const tasks: TaskRecord[] = svc.tasks;
    const o = this.shuffle(tasks.length, rng);
    for (let i = 0; i < tasks.length; i++) w.addSrv(SECTION_ANSWER, ttl, 0, 0, port, tasks[o[i]].fqdn);
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[o[i]];
      if (!w.addA(SECTION_ADDITIONAL, task.fqdn, ttl, task.ipv4)) break;
      if (task.ipv6 !== null && !w.addAAAA(SECTION_ADDITIONAL, task.fqdn, ttl, task.ipv6)) break;
    }
  }

  /** PTR for a full reverse name of one of our addresses; anything else is forwarded. */
  private reverse(out: Uint8Array, limit: number): AnswerResult {
    const q = this.q;
    const target = reverseTarget(this.table, q.qname);
    if (target === undefined) return FORWARD;
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return this.empty(out, RCODE_REFUSED, false, limit);
    if (!this.w.begin(out, q, RCODE_NOERROR, true, this.ra, limit)) return DROP_NO_ROOM;
    if (q.qtype === TYPE_PTR || q.qtype === TYPE_ANY) this.w.addPtr(SECTION_ANSWER, this.table.ttl, target);
    return this.done();
  }
}

/**
 * The PTR target for a reverse name (RFC 1035 section 3.5 in-addr.arpa, RFC 3596 section 2.5
 * ip6.arpa), or undefined when the name is not a full address of ours.
 */
export function reverseTarget(table: NameTable, qname: string): string | undefined {
  if (qname.endsWith('.in-addr.arpa')) {
    const parts = qname.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4) return undefined;
    let ip = 0;
    for (let i = 3; i >= 0; i--) {
      const s = parts[i];
      if (!/^(0|[1-9][0-9]{0,2})$/.test(s)) return undefined;
      const v = Number(s);
      if (v > 255) return undefined;
      ip = ip * 256 + v;
    }
    return table.ptrV4(ip);
  }
  if (qname.endsWith('.ip6.arpa')) {
    const parts = qname.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32) return undefined;
    let hex = '';
    for (let i = 31; i >= 0; i--) {
      if (!/^[0-9a-f]$/.test(parts[i])) return undefined;
      hex += parts[i];
    }
    return table.ptrV6(hex);
  }
  return undefined;
}
