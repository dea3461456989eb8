// The VIP step in the pipeline, with in-memory devices: a client task and backend tasks on
// this node (and one remote), real packet bytes built with the codecs, checksums verified by
// a full recomputation after every rewrite.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataplaneCounters, DROP_NO_BACKEND } from '../../../../src/dataplane/counters.js';
import { ChannelBind, ChannelTun } from '../../../../src/dataplane/io/testing/channel-tun.js';
import { GSO_TCPV4, VF_NEEDS_CSUM, newPacketBatch } from '../../../../src/dataplane/io/packet-vec.js';
import { createScheduler } from '../../../../src/dataplane/lb/schedulers/index.js';
import { ServiceTables, type ServiceSpec } from '../../../../src/dataplane/lb/services.js';
import { VipPath } from '../../../../src/dataplane/lb/vip-path.js';
import {
  fillIPv4HeaderChecksum, fillL4Checksum4, fillL4Checksum6, partialChecksum4, verifyIPv4HeaderChecksum, verifyL4Checksum4,
  verifyL4Checksum6, writeIPv4Header, writeIPv6Header, writeTcpHeader,
} from '../../../../src/dataplane/packet/index.js';
import { Pipeline } from '../../../../src/dataplane/pipeline.js';
import { OverlayTables } from '../../../../src/dataplane/tables.js';

const mac = (n: number) => Uint8Array.of(2, 0x42, 10, 0, 1, n);
const v6 = (n: number) => Uint8Array.of(0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n);
const ip4 = (n: number) => 0x0a000100 + n;
const VIP = ip4(200);
const SYN = 0x02, ACK = 0x10;

function tcp4(src: number, sport: number, dst: number, dport: number, flags: number, payload = 0): Buffer {
  const p = Buffer.alloc(40 + payload);
  writeIPv4Header(p, 0, p.length, 1, 0x4000, 64, 6, src, dst);
  writeTcpHeader(p, 20, sport, dport, 1000, 0, flags, 65535);
  for (let i = 0; i < payload; i++) p[40 + i] = i & 0xff;
  fillIPv4HeaderChecksum(p, 0);
  fillL4Checksum4(p, 0);
  return p;
}

function tcp6(src: Uint8Array, sport: number, dst: Uint8Array, dport: number, flags: number): Buffer {
  const p = Buffer.alloc(60);
  writeIPv6Header(p, 0, 20, 6, 64, src, 0, dst, 0);
  writeTcpHeader(p, 40, sport, dport, 1000, 0, flags, 65535);
  fillL4Checksum6(p, 0);
  return p;
}

function world(spec: Partial<ServiceSpec> = {}, backends = 3) {
  const tables = new OverlayTables();
  tables.addNetwork({ name: 'demo', vni: 4097, mtu: 1450, gateway4: ip4(1), gateway6: v6(1) });
  const client = new ChannelTun('client');
  const ci = tables.addLocalEndpoint({ network: 'demo', ipv4: ip4(2), ipv6: v6(2), mac: mac(2), tun: client });
  const tuns: ChannelTun[] = [];
  for (let k = 0; k < backends; k++) {
    const t = new ChannelTun(`b${k}`);
    tuns.push(t);
    tables.addLocalEndpoint({ network: 'demo', ipv4: ip4(10 + k), ipv6: v6(10 + k), mac: mac(10 + k), tun: t });
  }
  tables.addPeer({ network: 'demo', ipv4: ip4(20), ipv6: v6(20), mac: mac(20), vtep: 0xc6336409, port: 4789 });
  let now = 1_000_000;
  const services = new ServiceTables((k) => createScheduler(k));
  const vip = new VipPath(services);
  const full: ServiceSpec = {
    name: 'web', network: 'demo', networkIndex: 0, vip4: VIP, vip6: v6(200), ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }],
    scheduler: 'rr', affinitySeconds: 0, idleSeconds: 7200, preferLocal: false, ...spec,
  };
  const bes = Array.from({ length: backends }, (_, k) => ({ name: `web.${k}`, weight: 1, state: 'active' as const, ipv4: ip4(10 + k), ipv6: v6(10 + k) }));
  services.addService(full, bes);
  vip.configure(services.service('web')!);
  const udp = new ChannelBind();
  const counters = new DataplaneCounters();
  const pipeline = new Pipeline(tables, udp, counters, { coalesce: true, dataPort: 4789, vip, now: () => now });
  const batch = newPacketBatch(4);
  const send = (tun: ChannelTun, index: number, pkt: Buffer, meta = {}) => {
    tun.push(pkt, meta);
    pipeline.fromTun(index, batch, tun.read(batch, 0, 4));
  };
  return {
    tables, client, ci, tuns, services, vip, counters, udp, send,
    tunIndex: (t: ChannelTun) => tables.tuns.indexOf(t),
    advance: (ms: number) => (now += ms),
  };
}

