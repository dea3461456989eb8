// Tunnel super-frames: a kernel vxlan peer behind a veth sends its TSO output as ONE UDP tunnel
// GSO packet, and a UDP_GRO socket hands it over whole: one VXLAN header, one inner super-packet,
// the inner MSS as the GRO segment size (PV_SEG). The pipeline recognises it (inner IP length
// + 22 covers the whole slot) and queues the inner packet to the task's TUN with GSO metadata
// instead of cutting the slot every PV_SEG bytes. A normal GRO run of equal datagrams is still
// split. Drops are counted by reason, and the frame once in C_UDP_RX_DATAGRAMS.
//
// Real bytes: the headers come from the kernel's own VXLAN traffic in
// ../shared/fixtures/kernel-vxlan.pcap (10.0.1.2 / fd00:1::2 behind VTEP 198.51.100.1 talking
// to 10.0.1.3 / fd00:1::3, which vxmesh hosts here behind a ChannelTun); the payload is grown to
// super-packet size and the IP length fields and IPv4 header checksum fixed.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  C_DROPS, C_TUN_TX_PACKETS, C_UDP_RX_BYTES, C_UDP_RX_DATAGRAMS, DataplaneCounters, DROP_BAD_OFFLOAD, DROP_COUNT,
  DROP_MALFORMED, DROP_NO_ROUTE, DROP_NOT_LOCAL, DROP_REASON_NAMES, DROP_UNKNOWN_VNI,
} from '../../../src/dataplane/counters.js';
import { ChannelBind, ChannelTun } from '../../../src/dataplane/io/testing/channel-tun.js';
import { GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, VF_NEEDS_CSUM, newPacketBatch } from '../../../src/dataplane/io/packet-vec.js';
import { ENCAP_PREFIX, Pipeline } from '../../../src/dataplane/pipeline.js';
import { OverlayTables } from '../../../src/dataplane/tables.js';
import { fillIPv4HeaderChecksum, partialChecksum4, partialChecksum6 } from '../../../src/dataplane/packet/index.js';
import { readPcap, fixturePath } from '../../util/pcap.js';

const VTEP_A = 0xc6336401; // 198.51.100.1
const VNI = 4097;
const mac = (last: number) => Uint8Array.of(2, 0x42, 10, 0, 1, last);
const v6 = (last: number) => Uint8Array.of(0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last);
const ETH = 8; // the inner Ethernet header, after the VXLAN header
const IP = ENCAP_PREFIX; // the inner IP packet, after VXLAN + Ethernet

interface Frame { outerSrc: number; vxlan: Buffer }

/** The UDP payloads (VXLAN header onward) of every captured frame, with the outer source. */
function capturedFrames(): Frame[] {
  return readPcap(fixturePath('kernel-vxlan.pcap')).map((p) => ({
    outerSrc: p.readUInt32BE(14 + 12),
    vxlan: Buffer.from(p.subarray(14 + 20 + 8)),
  }));
}

const etherType = (f: Buffer): number => f.readUInt16BE(ETH + 12);

/** The first captured frame from VTEP A whose inner packet matches. */
function fromA(what: string, pred: (ip: Buffer, type: number) => boolean): Buffer {
  const f = capturedFrames().find((x) => x.outerSrc === VTEP_A && pred(x.vxlan.subarray(IP), etherType(x.vxlan)));
  if (!f) throw new Error(`fixture: no frame from 198.51.100.1 with ${what}`);
  return f.vxlan;
}

const tcp4Data = (): Buffer => fromA('IPv4 TCP data', (ip, t) => t === 0x0800 && ip[9] === 6 && ip.readUInt16BE(2) > 20 + ((ip[32]! >> 4) * 4));
const tcp6Data = (): Buffer => fromA('IPv6 TCP data', (ip, t) => t === 0x86dd && ip[6] === 6 && ip.readUInt16BE(4) > (ip[52]! >> 4) * 4);
const udp4 = (): Buffer => fromA('IPv4 UDP', (ip, t) => t === 0x0800 && ip[9] === 17);
const icmp4 = (): Buffer => fromA('IPv4 ICMP echo', (ip, t) => t === 0x0800 && ip[9] === 1 && ip[20] === 8 && (ip.readUInt16BE(6) & 0x3fff) === 0 && ip.readUInt16BE(2) < 200);
const icmp6 = (): Buffer => fromA('ICMPv6 echo', (ip, t) => t === 0x86dd && ip[6] === 58 && ip[40] === 128);

