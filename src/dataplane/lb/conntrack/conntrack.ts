// The flow table behind service VIPs (IPVS-like): once a flow has a backend it keeps it, so a
// Maglev ring change or a backend added elsewhere never breaks an open connection.
//
// Layout: one entry pool of fixed 40-byte records in one ArrayBuffer (no object per flow), entry
// index = stable flow handle. IPv4 entries are indices [0, capacity4), IPv6 entries
// [capacity4, capacity4+capacity6); IPv6 addresses live in a side array (48 bytes per IPv6
// entry). Memory: 56 bytes per IPv4 flow, 104 per IPv6 flow (memory()). Each family has two
// open-addressing indexes (linear probing, backward-shift deletion
// like addr-table.ts, load ≤ 0.5) from a hash slot to an entry index:
//   forward  (proto, client addr, client port, VIP addr, VIP port)          client → VIP
//   reverse  (proto, backend addr, backend port, client addr, client port)  backend → client
// Entries never move, so an index returned by lookup stays valid until remove/expiry; only the
// small Int32 index slots shift on deletion.
//
// Time is an input: every call that needs it takes `now`, milliseconds of a coarse clock owned
// by the caller (one ticker for the whole process, STYLE.md 16). Nothing here reads Date.now or
// sets a timer. Expiry is lazy on lookup plus an incremental sweep (`expire(now, budget)`), so a
// 1M-entry table never stalls the event loop.
//
// Capacity is fixed at construction: the hot path never rehashes. When full (or when new flows
// arrive faster than the configured rate) `admit` says no and the caller must route the packet
// with the stateless choice (Maglev) instead of dropping it.

import diagnostics_channel from 'node:diagnostics_channel';
import { DEFAULT_CONFIG, timeoutsByState, type ConntrackConfig, type ConntrackTimeouts } from './config.js';
import { be32, hashEnd, hashMix, pow2AtLeast } from './hash.js';
import { initialState, nextTcpState, ST_FREE, ST_TCP_ESTABLISHED, ST_UDP_REPLIED, ST_UDP_UNREPLIED } from './state.js';

/** insert* results that are not an entry index. */
export const INSERT_FULL = -1; //  no free entry of that family; counted in CT_INSERT_FULL
export const INSERT_CLASH = -2; // another flow already owns the reverse tuple (same client addr:port to the same backend addr:port); counted

/** Entry flags (caller-defined meaning, stored and returned as is). */
export const FLAG_AFFINITY = 0x01; //  backend came from the ClientIP affinity table
export const FLAG_STATELESS = 0x02; // backend was chosen by the stateless fallback (flow inserted once room came back)

/** Counter indices (append-only: dashboards name them). */
export const CT_INSERTS = 0; //          flows inserted (or re-inserted over an existing key)
export const CT_INSERT_FULL = 1; //      insert refused: table full
export const CT_INSERT_CLASH = 2; //     insert refused: reverse tuple taken
export const CT_EXPIRED = 3; //          flows reclaimed by timeout (sweep or lazily on lookup)
export const CT_LOOKUP_HIT = 4; //       forward lookups that found a live flow
export const CT_LOOKUP_MISS = 5;
export const CT_REPLY_HIT = 6; //        reverse (return path) lookups that found a live flow
export const CT_REPLY_MISS = 7;
export const CT_FALLBACK_FULL = 8; //    admit() said no because the table is full → stateless choice
export const CT_FALLBACK_RATE = 9; //    admit() said no because of the new-flow rate → stateless choice
export const CT_REMOVED = 10; //         flows removed by remove()/removeBackend()
export const CT_COUNT = 11;

export const COUNTER_NAMES: readonly string[] = [
  'inserts', 'insert_full', 'insert_clash', 'expired', 'lookup_hit', 'lookup_miss', 'reply_hit',
  'reply_miss', 'fallback_full', 'fallback_rate', 'removed',
];

/** Published (only when subscribed) when an insert finds the table full: { family, size }. */
export const fullChannel = diagnostics_channel.channel('vxmesh:conntrack:full');

const NONE = -1;
/** Implementation: bytes of one entry record (see the layout at #i32). Multiple of 8 for the f64 view. */
const RECORD_BYTES = 40;
const SEED_FWD = 0x2545f491;
const SEED_REV = 0x6c8e9cf5;
// Index kinds for #home.
const K_FWD4 = 0;
const K_REV4 = 1;
const K_FWD6 = 2;
const K_REV6 = 3;

