import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  Conntrack, CT_EXPIRED, CT_FALLBACK_FULL, CT_FALLBACK_RATE, CT_INSERT_CLASH, CT_INSERT_FULL, CT_INSERTS,
  CT_LOOKUP_HIT, CT_LOOKUP_MISS, CT_REPLY_HIT, FLAG_AFFINITY, INSERT_CLASH, INSERT_FULL,
} from '../../../../src/dataplane/lb/conntrack/conntrack.js';
import {
  nextTcpState, PROTO_TCP, PROTO_UDP, ST_TCP_ESTABLISHED, ST_TCP_NEW, ST_UDP_REPLIED, ST_UDP_UNREPLIED,
  TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, initialState,
} from '../../../../src/dataplane/lb/conntrack/state.js';
import { timeoutsByState, type ConntrackTimeouts } from '../../../../src/dataplane/lb/conntrack/config.js';

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

// Small timeouts so random clock steps cross them often; distinct per state so a wrong state
// shows up as a wrong expiry.
const T: ConntrackTimeouts = {
  tcpNew: 5000, tcpSynSent: 10000, tcpSynRecv: 7000, tcpEstablished: 60000, tcpFinWait: 12000, tcpCloseWait: 9000,
  tcpLastAck: 3000, tcpTimeWait: 15000, tcpClose: 1000, udpUnreplied: 4000, udpReplied: 25000, other: 6000,
};

// ---- slow reference: Maps keyed by strings, a linear scan for the sweep -----------------------

interface RefFlow { tuple: Tuple; key: string; rkey: string; index: number; proto: number; backend: number; svc: number; state: number; lastSeen: number }

class RefTable {
  fwd = new Map<string, RefFlow>();
  rev = new Map<string, RefFlow>();
  byIndex = new Map<number, RefFlow>();
  cursor = 0;
  expired = 0;
  readonly byState = timeoutsByState(T);
  constructor(readonly capacity: number, readonly svcTimeout: Map<number, number>) {}
  timeout(f: RefFlow): number {
    if (f.state === ST_TCP_ESTABLISHED && this.svcTimeout.has(f.svc)) return this.svcTimeout.get(f.svc)!;
    return this.byState[f.state]!;
  }
  drop(f: RefFlow): void {
    this.fwd.delete(f.key);
    this.rev.delete(f.rkey);
    this.byIndex.delete(f.index);
  }
  live(f: RefFlow | undefined, now: number): RefFlow | undefined {
    if (!f) return undefined;
    if (now - f.lastSeen > this.timeout(f)) { this.drop(f); this.expired++; return undefined; }
    f.lastSeen = now;
    return f;
  }
  sweep(now: number, budget: number, total: number): number {
    let n = Math.min(budget, total), count = 0;
    while (n-- > 0) {
      const f = this.byIndex.get(this.cursor);
      if (f && now - f.lastSeen > this.timeout(f)) { this.drop(f); count++; }
      this.cursor = (this.cursor + 1) % total;
    }
    this.expired += count;
    return count;
  }
}

const CLIENTS = [ip(192, 168, 0, 1), ip(255, 255, 255, 255), 0];
const VIPS = [ip(10, 255, 0, 2), ip(10, 255, 0, 3)];
const backendAddr = (b: number): number => ip(10, 0, 1, b);
const NAT_PORT = 8080;

interface Tuple { proto: number; c: number; sport: number; v: number; dport: number }
type Op =
  | { t: 'insert'; proto: number; c: number; sport: number; v: number; dport: number; backend: number; svc: number }
  | { t: 'packet'; proto: number; c: number; sport: number; v: number; dport: number; flags: number; fromClient: boolean }
  | { t: 'again'; pick: number; flags: number; fromClient: boolean; reply: boolean }
  | { t: 'reply'; proto: number; backend: number; c: number; sport: number }
  | { t: 'remove'; proto: number; c: number; sport: number; v: number; dport: number }
  | { t: 'sweep'; budget: number }
  | { t: 'removeBackend'; backend: number }
  | { t: 'tick'; dt: number };