/** Deterministic payload bytes. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/**
 * A copy of captured VXLAN frame `frame` whose inner packet carries `payload` after its own
 * TCP/UDP/ICMP header: IPv4 total length and header checksum, IPv6 payload length and the UDP
 * length fixed; the TCP/UDP checksum field set to the partial (pseudo-header) sum a sending
 * kernel leaves for TSO/USO.
 */
function grow(frame: Buffer, payload: Buffer, edit?: (ip: Buffer) => void): Buffer {
  const ip = frame.subarray(IP);
  const isV4 = ip[0]! >> 4 === 4;
  const iphl = isV4 ? (ip[0]! & 15) * 4 : 40;
  const proto = isV4 ? ip[9]! : ip[6]!;
  const l4hl = proto === 6 ? (ip[iphl + 12]! >> 4) * 4 : 8;
  const out = Buffer.concat([frame.subarray(0, IP + iphl + l4hl), payload]);
  const o = out.subarray(IP);
  if (isV4) o.writeUInt16BE(iphl + l4hl + payload.length, 2);
  else o.writeUInt16BE(l4hl + payload.length, 4);
  if (proto === 17) o.writeUInt16BE(8 + payload.length, iphl + 4);
  edit?.(o);
  if (isV4) fillIPv4HeaderChecksum(o, 0);
  if (proto === 6 || proto === 17) {
    const partial = isV4 ? partialChecksum4(o, 0) : partialChecksum6(o, 0);
    o.writeUInt16BE(partial, iphl + (proto === 6 ? 16 : 6));
  }
  return out;
}

function world(coalesce = true) {
  const tables = new OverlayTables();
  tables.addNetwork({ name: 'demo', vni: VNI, mtu: 1450, gateway4: 0x0a000101, gateway6: v6(1) });
  tables.addPeer({ network: 'demo', ipv4: 0x0a000102, ipv6: v6(2), mac: mac(2), vtep: VTEP_A, port: 4789 });
  const tun = new ChannelTun('t3');
  tables.addLocalEndpoint({ network: 'demo', ipv4: 0x0a000103, ipv6: v6(3), mac: mac(3), tun });
  const other = new ChannelTun('t4');
  tables.addLocalEndpoint({ network: 'demo', ipv4: 0x0a000104, ipv6: v6(4), mac: mac(4), tun: other });
  const udp = new ChannelBind();
  const counters = new DataplaneCounters();
  const pipeline = new Pipeline(tables, udp, counters, { coalesce, dataPort: 4789 });
  return { tables, tun, other, udp, counters, pipeline };
}

type World = ReturnType<typeof world>;

/** Receives the slots in ONE batch (each a datagram or a GRO run with segment size seg). */
function receive(w: World, slots: { bytes: Buffer; seg: number }[]): void {
  const batch = newPacketBatch(Math.max(1, slots.length));
  for (const s of slots) w.udp.push(s.bytes, VTEP_A, 4789, s.seg);
  const n = w.udp.recv(batch, 0, slots.length);
  assert.equal(n, slots.length);
  w.pipeline.fromUdp(batch, n);
}

/** Non-zero drop counters by name. */
function drops(w: World): Record<string, number> {
  const o: Record<string, number> = {};
  for (let i = 0; i < DROP_COUNT; i++) if (w.counters.drops[i]) o[DROP_REASON_NAMES[i]!] = w.counters.drops[i]!;
  return o;
}

const NO_META = { gsoType: GSO_NONE, gsoSize: 0, csumStart: 0, csumOff: 0, hdrLen: 0, vflags: 0 };

test('fixture frames used here are what we think they are', () => {
  const t4 = tcp4Data().subarray(IP);
  assert.equal(t4.readUInt32BE(12), 0x0a000102);
  assert.equal(t4.readUInt32BE(16), 0x0a000103);
  const t6 = tcp6Data().subarray(IP);
  assert.deepEqual(t6.subarray(24, 40), Buffer.from(v6(3)));
  assert.equal(udp4().subarray(IP).readUInt32BE(16), 0x0a000103);
  assert.equal(icmp4().subarray(IP).readUInt32BE(16), 0x0a000103);
  for (const f of [tcp4Data(), tcp6Data(), udp4(), icmp4(), icmp6()]) assert.equal((f[4]! << 16) | (f[5]! << 8) | f[6]!, VNI);
});

