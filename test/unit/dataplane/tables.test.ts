import assert from 'node:assert/strict';
import { test } from 'node:test';
import { C_TUN_RX_PACKETS, DROP_NO_ROUTE } from '../../../src/dataplane/counters.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { ChannelBind, ChannelTun } from '../../../src/dataplane/io/testing/channel-tun.js';
import { newPacketBatch } from '../../../src/dataplane/io/packet-vec.js';
import { ROUTE_FREE } from '../../../src/dataplane/tables.js';
import { fillIPv4HeaderChecksum, writeIPv4Header } from '../../../src/dataplane/packet/index.js';

const mac = (n: number) => Uint8Array.of(2, 0x42, 10, 0, 1, n);

function icmpFrom(src: number, dst: number): Buffer {
  const p = Buffer.alloc(28);
  writeIPv4Header(p, 0, 28, 1, 0x4000, 64, 1, src, dst);
  fillIPv4HeaderChecksum(p, 0);
  return p;
}

function setup() {
  const udp = new ChannelBind();
  const dp = new Dataplane(udp, { coalesce: true, dataPort: 4789 });
  dp.tables.addNetwork({ name: 'demo', vni: 4097, mtu: 1450, gateway4: 0x0a000101 });
  dp.tables.addPeer({ network: 'demo', ipv4: 0x0a000109, mac: mac(9), vtep: 0xc6336409, port: 4789 });
  return { udp, dp };
}

test('a removed endpoint is not read again, and its index can be reused safely', () => {
  const { udp, dp } = setup();
  const old = new ChannelTun('old');
  const i = dp.tables.addLocalEndpoint({ network: 'demo', ipv4: 0x0a000103, mac: mac(3), tun: old });
  dp.start();
  old.push(icmpFrom(0x0a000103, 0x0a000109));
  assert.equal(udp.sent.length, 1);

  // A batch read before the removal, processed after it: dropped, not forwarded.
  const batch = newPacketBatch(4);
  old.inbox.push({ bytes: icmpFrom(0x0a000103, 0x0a000109), meta: {} });
  const n = old.read(batch, 0, 4);
  assert.equal(dp.tables.removeLocalEndpoint('demo', 0x0a000103), old);
  dp.pipeline.fromTun(i, batch, n);
  assert.equal(dp.counters.drops[DROP_NO_ROUTE], 1);
  assert.equal(dp.counters.counters[C_TUN_RX_PACKETS], 2);

  // The index is reused by a new endpoint; the old TUN's late readiness reads nothing.
  const fresh = new ChannelTun('new');
  const j = dp.tables.addLocalEndpoint({ network: 'demo', ipv4: 0x0a000105, mac: mac(5), tun: fresh });
  dp.attach(j);
  assert.equal(j, i);
  dp.routineReadFromTun(old, i);
  old.inbox.push({ bytes: icmpFrom(0x0a000103, 0x0a000109), meta: {} });
  dp.routineReadFromTun(old, i);
  assert.equal(old.inbox.length, 1, 'the removed TUN was read');
  fresh.push(icmpFrom(0x0a000105, 0x0a000109));
  assert.equal(udp.sent.length, 2);
  assert.deepEqual([...udp.sent[1]!.bytes.subarray(14, 20)], [...mac(5)]); // inner source MAC is the new endpoint's
});

test('removeNetwork frees every route, even when deletes shift the hash table', () => {
  const { dp } = setup();
  const t = dp.tables;
  for (let k = 10; k < 210; k++) {
    const v6 = new Uint8Array(16);
    v6[0] = 0xfd;
    v6[15] = k;
    t.addPeer({ network: 'demo', ipv4: 0x0a000100 + k, ipv6: v6, mac: mac(k), vtep: 0xc6336409, port: 4789 });
  }
  t.removeNetwork('demo');
  assert.equal(t.routeKind.filter((k) => k !== ROUTE_FREE).length, 0);
  t.addNetwork({ name: 'demo', vni: 4097, mtu: 1450, gateway4: 0x0a000101 });
  for (let k = 10; k < 210; k++) t.addPeer({ network: 'demo', ipv4: 0x0a000100 + k, mac: mac(k), vtep: 0xc6336409, port: 4789 });
  assert.equal(t.networkByName('demo')!.v4.size, 200);
});

test('a device that can no longer be polled is counted and reported, and the rest keep working', () => {
  const { udp, dp } = setup();
  const a = new ChannelTun('vxt-a');
  const b = new ChannelTun('vxt-b');
  dp.tables.addLocalEndpoint({ network: 'demo', ipv4: 0x0a000103, mac: mac(3), tun: a });
  dp.tables.addLocalEndpoint({ network: 'demo', ipv4: 0x0a000104, mac: mac(4), tun: b });
  const reported: string[] = [];
  dp.onDeviceError = (device, code) => reported.push(`${device} ${code}`);
  dp.start();
  a.fail('EBADF');
  assert.deepEqual(reported, ['vxt-a EBADF']);
  assert.equal(dp.counters.snapshot().counters['device_errors'], 1);
  b.push(icmpFrom(0x0a000104, 0x0a000109));
  assert.equal(udp.sent.length, 1);
});