const tuple = {
  proto: fc.constantFrom(PROTO_TCP, PROTO_UDP, PROTO_TCP, 1),
  c: fc.nat(CLIENTS.length - 1),
  sport: fc.constantFrom(1, 65535),
  v: fc.nat(VIPS.length - 1),
  dport: fc.constantFrom(80, 80, 65535),
};
const flagsArb = fc.constantFrom(TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST, TCP_RST | TCP_ACK, 0);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('insert' as const), ...tuple, backend: fc.nat(2), svc: fc.nat(1) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('packet' as const), ...tuple, flags: flagsArb, fromClient: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('again' as const), pick: fc.nat(), flags: flagsArb, fromClient: fc.boolean(), reply: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('reply' as const), proto: tuple.proto, backend: fc.nat(2), c: tuple.c, sport: tuple.sport }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('remove' as const), ...tuple }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('sweep' as const), budget: fc.constantFrom(1, 3, 7, 1000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('removeBackend' as const), backend: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), dt: fc.constantFrom(0, 0, 1000, 1000, 3000, 4000, 5000, 5001, 12000, 30000) }) },
);

test('conntrack agrees with a Map reference under random inserts, packets, replies, removals and sweeps', () => {
  // Coverage guard: a differential test whose lookups all miss proves nothing.
  const seen = { hit: 0, miss: 0, reply: 0, full: 0, clash: 0, swept: 0 };
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 100, maxLength: 300, size: "max" }), fc.integer({ min: 1, max: 12 }), (ops, capacity) => {
      const svcTimeout = new Map([[1, 20000]]);
      const ct = new Conntrack({ capacity4: capacity, capacity6: 0, maxServices: 2, timeouts: T, newFlowsPerSecond: 0 });
      ct.setServiceTimeout(1, 20000);
      const ref = new RefTable(capacity, svcTimeout);
      let now = 1_000_000;
      const key = (o: { proto: number; c: number; sport: number; v: number; dport: number }) =>
        `${o.proto}|${CLIENTS[o.c]}|${o.sport}|${VIPS[o.v]}|${o.dport}`;
      const rkey = (proto: number, backend: number, c: number, sport: number) => `${proto}|${backend}|${CLIENTS[c]}|${sport}`;
      const packet = (op: Tuple, flags: number, fromClient: boolean) => {
        const got = ct.lookup4(op.proto, CLIENTS[op.c]!, op.sport, VIPS[op.v]!, op.dport, now);
        const f = ref.live(ref.fwd.get(key(op)), now);
        assert.equal(got, f ? f.index : -1);
        if (f) {
          assert.equal(ct.backendOf(got), f.backend);
          assert.equal(ct.natAddr4Of(got), backendAddr(f.backend));
          f.state = nextTcpState(f.state, flags, fromClient);
          if (op.proto === PROTO_TCP) assert.equal(ct.observeTcp(got, flags, fromClient, now), f.state);
        }
      };
      const reply = (proto: number, backend: number, c: number, sport: number) => {
        const got = ct.lookupReply4(proto, backendAddr(backend), NAT_PORT, CLIENTS[c]!, sport, now);
        const f = ref.live(ref.rev.get(rkey(proto, backend, c, sport)), now);
        assert.equal(got, f ? f.index : -1);
        if (f) {
          if (f.state === ST_UDP_UNREPLIED) f.state = ST_UDP_REPLIED;
          assert.equal(ct.clientPortOf(got), sport);
          assert.equal(ct.clientAddr4Of(got), CLIENTS[c]);
        }
      };
      for (const op of ops) {
        switch (op.t) {
          case 'insert': {
            const k = key(op), rk = rkey(op.proto, op.backend, op.c, op.sport);
            const got = ct.insert4(op.proto, CLIENTS[op.c]!, op.sport, VIPS[op.v]!, op.dport, op.backend, backendAddr(op.backend), NAT_PORT, now, op.svc);
            const old = ref.fwd.get(k);
            const owner = ref.rev.get(rk);
            if (!old && ref.fwd.size >= capacity) assert.equal(got, INSERT_FULL);
            else if (owner && owner !== old) assert.equal(got, INSERT_CLASH);
            else {
              if (old) { assert.equal(got, old.index); ref.rev.delete(old.rkey); }
              assert.ok(got >= 0 && got < capacity);
              const f: RefFlow = { tuple: op, key: k, rkey: rk, index: got, proto: op.proto, backend: op.backend, svc: op.svc, state: initialState(op.proto), lastSeen: now };
              ref.fwd.set(k, f); ref.rev.set(rk, f); ref.byIndex.set(got, f);
            }
            break;
          }
          case 'packet':
            packet(op, op.flags, op.fromClient);
            break;
          case 'again': {
            // A packet of a flow the reference holds (live or expired but unswept): drives hits.
            const all = [...ref.fwd.values()];
            if (all.length === 0) break;
            const f = all[op.pick % all.length]!;
            if (op.reply) reply(f.proto, f.backend, f.tuple.c, f.tuple.sport);
            else packet(f.tuple, op.flags, op.fromClient);
            break;
          }
          case 'reply':
            reply(op.proto, op.backend, op.c, op.sport);
            break;
          case 'remove': {
            const f = ref.fwd.get(key(op));
            if (f) { assert.equal(ct.remove(f.index), true); ref.drop(f); }
            break;
          }
          case 'sweep':
            assert.equal(ct.expire(now, op.budget), ref.sweep(now, op.budget, capacity));
            break;
          case 'removeBackend': {
            let n = 0;
            for (const f of [...ref.fwd.values()]) if (f.backend === op.backend) { ref.drop(f); n++; }
            assert.equal(ct.removeBackend(op.backend), n);
            break;
          }
          case 'tick':
            now += op.dt;
            break;
        }
        assert.equal(ct.size4, ref.fwd.size);
        for (const f of ref.fwd.values()) assert.equal(ct.stateOf(f.index), f.state);
      }
      assert.equal(ct.counters[CT_EXPIRED], ref.expired);
      seen.hit += ct.counters[CT_LOOKUP_HIT]!;
      seen.miss += ct.counters[CT_LOOKUP_MISS]!;
      seen.reply += ct.counters[CT_REPLY_HIT]!;
      seen.full += ct.counters[CT_INSERT_FULL]!;
      seen.clash += ct.counters[CT_INSERT_CLASH]!;
      seen.swept += ct.counters[CT_EXPIRED]!;
    }),
    { numRuns: 300, seed: 0x5eed },
  );
  for (const [k, v] of Object.entries(seen)) assert.ok(v > 100, `too few ${k}: ${JSON.stringify(seen)}`);
  assert.ok(seen.hit > 3000 && seen.reply > 3000, JSON.stringify(seen));
});

