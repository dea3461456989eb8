// Forwarding of names we do not own to upstream resolvers. A sans-IO core in the etcd-raft
// manner: the caller injects the transport (send), the clock (now on every call), the rng
// (query IDs) and the reply sink (deliver), and drives timeouts with tick(now) from one coarse
// ticker. No sockets, timers or Date.now in here, so tests run it with a fake clock.
//
// Contracts:
//  - Every forwarded query gets exactly one deliver(): the upstream's reply, or a SERVFAIL
//    once every attempt timed out, or an immediate SERVFAIL when the pending table is full or
//    there is no upstream.
//  - Upstreams see a fresh random ID (RFC 5452 section 9.2: unpredictable IDs make off-path
//    spoofing harder); a reply is accepted only from an upstream this query was sent to, with
//    that ID and the same question (RFC 5452 section 3), then its ID is set back to the
//    client's.
//  - deliver's reply buffer is only valid during the call: copy it to keep it.
//  - At most maxPending queries are outstanding; work per tick is O(expired).

import { DNS_HLEN, RCODE_SERVFAIL, writeErrorReply } from './message.js';
import {
  DNS_C_FORWARDED, DNS_C_FORWARD_REPLIES, DNS_C_PENDING_FULL, DNS_C_RETRIES, DNS_C_SEND_ERRORS,
  DNS_C_STRAY_REPLIES, DNS_C_TIMEOUTS, countRcode, newDnsCounters,
} from './counters.js';

export interface Upstream {
  address: string;
  port: number;
}

export interface ForwardTransport {
  /** Sends msg to upstream. May throw (counted as a send error; the timeout still applies). */
  send(msg: Uint8Array, upstream: Upstream): void;
}

export interface ForwarderOptions<C> {
  /** Tried in round-robin order; on timeout the next one is tried (failover). */
  upstreams: readonly Upstream[];
  transport: ForwardTransport;
  /** Receives the reply for client (valid during the call only). */
  deliver: (client: C, reply: Uint8Array) => void;
  /** [0, 1); picks upstream-facing query IDs. */
  rng: () => number;
  counters?: Float64Array;
  /**
   * Per-attempt timeout, ms. Default 2000: glibc's stub waits 5 s per try (resolv.conf
   * timeout), so two of our attempts fit in one of its tries and the client sees our
   * SERVFAIL, not its own timeout.
   */
  timeoutMs?: number;
  /**
   * Tries per query across upstreams, default min(2, upstreams): one failover. More tries
   * only help with more upstreams, and each costs a timeout of the client's patience.
   */
  attempts?: number;
  /**
   * Outstanding queries at most. Default 1024: at 2 s per timeout that sustains 512
   * forwarded queries per second against a dead upstream; beyond it we answer SERVFAIL at
   * once instead of growing memory under a flood. Capped at 32768 (half the ID space, so a
   * free random ID is found in a few draws).
   */
  maxPending?: number;
  /** Consecutive timeouts after which an upstream is skipped while another is healthy. Default 3. */
  downAfter?: number;
}

interface Pending<C> {
  id: number; // ID sent upstream
  clientId: number;
  client: C;
  msg: Buffer; // the query as sent upstream (ID rewritten)
  questionEnd: number;
  upstream: number; // index of the upstream of the current attempt
  tried: number; // bit mask of upstreams tried (first 31)
  attempt: number;
  deadline: number;
}

export type ForwardResult = 'sent' | 'full' | 'no_upstream' | 'malformed';

export class Forwarder<C> {
  readonly counters: Float64Array;
  private readonly upstreams: readonly Upstream[];
  private readonly transport: ForwardTransport;
  private readonly deliver: (client: C, reply: Uint8Array) => void;
  private readonly rng: () => number;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly maxPending: number;
  private readonly downAfter: number;
  /** Insertion order is deadline order (constant timeout; a retry is deleted and re-added). */
  private readonly pending = new Map<number, Pending<C>>();
  private readonly failures: Int32Array;
  private next = 0;
  private readonly scratch = Buffer.alloc(512);

  constructor(opts: ForwarderOptions<C>) {
    this.upstreams = opts.upstreams.slice();
    this.transport = opts.transport;
    this.deliver = opts.deliver;
    this.rng = opts.rng;
    this.counters = opts.counters ?? newDnsCounters();
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.attempts = Math.max(1, opts.attempts ?? Math.min(2, this.upstreams.length));
    this.maxPending = Math.max(1, Math.min(32768, opts.maxPending ?? 1024));
    this.downAfter = opts.downAfter ?? 3;
    this.failures = new Int32Array(this.upstreams.length);
  }

  /** Outstanding queries. */
  get size(): number {
    return this.pending.size;
  }

  /** Forwards query[0, len) for client. On anything but 'sent' the client already got its reply. */
  forward(query: Uint8Array, len: number, client: C, now: number): ForwardResult {
    if (len < DNS_HLEN || len > query.length) return 'malformed';
    if (this.upstreams.length === 0) {
      this.servfail(query, len, client);
      return 'no_upstream';
    }
    if (this.pending.size >= this.maxPending) {
      this.counters[DNS_C_PENDING_FULL]++;
      this.servfail(query, len, client);
      return 'full';
    }
    const msg = Buffer.from(query.subarray(0, len));
    const clientId = msg.readUInt16BE(0);
    const id = this.freeId();
    msg.writeUInt16BE(id, 0);
    const p: Pending<C> = {
      id, clientId, client, msg, questionEnd: questionEnd(msg), upstream: this.pickUpstream(-1, 0), tried: 0,
      attempt: 0, deadline: now + this.timeoutMs,
    };
    this.pending.set(id, p);
    this.counters[DNS_C_FORWARDED]++;
    this.send(p);
    return 'sent';
  }