test('IPv4 TCP super-frame (20 KB inner, one VXLAN header) reaches the task TUN as ONE GSO write', () => {
  const w = world();
  const payload = pattern(20_000, 1);
  const frame = grow(tcp4Data(), payload);
  const inner = frame.subarray(IP);
  const thl = (inner[32]! >> 4) * 4;
  const mss = 1410 - (thl - 20); // the MSS the capture negotiated, less the timestamp option
  receive(w, [{ bytes: frame, seg: mss }]);

  assert.equal(w.tun.written.length, 1, 'one packet, not cut every PV_SEG bytes');
  const h = w.tun.written[0]!;
  assert.ok(h.bytes.equals(inner), 'the inner IP packet, byte for byte');
  assert.equal(h.bytes.length, 20 + thl + 20_000);
  assert.deepEqual(h.meta, { gsoType: GSO_TCPV4, gsoSize: mss, csumStart: 20, csumOff: 16, hdrLen: 0, vflags: VF_NEEDS_CSUM });
  assert.equal(h.inner, 0);
  assert.equal(h.coalesce, true);
  // the checksum field still holds the partial sum the sender left: NEEDS_CSUM finishes it
  assert.equal(h.bytes.readUInt16BE(20 + 16), partialChecksum4(h.bytes, 0));
  assert.equal(w.other.written.length, 0);
  assert.equal(w.udp.sent.length, 0, 'nothing relayed back to the underlay');
  const c = w.counters.counters;
  assert.equal(c[C_UDP_RX_DATAGRAMS], 1);
  assert.equal(c[C_UDP_RX_BYTES], frame.length);
  assert.equal(c[C_TUN_TX_PACKETS], 1);
  assert.equal(c[C_DROPS], 0, JSON.stringify(drops(w)));
});

test('IPv6 TCP super-frame reaches the task TUN as ONE GSO_TCPV6 write (csum_start 40)', () => {
  const w = world();
  const payload = pattern(20_000, 2);
  const frame = grow(tcp6Data(), payload);
  const inner = frame.subarray(IP);
  receive(w, [{ bytes: frame, seg: 1378 }]);
  assert.equal(w.tun.written.length, 1);
  const h = w.tun.written[0]!;
  assert.ok(h.bytes.equals(inner));
  assert.deepEqual(h.meta, { gsoType: GSO_TCPV6, gsoSize: 1378, csumStart: 40, csumOff: 16, hdrLen: 0, vflags: VF_NEEDS_CSUM });
  assert.equal(h.bytes.readUInt16BE(40 + 16), partialChecksum6(h.bytes, 0));
  assert.equal(w.counters.counters[C_UDP_RX_DATAGRAMS], 1);
  assert.equal(w.counters.counters[C_UDP_RX_BYTES], frame.length);
  assert.equal(w.counters.counters[C_DROPS], 0, JSON.stringify(drops(w)));
});

test('super-frames go to the right task: 10.0.1.4 / fd00:1::4 get them, 10.0.1.3 does not', () => {
  const w = world();
  const to4 = grow(tcp4Data(), pattern(20_000, 3), (ip) => ip.writeUInt32BE(0x0a000104, 16));
  const to6 = grow(tcp6Data(), pattern(30_000, 4), (ip) => Buffer.from(v6(4)).copy(ip, 24));
  receive(w, [{ bytes: to4, seg: 1398 }, { bytes: to6, seg: 1378 }]);
  assert.equal(w.tun.written.length, 0);
  assert.equal(w.other.written.length, 2);
  assert.ok(w.other.written[0]!.bytes.equals(to4.subarray(IP)));
  assert.equal(w.other.written[0]!.meta.gsoType, GSO_TCPV4);
  assert.equal(w.other.written[0]!.meta.gsoSize, 1398);
  assert.ok(w.other.written[1]!.bytes.equals(to6.subarray(IP)));
  assert.equal(w.other.written[1]!.meta.gsoType, GSO_TCPV6);
  assert.equal(w.other.written[1]!.meta.gsoSize, 1378);
  assert.equal(w.counters.counters[C_UDP_RX_DATAGRAMS], 2);
});