test('insert returns INSERT_FULL and counts it; admission falls back; expiry frees room', () => {
  const ct = new Conntrack({ capacity4: 4, capacity6: 0, timeouts: T, newFlowsPerSecond: 0 });
  const seen: unknown[] = [];
  const onFull = (m: unknown) => seen.push(m);
  diagnostics_channel.subscribe('vxmesh:conntrack:full', onFull);
  try {
    for (let i = 0; i < 4; i++) {
      assert.equal(ct.admit(0), true);
      assert.ok(ct.insert4(PROTO_UDP, ip(1, 1, 1, 1), 1000 + i, ip(10, 255, 0, 2), 53, 0, ip(10, 0, 1, 1), 53, 0) >= 0);
    }
    assert.equal(ct.admit(0), false);
    assert.equal(ct.counters[CT_FALLBACK_FULL], 1);
    assert.equal(ct.insert4(PROTO_UDP, ip(1, 1, 1, 1), 2000, ip(10, 255, 0, 2), 53, 0, ip(10, 0, 1, 1), 53, 0), INSERT_FULL);
    assert.equal(ct.counters[CT_INSERT_FULL], 1);
    assert.deepEqual(seen, [{ family: 4, size: 4 }]);
    // UDP unreplied: 4000 ms. At exactly the timeout the flows are still alive; one ms later not.
    assert.equal(ct.expire(4000, 100), 0);
    assert.equal(ct.expire(4001, 100), 4);
    assert.equal(ct.counters[CT_EXPIRED], 4);
    assert.equal(ct.admit(4001), true);
    assert.ok(ct.insert4(PROTO_UDP, ip(1, 1, 1, 1), 2000, ip(10, 255, 0, 2), 53, 0, ip(10, 0, 1, 1), 53, 4001) >= 0);
  } finally {
    diagnostics_channel.unsubscribe('vxmesh:conntrack:full', onFull);
  }
});