export interface ConntrackEntry {
  index: number;
  family: 4 | 6;
  proto: number;
  client: string;
  clientPort: number;
  vip: string;
  vipPort: number;
  nat: string;
  natPort: number;
  backend: number;
  service: number;
  state: number;
  flags: number;
  lastSeen: number;
}

export interface ConntrackMemory {
  /** Bytes of typed arrays attributable to IPv4 flows (shared fields + v4 addresses + v4 indexes). */
  bytes4: number;
  bytes6: number;
  /** bytes4 / capacity4, and the same for IPv6 (NaN when that family has no capacity). */
  perFlow4: number;
  perFlow6: number;
  /** Every typed array the tracker owns, fixed overhead (counters, service timeouts) included. */
  totalBytes: number;
}

export class Conntrack {
  readonly capacity4: number;
  readonly capacity6: number;
  readonly maxServices: number;
  /** Counters, read on demand (CT_*). */
  readonly counters = new Float64Array(CT_COUNT);

  // One 40-byte record per entry (array of structs, so a lookup touches one or two cache lines
  // instead of one per field), viewed through four typed arrays over the same buffer:
  //   bytes 0-3   client IPv4 address   (i32 word 0)
  //         4-7   VIP IPv4 address      (i32 word 1)
  //         8-11  client port << 16 | VIP port (i32 word 2)
  //        12-15  backend IPv4 address after DNAT (i32 word 3)
  //        16-17  backend port after DNAT (u16 8)
  //        18     proto, 19 state (ST_FREE marks a free entry), 20 flags (u8)
  //        22-23  service id (u16 11)
  //        24-27  backend index; the free-list link while free (i32 word 6)
  //        28-31  spare
  //        32-39  last seen, ms of the injected clock (f64 4)
  // IPv6 entries leave the IPv4 address words unused and keep their addresses in #addr6.
  // Measured: as fast as one array per field on a 2-vCPU host (the random index and record reads
  // of a 1M table are DRAM/TLB misses either way), 5 bytes more per flow; kept for fewer lines
  // touched per hit and the spare word.
  #i32: Int32Array;
  #u16: Uint16Array;
  #u8: Uint8Array;
  #f64: Float64Array;
  #total: number;
  // IPv6 addresses, 12 words per entry: client[0..4), VIP[4..8), backend[8..12), big-endian words.
  #addr6: Int32Array;
  #fwd4: Int32Array;
  #rev4: Int32Array;
  #mask4: number;
  #fwd6: Int32Array;
  #rev6: Int32Array;
  #mask6: number;
  #free4 = NONE;
  #free6 = NONE;
  #size4 = 0;
  #size6 = 0;
  #timeouts: Float64Array;
  #svcEstablished: Float64Array; // 0 = use the default
  #cursor = 0;
  #rate: number;
  #burst: number;
  #tokens: number;
  #tokensAt = Number.NaN;