test('UDP super-frame: GSO_UDP_L4, csum_offset 6', () => {
  const w = world();
  const frame = grow(udp4(), pattern(20_000, 5));
  receive(w, [{ bytes: frame, seg: 1400 }]);
  assert.equal(w.tun.written.length, 1);
  const h = w.tun.written[0]!;
  assert.ok(h.bytes.equals(frame.subarray(IP)));
  assert.deepEqual(h.meta, { gsoType: GSO_UDP_L4, gsoSize: 1400, csumStart: 20, csumOff: 6, hdrLen: 0, vflags: VF_NEEDS_CSUM });
  assert.equal(w.counters.counters[C_UDP_RX_DATAGRAMS], 1);
});

test('a super-frame keeps its place among plain datagrams of the same batch, with coalescing off too', () => {
  const w = world(false);
  const small = tcp4Data();
  const big = grow(tcp4Data(), pattern(20_000, 6), (ip) => ip.writeUInt32BE(ip.readUInt32BE(24) + 13, 24));
  receive(w, [{ bytes: small, seg: 0 }, { bytes: big, seg: 1398 }, { bytes: small, seg: 0 }]);
  assert.equal(w.tun.written.length, 3);
  assert.ok(w.tun.written[0]!.bytes.equals(small.subarray(IP)));
  assert.deepEqual(w.tun.written[0]!.meta, NO_META);
  assert.ok(w.tun.written[1]!.bytes.equals(big.subarray(IP)));
  assert.equal(w.tun.written[1]!.meta.gsoType, GSO_TCPV4);
  assert.ok(w.tun.written[2]!.bytes.equals(small.subarray(IP)));
  assert.deepEqual(w.tun.written[2]!.meta, NO_META);
  assert.ok(w.tun.written.every((h) => h.coalesce === false));
  assert.equal(w.counters.counters[C_UDP_RX_DATAGRAMS], 3);
});

test('a normal GRO run of equal small datagrams with the same PV_SEG is still split into packets', () => {
  const w = world();
  // five in-sequence TCP segments of 100 bytes (equal datagrams), then a shorter last one
  const sizes = [100, 100, 100, 100, 100, 40];
  let seq = 0;
  const datagrams = sizes.map((n, i) =>
    grow(tcp4Data(), pattern(n, 10 + i), (ip) => {
      ip.writeUInt32BE((ip.readUInt32BE(24) + seq) >>> 0, 24);
      ip.writeUInt16BE(0x1000 + i, 4);
      seq += n;
    }),
  );
  const seg = datagrams[0]!.length;
  assert.ok(datagrams.slice(0, 5).every((d) => d.length === seg));
  const slot = Buffer.concat(datagrams);
  receive(w, [{ bytes: slot, seg }]);
  assert.equal(w.tun.written.length, sizes.length, 'one packet per datagram');
  w.tun.written.forEach((h, i) => {
    assert.ok(h.bytes.equals(datagrams[i]!.subarray(IP)), `datagram ${i}`);
    assert.deepEqual(h.meta, NO_META, 'plain packets: the addon coalesces them');
  });
  assert.equal(w.counters.counters[C_UDP_RX_DATAGRAMS], sizes.length);
  assert.equal(w.counters.counters[C_UDP_RX_BYTES], slot.length);
  assert.equal(w.counters.counters[C_DROPS], 0, JSON.stringify(drops(w)));

  // IPv6 too, and a run of exactly two
  const w6 = world();
  const d6 = [pattern(200, 20), pattern(200, 21)].map((p, i) => grow(tcp6Data(), p, (ip) => ip.writeUInt32BE((ip.readUInt32BE(44) + i * 200) >>> 0, 44)));
  receive(w6, [{ bytes: Buffer.concat(d6), seg: d6[0]!.length }]);
  assert.equal(w6.tun.written.length, 2);
  w6.tun.written.forEach((h, i) => {
    assert.ok(h.bytes.equals(d6[i]!.subarray(IP)));
    assert.deepEqual(h.meta, NO_META);
  });
  assert.equal(w6.counters.counters[C_UDP_RX_DATAGRAMS], 2);
});

test('a single datagram in a slot with PV_SEG = its own length is a plain packet, not a super-frame', () => {
  // inner length + 22 == slot, but the inner packet is not longer than PV_SEG
  const w = world();
  const f = tcp4Data();
  receive(w, [{ bytes: f, seg: f.length }]);
  assert.equal(w.tun.written.length, 1);
  assert.ok(w.tun.written[0]!.bytes.equals(f.subarray(IP)));
  assert.deepEqual(w.tun.written[0]!.meta, NO_META);
  assert.equal(w.counters.counters[C_UDP_RX_DATAGRAMS], 1);
});

