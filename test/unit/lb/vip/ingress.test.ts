// Ingress in the pipeline, two nodes with in-memory devices wired back to back: an outside
// client enters node A through A's host endpoint, the VIP sends it to a backend on node B, and
// B's reply must go back through A (return paths), with the client's address never rewritten.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataplaneCounters, DROP_NO_ROUTE, DROP_SPOOFED_SOURCE } from '../../../../src/dataplane/counters.js';
import { ChannelBind, ChannelTun } from '../../../../src/dataplane/io/testing/channel-tun.js';
import { newPacketBatch } from '../../../../src/dataplane/io/packet-vec.js';
import { createScheduler } from '../../../../src/dataplane/lb/schedulers/index.js';
import { ServiceTables } from '../../../../src/dataplane/lb/services.js';
import { ReturnPaths, RP_LEARNED, RP_REPLIES } from '../../../../src/dataplane/lb/return-paths.js';
import { VipPath } from '../../../../src/dataplane/lb/vip-path.js';
import {
  fillIPv4HeaderChecksum, fillL4Checksum4, verifyIPv4HeaderChecksum, verifyL4Checksum4, writeIPv4Header, writeTcpHeader,
} from '../../../../src/dataplane/packet/index.js';
import { Pipeline } from '../../../../src/dataplane/pipeline.js';
import { OverlayTables } from '../../../../src/dataplane/tables.js';

const ip4 = (n: number) => 0x0a000100 + n;
const mac = (n: number) => Uint8Array.of(2, 0x42, 10, 0, 1, n);
const VIP = ip4(200);
const OUTSIDE = 0xc6336463; // 198.51.100.99
const VTEP_A = 0xc633640b, VTEP_B = 0xc633640c;
const SYN = 0x02, ACK = 0x10, FIN = 0x01;

function tcp4(src: number, sport: number, dst: number, dport: number, flags: number): Buffer {
  const p = Buffer.alloc(40);
  writeIPv4Header(p, 0, 40, 1, 0x4000, 64, 6, src, dst);
  writeTcpHeader(p, 20, sport, dport, 1000, 0, flags, 65535);
  fillIPv4HeaderChecksum(p, 0);
  fillL4Checksum4(p, 0);
  return p;
}

/** One node: network demo (ingress), a host endpoint 10.0.1.(90+k), optional local tasks, the other node's pieces as peers. */
function node(k: 0 | 1, opts: { ingress?: boolean; tasks?: number[]; vipBackends?: number[] } = {}) {
  const tables = new OverlayTables();
  tables.addNetwork({ name: 'demo', vni: 4097, mtu: 1450, gateway4: ip4(1), ingress: opts.ingress ?? true });
  const host = new ChannelTun(`in${k}`);
  const hi = tables.addLocalEndpoint({ network: 'demo', ipv4: ip4(90 + k), mac: mac(90 + k), tun: host, host: true });
  const tasks = new Map<number, { tun: ChannelTun; index: number }>();
  for (const n of opts.tasks ?? []) {
    const tun = new ChannelTun(`t${n}`);
    tasks.set(n, { tun, index: tables.addLocalEndpoint({ network: 'demo', ipv4: ip4(n), mac: mac(n), tun }) });
  }
  const other = 1 - k;
  tables.addPeer({ network: 'demo', ipv4: ip4(90 + other), mac: mac(90 + other), vtep: other ? VTEP_B : VTEP_A, port: 4789, host: true });
  const services = new ServiceTables((s) => createScheduler(s));
  const vip = new VipPath(services);
  if (opts.vipBackends) {
    for (const n of opts.vipBackends) if (!tasks.has(n)) tables.addPeer({ network: 'demo', ipv4: ip4(n), mac: mac(n), vtep: other ? VTEP_B : VTEP_A, port: 4789 });
    services.addService(
      { name: 'web', network: 'demo', networkIndex: 0, vip4: VIP, ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }], scheduler: 'rr', affinitySeconds: 0, idleSeconds: 7200, preferLocal: false },
      opts.vipBackends.map((n) => ({ name: `web.${n}`, weight: 1, state: 'active' as const, ipv4: ip4(n) })),
    );
    vip.configure(services.service('web')!);
  }
  const udp = new ChannelBind();
  const counters = new DataplaneCounters();
  const rp = new ReturnPaths({ capacity4: 1024, capacity6: 16 });
  const pipeline = new Pipeline(tables, udp, counters, { coalesce: false, dataPort: 4789, vip, returnPaths: rp, now: () => 1_000_000 });
  const batch = newPacketBatch(4);
  return {
    tables, host, hi, tasks, udp, counters, rp, pipeline,
    fromTun(tun: ChannelTun, index: number, pkt: Buffer) {
      tun.push(pkt);
      pipeline.fromTun(index, batch, tun.read(batch, 0, 4));
    },
    /** Delivers everything this node sent over UDP to `to`, as from this node's VTEP. */
    flushTo(to: { udp: ChannelBind; pipeline: Pipeline }, from: number) {
      const sent = udp.sent.splice(0);
      for (const s of sent) to.udp.push(s.bytes, from);
      const b = newPacketBatch(8);
      to.pipeline.fromUdp(b, to.udp.recv(b, 0, 8));
      return sent;
    },
  };
}