test('a connection to the VIP is DNATed to a backend and the reply comes back from the VIP, checksums intact', () => {
  const w = world();
  w.send(w.client, w.ci, tcp4(ip4(2), 40000, VIP, 80, SYN));
  const at = w.tuns.findIndex((t) => t.written.length === 1);
  assert.ok(at >= 0, 'no backend received the SYN');
  const syn = w.tuns[at]!.written[0]!.bytes;
  assert.equal(syn.readUInt32BE(12), ip4(2), 'the backend sees the real client address');
  assert.equal(syn.readUInt32BE(16), ip4(10 + at));
  assert.equal(syn.readUInt16BE(22), 8080);
  assert.ok(verifyIPv4HeaderChecksum(syn, 0) && verifyL4Checksum4(syn, 0), 'checksums after DNAT equal a full recompute');
  // The backend answers the client directly; the client's node rewrites the source to the VIP.
  w.send(w.tuns[at]!, w.tunIndex(w.tuns[at]!), tcp4(ip4(10 + at), 8080, ip4(2), 40000, SYN | ACK));
  const synack = w.client.written[0]!.bytes;
  assert.equal(synack.readUInt32BE(12), VIP);
  assert.equal(synack.readUInt16BE(20), 80);
  assert.ok(verifyIPv4HeaderChecksum(synack, 0) && verifyL4Checksum4(synack, 0));
  // Later packets of the flow stick to the same backend.
  w.send(w.client, w.ci, tcp4(ip4(2), 40000, VIP, 80, ACK, 100));
  assert.equal(w.tuns[at]!.written.length, 2);
});

test('rr spreads 300 connections equally; wrr in proportion to weights', () => {
  const w = world();
  for (let i = 0; i < 300; i++) w.send(w.client, w.ci, tcp4(ip4(2), 20000 + i, VIP, 80, SYN));
  assert.deepEqual(w.tuns.map((t) => t.written.length), [100, 100, 100]);
  const w2 = world({ scheduler: 'wrr' });
  w2.services.setBackends('web', [
    { name: 'web.0', weight: 1, state: 'active', ipv4: ip4(10), ipv6: v6(10) },
    { name: 'web.1', weight: 2, state: 'active', ipv4: ip4(11), ipv6: v6(11) },
    { name: 'web.2', weight: 3, state: 'active', ipv4: ip4(12), ipv6: v6(12) },
  ]);
  for (let i = 0; i < 300; i++) w2.send(w2.client, w2.ci, tcp4(ip4(2), 20000 + i, VIP, 80, SYN));
  assert.deepEqual(w2.tuns.map((t) => t.written.length), [50, 100, 150]);
});

test('sh and maglev send every connection of a client to one backend', () => {
  for (const scheduler of ['sh', 'maglev'] as const) {
    const w = world({ scheduler });
    for (let i = 0; i < 50; i++) w.send(w.client, w.ci, tcp4(ip4(2), 20000 + i, VIP, 80, SYN));
    const used = w.tuns.filter((t) => t.written.length > 0);
    assert.equal(used.length, 1, `${scheduler} used ${used.length} backends for one client`);
    assert.equal(used[0]!.written.length, 50);
  }
});

test('ClientIP affinity keeps a client on its backend with rr, until the affinity expires', () => {
  const w = world({ affinitySeconds: 60 });
  for (let i = 0; i < 30; i++) w.send(w.client, w.ci, tcp4(ip4(2), 20000 + i, VIP, 80, SYN));
  assert.equal(w.tuns.filter((t) => t.written.length > 0).length, 1);
  const before = w.tuns.map((t) => t.written.length);
  w.advance(61_000); // past the affinity timeout: the next connections are scheduled afresh
  for (let i = 0; i < 30; i++) w.send(w.client, w.ci, tcp4(ip4(2), 30000 + i, VIP, 80, SYN));
  const after = w.tuns.map((t, k) => t.written.length - before[k]!);
  // The first new connection re-pins the client (rr moves on to the next backend), then all 30 follow.
  assert.equal(after.filter((n) => n > 0).length, 1);
  assert.notEqual(after.findIndex((n) => n > 0), before.findIndex((n) => n > 0), 'the expired pin was not rescheduled');
  assert.ok(w.vip.affinity.counters[2]! >= 29, 'affinity hits were counted');
});