  constructor(config: Partial<Omit<ConntrackConfig, 'timeouts'>> & { timeouts?: Partial<ConntrackTimeouts> } = {}) {
    const c = { ...DEFAULT_CONFIG, ...config, timeouts: { ...DEFAULT_CONFIG.timeouts, ...config.timeouts } };
    for (const k of ['capacity4', 'capacity6', 'maxServices'] as const) {
      if (!Number.isInteger(c[k]) || c[k] < 0 || c[k] > 1 << 30) throw new RangeError(`Conntrack config: ${k} must be an integer in [0, 2^30]`);
    }
    if (c.maxServices > 65536) throw new RangeError('Conntrack config: maxServices must be at most 65536');
    this.capacity4 = c.capacity4;
    this.capacity6 = c.capacity6;
    this.maxServices = c.maxServices;
    const n = c.capacity4 + c.capacity6;
    const buf = new ArrayBuffer(n * RECORD_BYTES);
    this.#i32 = new Int32Array(buf);
    this.#u16 = new Uint16Array(buf);
    this.#u8 = new Uint8Array(buf);
    this.#f64 = new Float64Array(buf);
    this.#total = n;
    this.#addr6 = new Int32Array(c.capacity6 * 12);
    const slots4 = c.capacity4 === 0 ? 1 : pow2AtLeast(c.capacity4 * 2);
    const slots6 = c.capacity6 === 0 ? 1 : pow2AtLeast(c.capacity6 * 2);
    this.#fwd4 = new Int32Array(slots4).fill(NONE);
    this.#rev4 = new Int32Array(slots4).fill(NONE);
    this.#mask4 = slots4 - 1;
    this.#fwd6 = new Int32Array(slots6).fill(NONE);
    this.#rev6 = new Int32Array(slots6).fill(NONE);
    this.#mask6 = slots6 - 1;
    // Free lists through the backend word, lowest index first.
    for (let i = c.capacity4 - 1; i >= 0; i--) { this.#i32[i * 10 + 6] = this.#free4; this.#free4 = i; }
    for (let i = n - 1; i >= c.capacity4; i--) { this.#i32[i * 10 + 6] = this.#free6; this.#free6 = i; }
    this.#timeouts = timeoutsByState(c.timeouts);
    this.#svcEstablished = new Float64Array(c.maxServices);
    this.#rate = c.newFlowsPerSecond;
    this.#burst = c.newFlowsBurst;
    this.#tokens = c.newFlowsBurst;
  }

  /**
   * Called with an entry's index just before it is freed, for any reason (expiry by the sweep
   * or on lookup, remove, removeBackend), while its accessors still read the flow. The owner
   * releases what the flow held (a least-connections count). Control-path rate at most.
   */
  onRelease: ((index: number) => void) | undefined = undefined;

  /** Live IPv4 / IPv6 flows (expired flows not yet swept included). */
  get size4(): number { return this.#size4; }
  get size6(): number { return this.#size6; }

  /**
   * Idle timeout of ESTABLISHED TCP flows of `service` (ms); 0 restores the default. Applies to
   * existing flows at their next expiry check, not only to new ones.
   */
  setServiceTimeout(service: number, establishedMs: number): void {
    if (!(service >= 0 && service < this.maxServices)) throw new RangeError(`setServiceTimeout: service ${service} outside [0, ${this.maxServices})`);
    if (!(establishedMs >= 0)) throw new RangeError('setServiceTimeout: timeout must be ≥ 0');
    this.#svcEstablished[service] = establishedMs;
  }

  /** The idle timeout that currently applies to entry `index` (ms). */
  timeoutOf(index: number): number {
    const st = this.#u8[index * 40 + 19]!;
    if (st === ST_TCP_ESTABLISHED) {
      const o = this.#svcEstablished[this.#u16[index * 20 + 11]!]!;
      if (o > 0) return o;
    }
    return this.#timeouts[st]!;
  }

  /**
   * Admission for a NEW flow (call after a lookup miss, before insert). false means: do not
   * insert, route this packet with the stateless (Maglev) choice; counted in CT_FALLBACK_FULL or
   * CT_FALLBACK_RATE. true consumes one token of the new-flow bucket (one bucket for both
   * families). Never drops anything.
   */
  admit(now: number, v6 = false): boolean {
    if (v6 ? this.#size6 >= this.capacity6 : this.#size4 >= this.capacity4) {
      this.counters[CT_FALLBACK_FULL]!++;
      return false;
    }
    if (this.#rate > 0) {
      let t = this.#tokens;
      const last = this.#tokensAt;
      if (now > last) t = Math.min(this.#burst, t + ((now - last) * this.#rate) / 1000);
      if (!(now <= last)) this.#tokensAt = now; // also the first call (last is NaN)
      if (t < 1) {
        this.#tokens = t;
        this.counters[CT_FALLBACK_RATE]!++;
        return false;
      }
      this.#tokens = t - 1;
    }
    return true;
  }

  // ---- IPv4 -------------------------------------------------------------------------------

  /**
   * Forward lookup of a client → VIP packet. Returns the entry index or -1. A hit refreshes
   * last-seen to `now`; a flow found past its timeout is reclaimed on the spot (counted as
   * expired) and reported as a miss, so results never depend on when the sweep last ran.
   * Addresses are u32 (or their int32 bit pattern), ports 0…65535, proto 0…255: not checked
   * (they come from parsed headers); out-of-range values never match.
   */
  lookup4(proto: number, saddr: number, sport: number, daddr: number, dport: number, now: number): number {
    const e = this.#find4(proto, saddr | 0, (sport << 16) | dport, daddr | 0);
    return this.#hit(e, now, CT_LOOKUP_HIT, CT_LOOKUP_MISS);
  }

  /**
   * Reverse lookup of a backend → client packet: (proto, backend addr/port after DNAT, client
   * addr/port). Returns the entry index or -1; the caller SNATs the source back to
   * vipAddr4Of/vipPortOf. A hit refreshes last-seen and marks a UDP flow as replied (stream
   * timeout). Expired flows are reclaimed and missed, as in lookup4.
   */
  lookupReply4(proto: number, baddr: number, bport: number, caddr: number, cport: number, now: number): number {
    const e = this.#findRev4(proto, baddr | 0, (bport << 16) | cport, caddr | 0);
    const r = this.#hit(e, now, CT_REPLY_HIT, CT_REPLY_MISS);
    if (r >= 0 && this.#u8[r * 40 + 19] === ST_UDP_UNREPLIED) this.#u8[r * 40 + 19] = ST_UDP_REPLIED;
    return r;
  }

  /**
   * Records a flow: client (saddr:sport) → VIP (daddr:dport) goes to `backend`, DNATed to
   * natAddr:natPort. Returns the entry index, INSERT_FULL or INSERT_CLASH (both counted). If the
   * forward key exists (live or expired) it is overwritten in place: same index, new backend,
   * state reset, so a caller re-balancing a flow keeps its handle. Check order for a new key:
   * full, then clash. `service` < maxServices selects the ESTABLISHED timeout override.
   */
  insert4(
    proto: number, saddr: number, sport: number, daddr: number, dport: number,
    backend: number, natAddr: number, natPort: number, now: number, service = 0, flags = 0,
  ): number {
    const s = saddr | 0, d = daddr | 0, n = natAddr | 0, ports = (sport << 16) | dport;
    if (!(service >= 0 && service < this.maxServices)) throw new RangeError(`insert4: service ${service} outside [0, ${this.maxServices})`);
    let e = this.#find4(proto, s, ports, d);
    if (e === NONE && this.#size4 >= this.capacity4) return this.#full(4, this.#size4);
    const r = this.#findRev4(proto, n, (natPort << 16) | sport, s);
    if (r !== NONE && r !== e) {
      this.counters[CT_INSERT_CLASH]!++;
      return INSERT_CLASH;
    }
    if (e === NONE) {
      e = this.#free4;
      this.#free4 = this.#i32[e * 10 + 6]!;
      this.#size4++;
      this.#i32[e * 10 + 0] = s;
      this.#i32[e * 10 + 1] = d;
      this.#i32[e * 10 + 2] = ports;
      this.#u8[e * 40 + 18] = proto;
      this.#indexAdd(this.#fwd4, this.#mask4, this.#home(K_FWD4, e), e);
    } else {
      this.#indexDelete(this.#rev4, this.#mask4, K_REV4, e);
    }
    this.#i32[e * 10 + 3] = n;
    this.#u16[e * 20 + 8] = natPort;
    this.#fill(e, proto, backend, service, flags, now);
    this.#indexAdd(this.#rev4, this.#mask4, this.#home(K_REV4, e), e);
    return e;
  }

  // ---- IPv6 -------------------------------------------------------------------------------

  /** lookup4 for IPv6; addresses are 16 bytes read at src[srcOff] and dst[dstOff] (packet bytes). */
  lookup6(proto: number, src: Uint8Array, srcOff: number, sport: number, dst: Uint8Array, dstOff: number, dport: number, now: number): number {
    const e = this.#find6(this.#fwd6, K_FWD6, proto, src, srcOff, dst, dstOff, (sport << 16) | dport);
    return this.#hit(e, now, CT_LOOKUP_HIT, CT_LOOKUP_MISS);
  }

  /** lookupReply4 for IPv6: backend address at b[bOff], client address at c[cOff]. */
  lookupReply6(proto: number, b: Uint8Array, bOff: number, bport: number, c: Uint8Array, cOff: number, cport: number, now: number): number {
    const e = this.#find6(this.#rev6, K_REV6, proto, b, bOff, c, cOff, (bport << 16) | cport);
    const r = this.#hit(e, now, CT_REPLY_HIT, CT_REPLY_MISS);
    if (r >= 0 && this.#u8[r * 40 + 19] === ST_UDP_UNREPLIED) this.#u8[r * 40 + 19] = ST_UDP_REPLIED;
    return r;
  }

  /** insert4 for IPv6 (same contract); nat[natOff] is the backend's 16-byte address. */
  insert6(
    proto: number, src: Uint8Array, srcOff: number, sport: number, dst: Uint8Array, dstOff: number, dport: number,
    backend: number, nat: Uint8Array, natOff: number, natPort: number, now: number, service = 0, flags = 0,
  ): number {
    if (!(service >= 0 && service < this.maxServices)) throw new RangeError(`insert6: service ${service} outside [0, ${this.maxServices})`);
    let e = this.#find6(this.#fwd6, K_FWD6, proto, src, srcOff, dst, dstOff, (sport << 16) | dport);
    if (e === NONE && this.#size6 >= this.capacity6) return this.#full(6, this.#size6);
    const r = this.#find6(this.#rev6, K_REV6, proto, nat, natOff, src, srcOff, (natPort << 16) | sport);
    if (r !== NONE && r !== e) {
      this.counters[CT_INSERT_CLASH]!++;
      return INSERT_CLASH;
    }
    const a = this.#addr6;
    if (e === NONE) {
      e = this.#free6;
      this.#free6 = this.#i32[e * 10 + 6]!;
      this.#size6++;
      const w = (e - this.capacity4) * 12;
      for (let k = 0; k < 4; k++) {
        a[w + k] = be32(src, srcOff + 4 * k);
        a[w + 4 + k] = be32(dst, dstOff + 4 * k);
      }
      this.#i32[e * 10 + 2] = (sport << 16) | dport;
      this.#u8[e * 40 + 18] = proto;
      this.#indexAdd(this.#fwd6, this.#mask6, this.#home(K_FWD6, e), e);
    } else {
      this.#indexDelete(this.#rev6, this.#mask6, K_REV6, e);
    }
    const w = (e - this.capacity4) * 12;
    for (let k = 0; k < 4; k++) a[w + 8 + k] = be32(nat, natOff + 4 * k);
    this.#u16[e * 20 + 8] = natPort;
    this.#fill(e, proto, backend, service, flags, now);
    this.#indexAdd(this.#rev6, this.#mask6, this.#home(K_REV6, e), e);
    return e;
  }

  // ---- any family -------------------------------------------------------------------------

  /**
   * Feeds the TCP flags of a segment of flow `index` seen in direction `fromClient`; returns the
   * new state (see nextTcpState). Refreshes last-seen. The index must be live (from a lookup or
   * insert in this same turn); non-TCP flows are left as they are.
   */
  observeTcp(index: number, flags: number, fromClient: boolean, now: number): number {
    const st = nextTcpState(this.#u8[index * 40 + 19]!, flags, fromClient);
    this.#u8[index * 40 + 19] = st;
    this.#f64[index * 5 + 4] = now;
    return st;
  }

  /** Removes flow `index`; returns false when the slot was already free. Counted in CT_REMOVED. */
  remove(index: number): boolean {
    if (!(index >= 0 && index < this.#total) || this.#u8[index * 40 + 19] === ST_FREE) return false;
    this.#release(index);
    this.counters[CT_REMOVED]!++;
    return true;
  }

  /**
   * Removes every flow (both families) pinned to `backend`, for a backend marked down: its
   * clients get a fresh choice (and a RST from the new backend for TCP) instead of black-holing.
   * O(capacity4+capacity6): a control-path call, ~25–35 ms for 1M slots on a 2-vCPU host
   * (bench/conntrack.ts). Returns how many were removed.
   */
  removeBackend(backend: number): number {
    const u8 = this.#u8, i32 = this.#i32, total = this.#total;
    let count = 0;
    for (let i = 0; i < total; i++) {
      if (u8[i * 40 + 19] !== ST_FREE && i32[i * 10 + 6] === backend) {
        this.#release(i);
        count++;
      }
    }
    this.counters[CT_REMOVED]! += count;
    return count;
  }

  /**
   * Incremental expiry sweep: examines at most `budget` entry slots (both families, round-robin
   * from where the previous call stopped) and reclaims those with now - lastSeen > timeout.
   * Returns how many it reclaimed. A full lap takes ceil((capacity4+capacity6)/budget) calls;
   * call it from the one coarse ticker. Cost (bench/conntrack.ts, 1M flows, 2 vCPU): ~7 ns per
   * slot when nothing is due, ~0.5 µs per flow reclaimed (two backward-shift deletions), so
   * budget 4096 costs ~2 ms a call (worst measured ~4 ms) even when every slot is due, and a lap
   * of 1M slots takes 256 calls. Correctness never waits for the sweep (lookups expire lazily):
   * the sweep only returns memory, so a slow lap costs capacity, never a wrong answer.
   */
  expire(now: number, budget: number): number {
    const total = this.#total;
    if (total === 0) return 0;
    const u8 = this.#u8, f64 = this.#f64;
    let n = Math.min(budget, total);
    let i = this.#cursor;
    let count = 0;
    while (n-- > 0) {
      if (u8[i * 40 + 19] !== ST_FREE && now - f64[i * 5 + 4]! > this.timeoutOf(i)) {
        this.#release(i);
        count++;
      }
      if (++i === total) i = 0;
    }
    this.#cursor = i;
    this.counters[CT_EXPIRED]! += count;
    return count;
  }

  // ---- accessors for the NAT step (index must be live) --------------------------------------

  isIpv6(index: number): boolean { return index >= this.capacity4; }
  backendOf(index: number): number { return this.#i32[index * 10 + 6]!; }
  stateOf(index: number): number { return this.#u8[index * 40 + 19]!; }
  flagsOf(index: number): number { return this.#u8[index * 40 + 20]!; }
  protoOf(index: number): number { return this.#u8[index * 40 + 18]!; }
  serviceOf(index: number): number { return this.#u16[index * 20 + 11]!; }
  lastSeenOf(index: number): number { return this.#f64[index * 5 + 4]!; }
  clientPortOf(index: number): number { return this.#i32[index * 10 + 2]! >>> 16; }
  vipPortOf(index: number): number { return this.#i32[index * 10 + 2]! & 0xffff; }
  natPortOf(index: number): number { return this.#u16[index * 20 + 8]!; }
  /** IPv4 addresses as u32. */
  clientAddr4Of(index: number): number { return this.#i32[index * 10 + 0]! >>> 0; }
  vipAddr4Of(index: number): number { return this.#i32[index * 10 + 1]! >>> 0; }
  natAddr4Of(index: number): number { return this.#i32[index * 10 + 3]! >>> 0; }
  /** Writes an IPv6 address of flow `index` (0 client, 1 VIP, 2 backend) as 16 bytes at out[off]. */
  copyAddr6(index: number, which: 0 | 1 | 2, out: Uint8Array, off: number): void {
    const w = (index - this.capacity4) * 12 + which * 4;
    for (let k = 0; k < 4; k++) {
      const v = this.#addr6[w + k]!;
      out[off + 4 * k] = v >>> 24;
      out[off + 4 * k + 1] = v >>> 16;
      out[off + 4 * k + 2] = v >>> 8;
      out[off + 4 * k + 3] = v;
    }
  }

  /** Typed-array bytes, per family and per flow (see ConntrackMemory). */
  memory(): ConntrackMemory {
    const idx4 = this.capacity4 ? this.#fwd4.byteLength + this.#rev4.byteLength : 0;
    const idx6 = this.capacity6 ? this.#fwd6.byteLength + this.#rev6.byteLength : 0;
    const bytes4 = this.capacity4 * RECORD_BYTES + idx4;
    const bytes6 = this.capacity6 * RECORD_BYTES + this.#addr6.byteLength + idx6;
    const totalBytes = this.#i32.byteLength + this.#addr6.byteLength + this.#fwd4.byteLength + this.#rev4.byteLength +
      this.#fwd6.byteLength + this.#rev6.byteLength + this.#svcEstablished.byteLength + this.#timeouts.byteLength +
      this.counters.byteLength;
    return {
      bytes4, bytes6, totalBytes,
      perFlow4: this.capacity4 ? bytes4 / this.capacity4 : Number.NaN,
      perFlow6: this.capacity6 ? bytes6 / this.capacity6 : Number.NaN,
    };
  }

  /** Every live flow as a plain object, index order; for dumps and tests, not the hot path. */
  *entries(): Generator<ConntrackEntry> {
    const b = new Uint8Array(16);
    const v6 = (i: number, which: 0 | 1 | 2): string => {
      this.copyAddr6(i, which, b, 0);
      const parts: string[] = [];
      for (let k = 0; k < 16; k += 2) parts.push(((b[k]! << 8) | b[k + 1]!).toString(16));
      return parts.join(':');
    };
    const v4 = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    for (let i = 0; i < this.#total; i++) {
      if (this.#u8[i * 40 + 19] === ST_FREE) continue;
      const six = this.isIpv6(i);
      yield {
        index: i, family: six ? 6 : 4, proto: this.#u8[i * 40 + 18]!,
        client: six ? v6(i, 0) : v4(this.#i32[i * 10 + 0]!), clientPort: this.clientPortOf(i),
        vip: six ? v6(i, 1) : v4(this.#i32[i * 10 + 1]!), vipPort: this.vipPortOf(i),
        nat: six ? v6(i, 2) : v4(this.#i32[i * 10 + 3]!), natPort: this.#u16[i * 20 + 8]!,
        backend: this.#i32[i * 10 + 6]!, service: this.#u16[i * 20 + 11]!, state: this.#u8[i * 40 + 19]!, flags: this.#u8[i * 40 + 20]!,
        lastSeen: this.#f64[i * 5 + 4]!,
      };
    }
  }

  // ---- internals --------------------------------------------------------------------------

  #hit(e: number, now: number, hit: number, miss: number): number {
    if (e !== NONE) {
      if (!(now - this.#f64[e * 5 + 4]! > this.timeoutOf(e))) {
        this.#f64[e * 5 + 4] = now;
        this.counters[hit]!++;
        return e;
      }
      this.#release(e);
      this.counters[CT_EXPIRED]!++;
    }
    this.counters[miss]!++;
    return NONE;
  }

  #full(family: 4 | 6, size: number): number {
    this.counters[CT_INSERT_FULL]!++;
    if (fullChannel.hasSubscribers) fullChannel.publish({ family, size });
    return INSERT_FULL;
  }

  #fill(e: number, proto: number, backend: number, service: number, flags: number, now: number): void {
    this.#i32[e * 10 + 6] = backend;
    this.#u16[e * 20 + 11] = service;
    this.#u8[e * 40 + 20] = flags;
    this.#u8[e * 40 + 19] = initialState(proto);
    this.#f64[e * 5 + 4] = now;
    this.counters[CT_INSERTS]!++;
  }

  #find4(proto: number, s: number, ports: number, d: number): number {
    const idx = this.#fwd4, mask = this.#mask4;
    let i = hashEnd(hashMix(hashMix(hashMix(hashMix(SEED_FWD, s), d), ports), proto)) & mask;
    for (;;) {
      const e = idx[i]!;
      if (e === NONE) return NONE;
      if (this.#i32[e * 10 + 0] === s && this.#i32[e * 10 + 2] === ports && this.#i32[e * 10 + 1] === d && this.#u8[e * 40 + 18] === proto) return e;
      i = (i + 1) & mask;
    }
  }

  // Reverse key: (proto, nat addr, natPort << 16 | client port, client addr).
  #findRev4(proto: number, n: number, ports: number, c: number): number {
    const idx = this.#rev4, mask = this.#mask4;
    let i = hashEnd(hashMix(hashMix(hashMix(hashMix(SEED_REV, n), c), ports), proto)) & mask;
    for (;;) {
      const e = idx[i]!;
      if (e === NONE) return NONE;
      if (this.#i32[e * 10 + 3] === n && this.#i32[e * 10 + 0] === c && ((this.#u16[e * 20 + 8]! << 16) | (this.#i32[e * 10 + 2]! >>> 16)) === ports &&
        this.#u8[e * 40 + 18] === proto) return e;
      i = (i + 1) & mask;
    }
  }

  // Forward: a = client, b = VIP, ports = sport<<16|dport. Reverse: a = backend, b = client,
  // ports = natPort<<16|sport. Word offsets of a and b inside an entry's 12 words differ per kind.
  #find6(idx: Int32Array, kind: number, proto: number, a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, ports: number): number {
    const a0 = be32(a, aOff), a1 = be32(a, aOff + 4), a2 = be32(a, aOff + 8), a3 = be32(a, aOff + 12);
    const b0 = be32(b, bOff), b1 = be32(b, bOff + 4), b2 = be32(b, bOff + 8), b3 = be32(b, bOff + 12);
    const mask = this.#mask6;
    let i = hash6(kind === K_FWD6 ? SEED_FWD : SEED_REV, a0, a1, a2, a3, b0, b1, b2, b3, ports, proto) & mask;
    const aw = kind === K_FWD6 ? 0 : 8, bw = kind === K_FWD6 ? 4 : 0;
    const w6 = this.#addr6, cap4 = this.capacity4;
    for (;;) {
      const e = idx[i]!;
      if (e === NONE) return NONE;
      const w = (e - cap4) * 12;
      const p = kind === K_FWD6 ? this.#i32[e * 10 + 2]! : (this.#u16[e * 20 + 8]! << 16) | (this.#i32[e * 10 + 2]! >>> 16);
      if (p === ports && this.#u8[e * 40 + 18] === proto &&
        w6[w + aw] === a0 && w6[w + aw + 1] === a1 && w6[w + aw + 2] === a2 && w6[w + aw + 3] === a3 &&
        w6[w + bw] === b0 && w6[w + bw + 1] === b1 && w6[w + bw + 2] === b2 && w6[w + bw + 3] === b3) return e;
      i = (i + 1) & mask;
    }
  }

  /** Home slot of entry e in the index of `kind` (recomputed from the entry's fields). */
  #home(kind: number, e: number): number {
    const proto = this.#u8[e * 40 + 18]!, ports = this.#i32[e * 10 + 2]!;
    switch (kind) {
      case K_FWD4:
        return hashEnd(hashMix(hashMix(hashMix(hashMix(SEED_FWD, this.#i32[e * 10 + 0]!), this.#i32[e * 10 + 1]!), ports), proto)) & this.#mask4;
      case K_REV4:
        return hashEnd(hashMix(hashMix(hashMix(hashMix(SEED_REV, this.#i32[e * 10 + 3]!), this.#i32[e * 10 + 0]!),
          (this.#u16[e * 20 + 8]! << 16) | (ports >>> 16)), proto)) & this.#mask4;
      default: {
        const a = this.#addr6, w = (e - this.capacity4) * 12;
        if (kind === K_FWD6) {
          return hash6(SEED_FWD, a[w]!, a[w + 1]!, a[w + 2]!, a[w + 3]!, a[w + 4]!, a[w + 5]!, a[w + 6]!, a[w + 7]!, ports, proto) & this.#mask6;
        }
        return hash6(SEED_REV, a[w + 8]!, a[w + 9]!, a[w + 10]!, a[w + 11]!, a[w]!, a[w + 1]!, a[w + 2]!, a[w + 3]!,
          (this.#u16[e * 20 + 8]! << 16) | (ports >>> 16), proto) & this.#mask6;
      }
    }
  }

  #indexAdd(idx: Int32Array, mask: number, home: number, e: number): void {
    let i = home;
    while (idx[i] !== NONE) i = (i + 1) & mask;
    idx[i] = e;
  }

  // Backward-shift deletion (as addr-table.ts): no tombstones, so probe runs stay short after
  // millions of expiries.
  #indexDelete(idx: Int32Array, mask: number, kind: number, e: number): void {
    let i = this.#home(kind, e);
    while (idx[i] !== e) i = (i + 1) & mask;
    idx[i] = NONE;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const f = idx[j]!;
      if (f === NONE) return;
      const h = this.#home(kind, f);
      // Move j into the hole i when its home slot is not cyclically within (i, j].
      const inRange = i <= j ? h > i && h <= j : h > i || h <= j;
      if (!inRange) {
        idx[i] = f;
        idx[j] = NONE;
        i = j;
      }
    }
  }

  #release(e: number): void {
    this.onRelease?.(e);
    if (e < this.capacity4) {
      this.#indexDelete(this.#fwd4, this.#mask4, K_FWD4, e);
      this.#indexDelete(this.#rev4, this.#mask4, K_REV4, e);
      this.#i32[e * 10 + 6] = this.#free4;
      this.#free4 = e;
      this.#size4--;
    } else {
      this.#indexDelete(this.#fwd6, this.#mask6, K_FWD6, e);
      this.#indexDelete(this.#rev6, this.#mask6, K_REV6, e);
      this.#i32[e * 10 + 6] = this.#free6;
      this.#free6 = e;
      this.#size6--;
    }
    this.#u8[e * 40 + 19] = ST_FREE;
  }
}

function hash6(seed: number, a0: number, a1: number, a2: number, a3: number, b0: number, b1: number, b2: number, b3: number, ports: number, proto: number): number {
  let h = hashMix(hashMix(hashMix(hashMix(seed, a0), a1), a2), a3);
  h = hashMix(hashMix(hashMix(hashMix(h, b0), b1), b2), b3);
  return hashEnd(hashMix(hashMix(h, ports), proto));
}