test('admission rate-limits new flows with a token bucket on the injected clock', () => {
  const ct = new Conntrack({ capacity4: 1024, capacity6: 0, newFlowsPerSecond: 10, newFlowsBurst: 3 });
  const at = (now: number, n: number) => Array.from({ length: n }, () => ct.admit(now));
  assert.deepEqual(at(0, 4), [true, true, true, false]); // burst of 3
  assert.deepEqual(at(50, 1), [false]); // 0.5 token accrued
  assert.deepEqual(at(100, 2), [true, false]); // 10/s → one per 100 ms
  assert.deepEqual(at(10_000, 5), [true, true, true, false, false]); // refill capped at the burst
  assert.equal(ct.counters[CT_FALLBACK_RATE], 5);
  assert.equal(ct.counters[CT_FALLBACK_FULL], 0);
});

test('removeBackend clears exactly that backend flows, both families', () => {
  const ct = new Conntrack({ capacity4: 64, capacity6: 16, newFlowsPerSecond: 0 });
  const v6 = (last: number) => Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), last]);
  for (let i = 0; i < 40; i++) ct.insert4(PROTO_TCP, ip(1, 2, 3, 4), 10000 + i, ip(10, 255, 0, 2), 80, i % 4, ip(10, 0, 1, i % 4), 80, 0);
  for (let i = 0; i < 8; i++) ct.insert6(PROTO_TCP, v6(1), 0, 10000 + i, v6(2), 0, 443, i % 4, v6(10 + (i % 4)), 0, 443, 0);
  assert.equal(ct.removeBackend(2), 10 + 2);
  assert.equal(ct.size4, 30);
  assert.equal(ct.size6, 6);
  for (const e of ct.entries()) assert.notEqual(e.backend, 2);
  for (let i = 0; i < 40; i++) {
    const hit = ct.lookup4(PROTO_TCP, ip(1, 2, 3, 4), 10000 + i, ip(10, 255, 0, 2), 80, 1);
    assert.equal(hit >= 0, i % 4 !== 2);
  }
  assert.equal(ct.removeBackend(2), 0);
});

test('reverse lookup finds the flow and gives the VIP to SNAT back to', () => {
  const ct = new Conntrack({ capacity4: 16, capacity6: 0 });
  const client = ip(203, 0, 113, 9), vip = ip(10, 255, 0, 2), be = ip(10, 0, 1, 17);
  const i = ct.insert4(PROTO_TCP, client, 51000, vip, 443, 5, be, 8443, 0, 0, FLAG_AFFINITY);
  assert.equal(ct.lookupReply4(PROTO_TCP, be, 8443, client, 51000, 1), i);
  assert.equal(ct.vipAddr4Of(i), vip);
  assert.equal(ct.vipPortOf(i), 443);
  assert.equal(ct.flagsOf(i), FLAG_AFFINITY);
  assert.equal(ct.backendOf(i), 5);
  // Wrong port, wrong proto, the VIP instead of the backend: all misses.
  assert.equal(ct.lookupReply4(PROTO_TCP, be, 8444, client, 51000, 1), -1);
  assert.equal(ct.lookupReply4(PROTO_UDP, be, 8443, client, 51000, 1), -1);
  assert.equal(ct.lookupReply4(PROTO_TCP, vip, 443, client, 51000, 1), -1);
  // Same client addr:port through another VIP to the same backend addr:port would be ambiguous on the return path.
  assert.equal(ct.insert4(PROTO_TCP, client, 51000, ip(10, 255, 0, 3), 443, 5, be, 8443, 0), INSERT_CLASH);
  assert.equal(ct.counters[CT_INSERT_CLASH], 1);
  // Re-inserting the same key re-points it in place and moves the reverse entry.
  assert.equal(ct.insert4(PROTO_TCP, client, 51000, vip, 443, 6, ip(10, 0, 1, 18), 8443, 2), i);
  assert.equal(ct.lookupReply4(PROTO_TCP, be, 8443, client, 51000, 3), -1);
  assert.equal(ct.lookupReply4(PROTO_TCP, ip(10, 0, 1, 18), 8443, client, 51000, 3), i);
  assert.equal(ct.counters[CT_INSERTS], 2);
});

