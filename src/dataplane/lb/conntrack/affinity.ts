// Session affinity (swarm/Kubernetes "ClientIP"): (client address, service id) → backend, kept
// for an idle timeout so a client's new connections land on the backend its previous ones used.
// Same design as conntrack.ts: an entry pool of flat typed arrays (stable indices, free list
// through `backend`), one open-addressing index with backward-shift deletion, time injected as
// `now` (ms), lazy expiry on lookup plus an incremental sweep. Fixed capacity: when full, `set*`
// refuses (counted) and the caller simply chooses without affinity; nothing is evicted early.
//
// IPv4 clients are stored as IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, RFC 4291 section
// 2.5.5.2), so one table serves both families and 1.2.3.4 never collides with a real IPv6 client.

import { be32, hashEnd, hashMix, pow2AtLeast } from './hash.js';

export const AF_SETS = 0; //       affinity entries created or refreshed with a (new) backend
export const AF_FULL = 1; //       set refused: table full
export const AF_HIT = 2;
export const AF_MISS = 3;
export const AF_EXPIRED = 4; //    reclaimed by timeout (sweep or lazily on lookup)
export const AF_REMOVED = 5; //    removed by removeBackend
export const AF_COUNT = 6;

export const AFFINITY_COUNTER_NAMES: readonly string[] = ['sets', 'full', 'hit', 'miss', 'expired', 'removed'];

export interface AffinityConfig {
  /** Clients × services remembered; 38 bytes each plus the index rounding. Default 65536. */
  capacity: number;
  /** Service ids accepted (0 … maxServices-1). Default 4096. */
  maxServices: number;
  /** Default idle timeout (ms): 10800 s, the Kubernetes sessionAffinityConfig.clientIP default
   *  (3 h). Longer pins clients harder (uneven load after scale-out); shorter loses stickiness
   *  across pauses. Per service with `setTimeout`. */
  timeout: number;
}

export const DEFAULT_AFFINITY_CONFIG: Readonly<AffinityConfig> = Object.freeze({
  capacity: 65536,
  maxServices: 4096,
  timeout: 10800 * 1000,
});

const NONE = -1;
const SEED = 0x3c6ef372;
const FREE = 0xffff; // svc value of a free entry (service ids stop at 65535 exclusive)

export class AffinityTable {
  readonly capacity: number;
  readonly maxServices: number;
  readonly counters = new Float64Array(AF_COUNT);
  #addr: Int32Array; // 4 words per entry
  #svc: Uint16Array; // FREE marks a free entry
  #backend: Int32Array; // free-list link while free
  #lastSeen: Float64Array;
  #index: Int32Array;
  #mask: number;
  #free = NONE;
  #size = 0;
  #timeout: Float64Array;
  #cursor = 0;