test('super-frames that cannot be delivered are dropped by reason and counted once', () => {
  const cases: { name: string; frame: () => Buffer; seg: number; reason: number }[] = [
    {
      name: 'unknown VNI',
      frame: () => {
        const f = grow(tcp4Data(), pattern(20_000, 30));
        f[6] ^= 1;
        return f;
      },
      seg: 1398,
      reason: DROP_UNKNOWN_VNI,
    },
    { name: 'IPv4 to a remote task (not local: never relayed)', frame: () => grow(tcp4Data(), pattern(20_000, 31), (ip) => ip.writeUInt32BE(0x0a000102, 16)), seg: 1398, reason: DROP_NOT_LOCAL },
    { name: 'IPv6 to a remote task', frame: () => grow(tcp6Data(), pattern(20_000, 32), (ip) => Buffer.from(v6(2)).copy(ip, 24)), seg: 1378, reason: DROP_NOT_LOCAL },
    { name: 'IPv4 ICMP (neither TCP nor UDP)', frame: () => grow(icmp4(), pattern(20_000, 33)), seg: 1400, reason: DROP_BAD_OFFLOAD },
    { name: 'ICMPv6 (neither TCP nor UDP)', frame: () => grow(icmp6(), pattern(20_000, 34)), seg: 1400, reason: DROP_BAD_OFFLOAD },
    { name: 'IPv4 to an address nobody has', frame: () => grow(tcp4Data(), pattern(20_000, 35), (ip) => ip.writeUInt32BE(0x0a000163, 16)), seg: 1398, reason: DROP_NO_ROUTE },
    {
      name: 'IPv4 with a bad header checksum',
      frame: () => {
        const f = grow(tcp4Data(), pattern(20_000, 36));
        f[IP + 10] ^= 0xff;
        return f;
      },
      seg: 1398,
      reason: DROP_MALFORMED,
    },
  ];
  for (const c of cases) {
    const w = world();
    const f = c.frame();
    receive(w, [{ bytes: f, seg: c.seg }]);
    const ctr = w.counters.counters;
    assert.deepEqual(drops(w), { [DROP_REASON_NAMES[c.reason]!]: 1 }, `${c.name}: dropped once, by reason`);
    assert.equal(ctr[C_DROPS], 1, c.name);
    assert.equal(ctr[C_UDP_RX_DATAGRAMS], 1, `${c.name}: counted once, not once per ${c.seg} bytes`);
    assert.equal(ctr[C_UDP_RX_BYTES], f.length, c.name);
    assert.equal(w.tun.written.length + w.other.written.length, 0, `${c.name}: nothing written`);
    assert.equal(w.udp.sent.length, 0, `${c.name}: nothing sent`);
  }
});

test('drops and deliveries mixed in one batch: each frame counted once, the good ones delivered', () => {
  const w = world();
  const good = grow(tcp4Data(), pattern(20_000, 40));
  const remote = grow(tcp4Data(), pattern(20_000, 41), (ip) => ip.writeUInt32BE(0x0a000102, 16));
  const vni = grow(tcp6Data(), pattern(20_000, 42));
  vni[4] ^= 0x10;
  const icmp = grow(icmp4(), pattern(20_000, 43));
  const good6 = grow(tcp6Data(), pattern(20_000, 44), (ip) => Buffer.from(v6(4)).copy(ip, 24));
  receive(w, [
    { bytes: good, seg: 1398 }, { bytes: remote, seg: 1398 }, { bytes: vni, seg: 1378 }, { bytes: icmp, seg: 1400 }, { bytes: good6, seg: 1378 },
  ]);
  assert.equal(w.counters.counters[C_UDP_RX_DATAGRAMS], 5);
  assert.deepEqual(drops(w), { unknown_vni: 1, not_local: 1, bad_offload: 1 });
  assert.equal(w.tun.written.length, 1);
  assert.ok(w.tun.written[0]!.bytes.equals(good.subarray(IP)));
  assert.equal(w.other.written.length, 1);
  assert.ok(w.other.written[0]!.bytes.equals(good6.subarray(IP)));
  assert.equal(w.counters.counters[C_TUN_TX_PACKETS], 2);
});