test('UDP reply turns a flow into a stream with the longer timeout', () => {
  const ct = new Conntrack({ capacity4: 4, capacity6: 0, timeouts: T });
  const i = ct.insert4(PROTO_UDP, ip(1, 1, 1, 1), 5353, ip(10, 255, 0, 2), 53, 0, ip(10, 0, 1, 1), 53, 0);
  assert.equal(ct.stateOf(i), ST_UDP_UNREPLIED);
  assert.equal(ct.timeoutOf(i), T.udpUnreplied);
  assert.equal(ct.lookupReply4(PROTO_UDP, ip(10, 0, 1, 1), 53, ip(1, 1, 1, 1), 5353, 1000), i);
  assert.equal(ct.stateOf(i), ST_UDP_REPLIED);
  assert.equal(ct.lookup4(PROTO_UDP, ip(1, 1, 1, 1), 5353, ip(10, 255, 0, 2), 53, 1000 + T.udpReplied), i);
  assert.equal(ct.lookup4(PROTO_UDP, ip(1, 1, 1, 1), 5353, ip(10, 255, 0, 2), 53, 2001 + 2 * T.udpReplied), -1);
});

test('IPv6 flows: insert, forward and reverse lookup, addresses copied back, expiry', () => {
  const ct = new Conntrack({ capacity4: 4, capacity6: 4, timeouts: T, newFlowsPerSecond: 0 });
  const pkt = new Uint8Array(40);
  const client = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe]);
  const vip = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
  const be = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]);
  pkt.set(client, 8); pkt.set(vip, 24); // IPv6 header: source at 8, destination at 24
  const i = ct.insert6(PROTO_TCP, pkt, 8, 40000, pkt, 24, 80, 3, be, 0, 8080, 0);
  assert.ok(i >= ct.capacity4 && ct.isIpv6(i));
  assert.equal(ct.lookup6(PROTO_TCP, client, 0, 40000, vip, 0, 80, 1), i);
  assert.equal(ct.lookup6(PROTO_TCP, client, 0, 40001, vip, 0, 80, 1), -1);
  assert.equal(ct.lookupReply6(PROTO_TCP, be, 0, 8080, client, 0, 40000, 1), i);
  assert.equal(ct.lookupReply6(PROTO_TCP, vip, 0, 80, client, 0, 40000, 1), -1);
  const out = new Uint8Array(16);
  ct.copyAddr6(i, 1, out, 0); assert.deepEqual(out, vip);
  ct.copyAddr6(i, 2, out, 0); assert.deepEqual(out, be);
  ct.copyAddr6(i, 0, out, 0); assert.deepEqual(out, client);
  assert.equal(ct.observeTcp(i, TCP_ACK, true, 1), ST_TCP_ESTABLISHED);
  // IPv4 capacity is independent of IPv6 capacity.
  for (let k = 0; k < 4; k++) assert.ok(ct.insert4(PROTO_TCP, ip(1, 1, 1, 1), k, ip(2, 2, 2, 2), 80, 0, ip(3, 3, 3, 3), 80, 1) >= 0);
  assert.equal(ct.admit(1, true), true);
  assert.equal(ct.admit(1, false), false);
  assert.equal(ct.expire(1 + T.tcpEstablished + 1, 8), 4 + 1 - 0); // the 4 TCP_NEW v4 flows and the v6 one
  assert.equal(ct.size6, 0);
});