  constructor(config: Partial<AffinityConfig> = {}) {
    const c = { ...DEFAULT_AFFINITY_CONFIG, ...config };
    if (!Number.isInteger(c.capacity) || c.capacity < 0 || c.capacity > 1 << 30) throw new RangeError('AffinityTable config: capacity must be an integer in [0, 2^30]');
    if (!Number.isInteger(c.maxServices) || c.maxServices < 0 || c.maxServices > 65535) throw new RangeError('AffinityTable config: maxServices must be an integer in [0, 65535]');
    this.capacity = c.capacity;
    this.maxServices = c.maxServices;
    this.#addr = new Int32Array(c.capacity * 4);
    this.#svc = new Uint16Array(c.capacity).fill(FREE);
    this.#backend = new Int32Array(c.capacity);
    this.#lastSeen = new Float64Array(c.capacity);
    const slots = c.capacity === 0 ? 1 : pow2AtLeast(c.capacity * 2);
    this.#index = new Int32Array(slots).fill(NONE);
    this.#mask = slots - 1;
    for (let i = c.capacity - 1; i >= 0; i--) { this.#backend[i] = this.#free; this.#free = i; }
    this.#timeout = new Float64Array(c.maxServices).fill(c.timeout);
  }

  get size(): number { return this.#size; }

  /** Idle timeout (ms) of `service`'s affinity; applies to existing entries too. */
  setTimeout(service: number, ms: number): void {
    this.#checkService(service);
    if (!(ms >= 0)) throw new RangeError('AffinityTable.setTimeout: timeout must be ≥ 0');
    this.#timeout[service] = ms;
  }

  /** Backend remembered for an IPv4 client of `service`, or -1. A hit refreshes the idle timer. */
  get4(client: number, service: number, now: number): number {
    return this.#get(0, 0, 0xffff, client | 0, service, now);
  }

  /** get4 for the 16-byte IPv6 client address at buf[off]. */
  get6(buf: Uint8Array, off: number, service: number, now: number): number {
    return this.#get(be32(buf, off), be32(buf, off + 4), be32(buf, off + 8), be32(buf, off + 12), service, now);
  }

  /** Remembers (or re-points) client → backend for `service`; false when full (counted). */
  set4(client: number, service: number, backend: number, now: number): boolean {
    return this.#set(0, 0, 0xffff, client | 0, service, backend, now);
  }

  set6(buf: Uint8Array, off: number, service: number, backend: number, now: number): boolean {
    return this.#set(be32(buf, off), be32(buf, off + 4), be32(buf, off + 8), be32(buf, off + 12), service, backend, now);
  }

  /** Forgets every client pinned to `backend` (backend marked down); returns how many. O(capacity). */
  removeBackend(backend: number): number {
    let n = 0;
    for (let i = 0; i < this.capacity; i++) {
      if (this.#svc[i] !== FREE && this.#backend[i] === backend) { this.#release(i); n++; }
    }
    this.counters[AF_REMOVED]! += n;
    return n;
  }

  /** Incremental sweep: examines at most `budget` entries, reclaims the idle ones; returns how many. */
  expire(now: number, budget: number): number {
    const cap = this.capacity;
    if (cap === 0) return 0;
    let i = this.#cursor, n = Math.min(budget, cap), count = 0;
    while (n-- > 0) {
      const s = this.#svc[i]!;
      if (s !== FREE && now - this.#lastSeen[i]! > this.#timeout[s]!) { this.#release(i); count++; }
      if (++i === cap) i = 0;
    }
    this.#cursor = i;
    this.counters[AF_EXPIRED]! += count;
    return count;
  }

  #get(a0: number, a1: number, a2: number, a3: number, service: number, now: number): number {
    const e = this.#find(a0, a1, a2, a3, service);
    if (e !== NONE) {
      if (!(now - this.#lastSeen[e]! > this.#timeout[service]!)) {
        this.#lastSeen[e] = now;
        this.counters[AF_HIT]!++;
        return this.#backend[e]!;
      }
      this.#release(e);
      this.counters[AF_EXPIRED]!++;
    }
    this.counters[AF_MISS]!++;
    return NONE;
  }

  #set(a0: number, a1: number, a2: number, a3: number, service: number, backend: number, now: number): boolean {
    this.#checkService(service);
    let e = this.#find(a0, a1, a2, a3, service);
    if (e === NONE) {
      if (this.#free === NONE) {
        this.counters[AF_FULL]!++;
        return false;
      }
      e = this.#free;
      this.#free = this.#backend[e]!;
      this.#size++;
      const w = e * 4;
      this.#addr[w] = a0; this.#addr[w + 1] = a1; this.#addr[w + 2] = a2; this.#addr[w + 3] = a3;
      this.#svc[e] = service;
      let i = this.#home(e);
      while (this.#index[i] !== NONE) i = (i + 1) & this.#mask;
      this.#index[i] = e;
    }
    this.#backend[e] = backend;
    this.#lastSeen[e] = now;
    this.counters[AF_SETS]!++;
    return true;
  }

  #checkService(service: number): void {
    if (!(service >= 0 && service < this.maxServices)) throw new RangeError(`AffinityTable: service ${service} outside [0, ${this.maxServices})`);
  }

  #find(a0: number, a1: number, a2: number, a3: number, service: number): number {
    const idx = this.#index, mask = this.#mask, ad = this.#addr;
    let i = hash(a0, a1, a2, a3, service) & mask;
    for (;;) {
      const e = idx[i]!;
      if (e === NONE) return NONE;
      const w = e * 4;
      if (this.#svc[e] === service && ad[w] === a0 && ad[w + 1] === a1 && ad[w + 2] === a2 && ad[w + 3] === a3) return e;
      i = (i + 1) & mask;
    }
  }

  #home(e: number): number {
    const w = e * 4, ad = this.#addr;
    return hash(ad[w]!, ad[w + 1]!, ad[w + 2]!, ad[w + 3]!, this.#svc[e]!) & this.#mask;
  }

  #release(e: number): void {
    const idx = this.#index, mask = this.#mask;
    let i = this.#home(e);
    while (idx[i] !== e) i = (i + 1) & mask;
    idx[i] = NONE;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const f = idx[j]!;
      if (f === NONE) break;
      const h = this.#home(f);
      const inRange = i <= j ? h > i && h <= j : h > i || h <= j;
      if (!inRange) { idx[i] = f; idx[j] = NONE; i = j; }
    }
    this.#svc[e] = FREE;
    this.#backend[e] = this.#free;
    this.#free = e;
    this.#size--;
  }
}

function hash(a0: number, a1: number, a2: number, a3: number, service: number): number {
  return hashEnd(hashMix(hashMix(hashMix(hashMix(hashMix(SEED, a0), a1), a2), a3), service));
}