test('draining takes no new flows but keeps existing ones; down takes nothing at all', () => {
  const w = world();
  for (let i = 0; i < 3; i++) w.send(w.client, w.ci, tcp4(ip4(2), 40000 + i, VIP, 80, SYN)); // one flow per backend
  w.services.setBackendState('web', 'web.0', 'draining');
  w.send(w.client, w.ci, tcp4(ip4(2), 40000, VIP, 80, ACK, 10)); // existing flow to web.0
  assert.equal(w.tuns[0]!.written.length, 2, 'a draining backend keeps its flow');
  for (let i = 0; i < 20; i++) w.send(w.client, w.ci, tcp4(ip4(2), 41000 + i, VIP, 80, SYN));
  assert.equal(w.tuns[0]!.written.length, 2, 'a draining backend takes no new flow');
  w.services.setBackendState('web', 'web.1', 'down');
  const before = w.tuns[1]!.written.length;
  w.send(w.client, w.ci, tcp4(ip4(2), 40001, VIP, 80, ACK, 10)); // its old flow is cleared: rescheduled elsewhere
  for (let i = 0; i < 20; i++) w.send(w.client, w.ci, tcp4(ip4(2), 42000 + i, VIP, 80, SYN));
  assert.equal(w.tuns[1]!.written.length, before, 'a down backend gets nothing');
  w.services.setBackendState('web', 'web.2', 'down');
  w.send(w.client, w.ci, tcp4(ip4(2), 43000, VIP, 80, SYN));
  assert.equal(w.counters.drops[DROP_NO_BACKEND], 1);
});

test('IPv6 VIP: DNAT and the reply back, checksums intact', () => {
  const w = world();
  w.send(w.client, w.ci, tcp6(v6(2), 40000, v6(200), 80, SYN));
  const at = w.tuns.findIndex((t) => t.written.length === 1);
  const syn = w.tuns[at]!.written[0]!.bytes;
  assert.deepEqual([...syn.subarray(24, 40)], [...v6(10 + at)]);
  assert.equal(syn.readUInt16BE(42), 8080);
  assert.ok(verifyL4Checksum6(syn, 0));
  w.send(w.tuns[at]!, w.tunIndex(w.tuns[at]!), tcp6(v6(10 + at), 8080, v6(2), 40000, SYN | ACK));
  const back = w.client.written[0]!.bytes;
  assert.deepEqual([...back.subarray(8, 24)], [...v6(200)]);
  assert.equal(back.readUInt16BE(40), 80);
  assert.ok(verifyL4Checksum6(back, 0));
});

test('a TSO super-packet to the VIP is NATed once and its partial checksum stays partial', () => {
  const w = world();
  w.send(w.client, w.ci, tcp4(ip4(2), 40000, VIP, 80, SYN));
  const at = w.tuns.findIndex((t) => t.written.length === 1);
  const big = tcp4(ip4(2), 40000, VIP, 80, ACK, 4000);
  big.writeUInt16BE(partialChecksum4(big, 0), 36); // what a TUN hands over with NEEDS_CSUM
  w.send(w.client, w.ci, big, { gsoType: GSO_TCPV4, gsoSize: 1400, csumStart: 20, csumOff: 16, vflags: VF_NEEDS_CSUM });
  const out = w.tuns[at]!.written[1]!.bytes;
  assert.equal(out.readUInt32BE(16), ip4(10 + at));
  assert.equal(out.readUInt16BE(36), partialChecksum4(out, 0), 'the field is the partial sum for the new addresses');
});

test('a remote backend gets the DNATed packet over VXLAN with the client address kept', () => {
  const w = world({}, 0);
  w.services.setBackends('web', [{ name: 'far', weight: 1, state: 'active', ipv4: ip4(20), ipv6: v6(20) }]);
  w.send(w.client, w.ci, tcp4(ip4(2), 40000, VIP, 80, SYN));
  assert.equal(w.udp.sent.length, 1);
  const inner = w.udp.sent[0]!.bytes.subarray(22);
  assert.equal(inner.readUInt32BE(12), ip4(2));
  assert.equal(inner.readUInt32BE(16), ip4(20));
  assert.ok(verifyL4Checksum4(inner, 0));
});