test('lookups count hits and misses; an expired flow is reclaimed lazily and missed', () => {
  const ct = new Conntrack({ capacity4: 8, capacity6: 0, timeouts: T });
  const i = ct.insert4(PROTO_TCP, ip(1, 1, 1, 1), 1, ip(2, 2, 2, 2), 80, 0, ip(3, 3, 3, 3), 80, 0);
  assert.equal(ct.stateOf(i), ST_TCP_NEW);
  assert.equal(ct.lookup4(PROTO_TCP, ip(1, 1, 1, 1), 1, ip(2, 2, 2, 2), 80, T.tcpNew), i);
  assert.equal(ct.lookup4(PROTO_TCP, ip(1, 1, 1, 1), 1, ip(2, 2, 2, 2), 80, 2 * T.tcpNew + 1), -1);
  assert.equal(ct.counters[CT_LOOKUP_HIT], 1);
  assert.equal(ct.counters[CT_LOOKUP_MISS], 1);
  assert.equal(ct.counters[CT_EXPIRED], 1);
  assert.equal(ct.size4, 0);
});

test('expire examines at most budget slots per call and a full lap reclaims everything', () => {
  const cap = 1000;
  const ct = new Conntrack({ capacity4: cap, capacity6: 0, timeouts: T, newFlowsPerSecond: 0 });
  for (let k = 0; k < cap; k++) ct.insert4(PROTO_UDP, ip(9, 0, k >> 8, k & 255), 7, ip(10, 255, 0, 2), 53, 0, ip(10, 0, 1, 1), 53, 0);
  const later = T.udpUnreplied + 1;
  let calls = 0, total = 0;
  while (ct.size4 > 0) {
    const n = ct.expire(later, 64);
    assert.ok(n <= 64);
    total += n;
    calls++;
  }
  assert.equal(total, cap);
  assert.equal(calls, Math.ceil(cap / 64));
});

test('memory: an IPv4 flow costs at most 64 bytes of typed arrays (total bytes / capacity)', () => {
  const ct = new Conntrack({ capacity4: 1 << 20, capacity6: 0 });
  const m = ct.memory();
  assert.ok(m.totalBytes / ct.capacity4 <= 64, `IPv4: ${m.totalBytes / ct.capacity4} bytes per flow`);
  assert.equal(m.perFlow4, 56); // 40-byte record + two int32 index slots at load ≤ 0.5
  // A capacity that is not a power of two pays for the index rounding and must still fit.
  const odd = new Conntrack({ capacity4: 1_000_000, capacity6: 0 }).memory();
  assert.ok(odd.totalBytes / 1_000_000 <= 64, `IPv4 (1e6): ${odd.totalBytes / 1_000_000}`);
  const six = new Conntrack({ capacity4: 0, capacity6: 1 << 16 }).memory();
  assert.equal(six.perFlow6, 104); // record + 48 bytes of addresses + index slots
});

test('config: invalid capacities and services are rejected', () => {
  assert.throws(() => new Conntrack({ capacity4: -1 }), RangeError);
  assert.throws(() => new Conntrack({ capacity4: 1.5 }), RangeError);
  const ct = new Conntrack({ capacity4: 4, capacity6: 0, maxServices: 2 });
  assert.throws(() => ct.insert4(PROTO_TCP, 1, 1, 2, 2, 0, 3, 3, 0, 2), RangeError);
  assert.throws(() => ct.setServiceTimeout(5, 1000), RangeError);
  assert.equal(ct.remove(0), false);
  assert.equal(ct.remove(99), false);
});