test('ingress: an outside client through A reaches a backend on B with its own address, and B replies back through A', () => {
  const a = node(0, { vipBackends: [12] });
  const b = node(1, { tasks: [12] });
  // The client's SYN, DNATed to the VIP by A's kernel, enters through A's host endpoint.
  a.fromTun(a.host, a.hi, tcp4(OUTSIDE, 40000, VIP, 80, SYN));
  const sent = a.flushTo(b, VTEP_A);
  assert.equal(sent.length, 1, 'A tunnels the DNATed SYN to B');
  const web = b.tasks.get(12)!.tun;
  assert.equal(web.written.length, 1);
  const syn = web.written[0]!.bytes;
  assert.equal(syn.readUInt32BE(12), OUTSIDE, 'the backend sees the outside client address');
  assert.equal(syn.readUInt32BE(16), ip4(12));
  assert.equal(syn.readUInt16BE(22), 8080);
  assert.equal(b.rp.counters[RP_LEARNED], 1, 'B learned the way back to A');

  // The backend answers the outside client: B has no route to it but the learned one.
  b.fromTun(web, b.tasks.get(12)!.index, tcp4(ip4(12), 8080, OUTSIDE, 40000, SYN | ACK));
  assert.equal(b.host.written.length, 0, "the reply does not leave through B's own host endpoint");
  assert.equal(b.rp.counters[RP_REPLIES], 1);
  const back = b.flushTo(a, VTEP_B);
  assert.equal(back.length, 1);
  assert.equal(back[0]!.addr, VTEP_A, 'the reply is tunnelled to the node the client came through');
  assert.equal(a.host.written.length, 1, "A hands the reply to its host endpoint (the kernel un-DNATs it)");
  const synack = a.host.written[0]!.bytes;
  assert.equal(synack.readUInt32BE(12), VIP, 'source rewritten back to the VIP on A');
  assert.equal(synack.readUInt16BE(20), 80);
  assert.equal(synack.readUInt32BE(16), OUTSIDE);
  assert.ok(verifyIPv4HeaderChecksum(synack, 0) && verifyL4Checksum4(synack, 0));
});

test('only a host endpoint may carry outside sources; a task sending as someone else is still dropped', () => {
  const a = node(0, { tasks: [2] });
  const t = a.tasks.get(2)!;
  a.fromTun(t.tun, t.index, tcp4(OUTSIDE, 1, ip4(91), 80, SYN));
  assert.equal(a.counters.drops[DROP_SPOOFED_SOURCE], 1);
});

test('outside destinations: without a host endpoint on the network they are dropped as no route', () => {
  const tables = new OverlayTables();
  tables.addNetwork({ name: 'demo', vni: 4097, mtu: 1450, gateway4: ip4(1) });
  const tun = new ChannelTun('t2');
  const ti = tables.addLocalEndpoint({ network: 'demo', ipv4: ip4(2), mac: mac(2), tun });
  const counters = new DataplaneCounters();
  const pipeline = new Pipeline(tables, new ChannelBind(), counters, { coalesce: false, dataPort: 4789 });
  const batch = newPacketBatch(2);
  tun.push(tcp4(ip4(2), 1000, OUTSIDE, 80, SYN));
  pipeline.fromTun(ti, batch, tun.read(batch, 0, 2));
  assert.equal(counters.drops[DROP_NO_ROUTE], 1);
});