test('preferLocal: new flows go to backends on this node while one is eligible, else anywhere', () => {
  const w = world({ preferLocal: true }, 1); // one local backend (10.0.1.10) ...
  w.services.setBackends('web', [
    { name: 'local', weight: 1, state: 'active', ipv4: ip4(10), ipv6: v6(10) },
    { name: 'far', weight: 1, state: 'active', ipv4: ip4(20), ipv6: v6(20) }, // ... and a remote one
  ]);
  w.vip.isLocal = (net, a) => {
    const rid = a === undefined ? -1 : w.tables.networks[net]!.v4.get4(a);
    return rid >= 0 && w.tables.routeKind[rid] === 1;
  };
  for (let i = 0; i < 20; i++) w.send(w.client, w.ci, tcp4(ip4(2), 20000 + i, VIP, 80, SYN));
  assert.equal(w.tuns[0]!.written.length, 20);
  assert.equal(w.udp.sent.length, 0);
  w.services.setBackendState('web', 'local', 'down');
  for (let i = 0; i < 5; i++) w.send(w.client, w.ci, tcp4(ip4(2), 30000 + i, VIP, 80, SYN));
  assert.equal(w.udp.sent.length, 5, 'with no local backend left, the remote one takes the flows');
});

test('backend ids are stable across list changes: taking a shifted backend down clears only its flows', () => {
  const w = world();
  for (let i = 0; i < 3; i++) w.send(w.client, w.ci, tcp4(ip4(2), 40000 + i, VIP, 80, SYN)); // one flow per backend
  // Remove web.0 from the list: web.1 and web.2 move to indices 0 and 1.
  w.services.setBackends('web', [
    { name: 'web.1', weight: 1, state: 'active', ipv4: ip4(11), ipv6: v6(11) },
    { name: 'web.2', weight: 1, state: 'active', ipv4: ip4(12), ipv6: v6(12) },
  ]);
  w.services.setBackendState('web', 'web.2', 'down');
  const before = w.tuns.map((t) => t.written.length);
  w.send(w.client, w.ci, tcp4(ip4(2), 40001, VIP, 80, ACK, 10)); // web.1's flow: kept, still to web.1
  assert.equal(w.tuns[1]!.written.length, before[1]! + 1, "web.1's flow was cleared or moved");
  w.send(w.client, w.ci, tcp4(ip4(2), 40002, VIP, 80, ACK, 10)); // web.2's flow: cleared, rescheduled to web.1
  assert.equal(w.tuns[2]!.written.length, before[2]!, 'a down backend still got its old flow');
  assert.equal(w.tuns[1]!.written.length, before[1]! + 2);
});

test('lc: flows that expire without closing (idle, half-open) give their connection counts back', () => {
  const w = world({ scheduler: 'lc' }, 2);
  for (let i = 0; i < 10; i++) w.send(w.client, w.ci, tcp4(ip4(2), 41000 + i, VIP, 80, SYN));
  const lc = w.services.service('web')!.scheduler as unknown as { conns: Int32Array | number[] };
  assert.deepEqual([...lc.conns], [5, 5]);
  // Nobody answers: the SYN_SENT flows time out (120 s) and the sweep reclaims them.
  w.advance(121_000);
  w.vip.expire(1_000_000 + 121_000, 1 << 20);
  assert.equal(w.vip.conntrack.size4, 0);
  assert.deepEqual([...lc.conns], [0, 0], 'expired flows still counted as open connections');
  // A flow that closed normally is not released twice.
  w.send(w.client, w.ci, tcp4(ip4(2), 42000, VIP, 80, SYN));
  const at = w.tuns.findIndex((t) => t.written.length > 0 && t.written.at(-1)!.bytes.readUInt16BE(20) === 42000);
  w.send(w.tuns[at]!, w.tunIndex(w.tuns[at]!), tcp4(ip4(10 + at), 8080, ip4(2), 42000, 0x04)); // RST
  assert.deepEqual([...lc.conns], [0, 0]);
  w.advance(11_000);
  w.vip.expire(1_000_000 + 132_000, 1 << 20);
  assert.deepEqual([...lc.conns], [0, 0]);
});