  /** A message from an upstream. Returns true when it was relayed to a client. */
  onReply(reply: Uint8Array, len: number, from: Upstream): boolean {
    if (len < DNS_HLEN || len > reply.length || (reply[2] & 0x80) === 0) return this.stray();
    const id = (reply[0] << 8) | reply[1];
    const p = this.pending.get(id);
    if (p === undefined) return this.stray();
    const ui = this.upstreams.findIndex((u) => u.port === from.port && u.address === from.address);
    if (ui < 0 || (ui < 31 && (p.tried & (1 << ui)) === 0)) return this.stray();
    if (!sameQuestion(p.msg, p.questionEnd, reply, len)) return this.stray();
    this.pending.delete(id);
    this.failures[ui] = 0;
    reply[0] = p.clientId >>> 8;
    reply[1] = p.clientId & 0xff;
    this.counters[DNS_C_FORWARD_REPLIES]++;
    this.deliver(p.client, reply.subarray(0, len));
    return true;
  }

  /** Expires attempts whose deadline passed: retry on the next upstream, or SERVFAIL. */
  tick(now: number): void {
    for (const p of this.pending.values()) {
      if (p.deadline > now) break;
      this.pending.delete(p.id);
      this.counters[DNS_C_TIMEOUTS]++;
      this.failures[p.upstream]++;
      if (p.attempt + 1 < this.attempts) {
        p.attempt++;
        p.upstream = this.pickUpstream(p.upstream, p.tried);
        p.deadline = now + this.timeoutMs;
        this.pending.set(p.id, p);
        this.counters[DNS_C_RETRIES]++;
        this.send(p);
      } else {
        p.msg.writeUInt16BE(p.clientId, 0);
        this.servfail(p.msg, p.msg.length, p.client);
      }
    }
  }

  /** Drops every pending query with a SERVFAIL (shutdown). */
  close(): void {
    for (const p of this.pending.values()) {
      p.msg.writeUInt16BE(p.clientId, 0);
      this.servfail(p.msg, p.msg.length, p.client);
    }
    this.pending.clear();
  }

  private send(p: Pending<C>): void {
    if (p.upstream < 31) p.tried |= 1 << p.upstream;
    try {
      this.transport.send(p.msg, this.upstreams[p.upstream]);
    } catch {
      this.counters[DNS_C_SEND_ERRORS]++;
    }
  }

  /**
   * Round-robin over upstreams, skipping ones down (downAfter consecutive timeouts) or
   * already tried for this query while any other remains; after = the one that just failed.
   */
  private pickUpstream(after: number, tried: number): number {
    const n = this.upstreams.length;
    const start = after < 0 ? this.next++ % n : after + 1;
    if (this.next >= n) this.next = 0;
    let fallback = -1;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      const wasTried = i < 31 && (tried & (1 << i)) !== 0;
      if (wasTried) continue;
      if (this.failures[i] < this.downAfter) return i;
      if (fallback < 0) fallback = i;
    }
    return fallback >= 0 ? fallback : (start % n);
  }

  private freeId(): number {
    for (let k = 0; k < 16; k++) {
      const id = Math.floor(this.rng() * 65536) & 0xffff;
      if (!this.pending.has(id)) return id;
    }
    let id = Math.floor(this.rng() * 65536) & 0xffff;
    while (this.pending.has(id)) id = (id + 1) & 0xffff; // terminates: maxPending <= 32768
    return id;
  }

  private servfail(query: Uint8Array, len: number, client: C): void {
    const n = writeErrorReply(query, len, this.scratch, RCODE_SERVFAIL, true);
    if (n === 0) return;
    countRcode(this.counters, RCODE_SERVFAIL);
    this.deliver(client, this.scratch.subarray(0, n));
  }

  private stray(): false {
    this.counters[DNS_C_STRAY_REPLIES]++;
    return false;
  }
}

/**
 * Offset after the first question (DNS_HLEN when QDCOUNT is 0). The resolver forwards only
 * queries it parsed, but this stays bounded on any bytes: it stops at a pointer or the end.
 */
function questionEnd(msg: Uint8Array): number {
  if (((msg[4] << 8) | msg[5]) === 0) return DNS_HLEN;
  let p = DNS_HLEN;
  while (p < msg.length) {
    const b = msg[p];
    if (b === 0) return Math.min(p + 5, msg.length);
    if ((b & 0xc0) !== 0) return Math.min(p + 6, msg.length);
    p += 1 + b;
  }
  return Math.min(p, msg.length);
}

/** The reply echoes the query's question, ASCII case ignored (RFC 4343). */
function sameQuestion(q: Uint8Array, end: number, r: Uint8Array, rlen: number): boolean {
  if (rlen < end) return false;
  for (let i = 4; i < 6; i++) if (q[i] !== r[i]) return false; // QDCOUNT
  for (let i = DNS_HLEN; i < end; i++) {
    let a = q[i];
    let b = r[i];
    if (a >= 0x41 && a <= 0x5a) a += 0x20;
    if (b >= 0x41 && b <= 0x5a) b += 0x20;
    if (a !== b) return false;
  }
  return true;
}