test('host mode on B after an ingress flow through A with the same tuple: the reply stays on B', () => {
  const a = node(0, { vipBackends: [12] });
  const b = node(1, { tasks: [12] });
  a.fromTun(a.host, a.hi, tcp4(OUTSIDE, 40000, VIP, 80, SYN));
  a.flushTo(b, VTEP_A);
  // That flow ends; the client reuses port 40000 for B's host-mode port, DNATed straight to the task.
  b.fromTun(b.host, b.hi, tcp4(OUTSIDE, 40000, ip4(12), 8080, SYN));
  const web = b.tasks.get(12)!;
  assert.equal(web.tun.written.length, 2);
  b.fromTun(web.tun, web.index, tcp4(ip4(12), 8080, OUTSIDE, 40000, SYN | ACK));
  assert.equal(b.udp.sent.length, 0, 'nothing tunnelled to A');
  assert.equal(b.host.written.length, 1, "the reply leaves through B's host endpoint");
  assert.equal(b.host.written[0]!.bytes.readUInt32BE(12), ip4(12));
});

test('a client reusing a closed VIP flow\'s port to reach the task directly gets replies from the task, not the VIP', () => {
  const a = node(0, { tasks: [12], vipBackends: [12] });
  const web = a.tasks.get(12)!;
  a.fromTun(a.host, a.hi, tcp4(OUTSIDE, 40000, VIP, 80, SYN));
  a.fromTun(web.tun, web.index, tcp4(ip4(12), 8080, OUTSIDE, 40000, SYN | ACK));
  a.fromTun(a.host, a.hi, tcp4(OUTSIDE, 40000, VIP, 80, FIN | ACK));
  a.fromTun(web.tun, web.index, tcp4(ip4(12), 8080, OUTSIDE, 40000, FIN | ACK));
  assert.equal(a.host.written.at(-1)!.bytes.readUInt32BE(12), VIP);
  // Same client port, now straight to the task (host mode).
  a.fromTun(a.host, a.hi, tcp4(OUTSIDE, 40000, ip4(12), 8080, SYN));
  a.fromTun(web.tun, web.index, tcp4(ip4(12), 8080, OUTSIDE, 40000, SYN | ACK));
  const reply = a.host.written.at(-1)!.bytes;
  assert.equal(reply.readUInt32BE(12), ip4(12), 'the reply keeps the task as source');
  assert.equal(reply.readUInt16BE(20), 8080);
});

test('tables: one host endpoint per network per node, and one per remote VTEP', () => {
  const tables = new OverlayTables();
  tables.addNetwork({ name: 'demo', vni: 4097, mtu: 1450, gateway4: ip4(1), ingress: true });
  tables.addLocalEndpoint({ network: 'demo', ipv4: ip4(90), mac: mac(90), tun: new ChannelTun('a'), host: true });
  assert.throws(() => tables.addLocalEndpoint({ network: 'demo', ipv4: ip4(95), mac: mac(95), tun: new ChannelTun('b'), host: true }), { code: 'VXM_ERR_DUPLICATE' });
  tables.addPeer({ network: 'demo', ipv4: ip4(91), mac: mac(91), vtep: VTEP_B, port: 4789, host: true });
  assert.throws(() => tables.addPeer({ network: 'demo', ipv4: ip4(92), mac: mac(92), vtep: VTEP_B, port: 4789, host: true }), { code: 'VXM_ERR_DUPLICATE' });
  const net = tables.networkByName('demo')!;
  assert.ok(net.hostRoute >= 0);
  assert.ok(net.hostByVtep.get4(VTEP_B) >= 0);
  tables.removePeer('demo', ip4(91));
  assert.equal(net.hostByVtep.get4(VTEP_B), -1);
  tables.removeLocalEndpoint('demo', ip4(90));
  assert.equal(net.hostRoute, -1);
});
