// udpOpen / udpRecv / udpSend on the host loopback (127.0.0.1, ephemeral ports): plain sendmmsg
// batches, GRO on receive, partial checksum completion, and error objects.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';

import { native, PV, getEntry, setEntry, stats, statsDelta, waitReadable } from './harness.js';
import { patternBytes, refChecksum, refFold as foldSum, refPseudo, refSum, udpPacket } from './helpers.js';
import { NS_UDP_SENDS } from '../../../src/dataplane/io/native-api.js';

const LOOPBACK = 0x7f000001;

/** Receives into a fresh batch until `want` datagrams (GRO slots expanded) or the deadline. */
async function receiveDatagrams(fd: number, want: number, timeoutMs = 3000): Promise<{ datagrams: Buffer[]; slots: ReturnType<typeof getEntry>[] }> {
  const batch = PV.newPacketBatch(PV.BATCH);
  const datagrams: Buffer[] = [];
  const slots: ReturnType<typeof getEntry>[] = [];
  const deadline = Date.now() + timeoutMs;
  while (datagrams.length < want && Date.now() < deadline) {
    const n = native.udpRecv(fd, batch.buf, PV.SLOT_SIZE, PV.HEADROOM, batch.vec, 0, batch.slots);
    if (n === 0) {
      await waitReadable(fd, Math.max(1, deadline - Date.now()));
      continue;
    }
    for (let i = 0; i < n; i++) {
      const e = getEntry(batch.vec, i);
      slots.push(e);
      const data = batch.buf.subarray(e.off, e.off + e.len);
      if (e.seg > 0) {
        for (let o = 0; o < e.len; o += e.seg) datagrams.push(Buffer.from(data.subarray(o, Math.min(e.len, o + e.seg))));
      } else {
        datagrams.push(Buffer.from(data));
      }
    }
  }
  return { datagrams, slots };
}

test('udpOpen: binds, reports port, GRO/GSO and buffer sizes', () => {
  const u = native.udpOpen('127.0.0.1', 0, 1 << 20, 1 << 20);
  try {
    assert.ok(u.fd > 2);
    assert.ok(u.port > 0 && u.port < 65536);
    assert.equal(typeof u.gro, 'boolean');
    assert.equal(typeof u.gso, 'boolean');
    // SO_*BUFFORCE as root: the kernel doubles the value it stores
    assert.ok(u.rcvbuf >= 1 << 20, `rcvbuf ${u.rcvbuf}`);
    assert.ok(u.sndbuf >= 1 << 20, `sndbuf ${u.sndbuf}`);
  } finally {
    native.close(u.fd);
  }
});

test('udpSend/udpRecv: a plain batch goes out in one sendmmsg and comes back with addresses and ports', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 1 << 20, 1 << 20);
  const b = native.udpOpen('127.0.0.1', 0, 1 << 20, 1 << 20);
  try {
    const count = 100;
    const slotSize = 2048;
    const batch = PV.newPacketBatch(count, slotSize);
    const sent: Buffer[] = [];
    const idx = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const len = 1 + ((i * 37) % 1400);
      const p = patternBytes(len, i + 1);
      const off = i * slotSize + PV.HEADROOM;
      p.copy(batch.buf, off);
      setEntry(batch.vec, i, { off, len, addr: LOOPBACK, port: b.port });
      idx[i] = count - 1 - i; // idx order is the send order
      sent[count - 1 - i] = p;
    }
    const before = Float64Array.from(stats);
    assert.equal(native.udpSend(a.fd, batch.buf, batch.vec, idx, count), count);
    const d = statsDelta(before);
    assert.equal(d['udp_sends'], 1, `one sendmmsg for ${count} plain packets: ${JSON.stringify(d)}`);
    assert.equal(d['udp_send_drops'], undefined);

    const { datagrams, slots } = await receiveDatagrams(b.fd, count);
    assert.equal(datagrams.length, count);
    for (let i = 0; i < count; i++) assert.deepEqual(datagrams[i], sent[i], `datagram ${i}`);
    for (const s of slots) {
      assert.equal(s.addr, LOOPBACK);
      assert.equal(s.port, a.port);
      assert.equal(s.off % PV.SLOT_SIZE, PV.HEADROOM);
      assert.equal(s.gsoType, 0);
      assert.equal(s.vflags, 0);
    }
  } finally {
    native.close(a.fd);
    native.close(b.fd);
  }
});

test('udpSend: more than 128 plain packets go out in several sendmmsg calls', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  const b = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  try {
    const count = 300;
    const slotSize = 256;
    const batch = PV.newPacketBatch(count, slotSize);
    const idx = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const off = i * slotSize + PV.HEADROOM;
      batch.buf.writeUInt32BE(i, off);
      setEntry(batch.vec, i, { off, len: 100, addr: LOOPBACK, port: b.port });
      idx[i] = i;
    }
    const before = stats[NS_UDP_SENDS]!;
    assert.equal(native.udpSend(a.fd, batch.buf, batch.vec, idx, count), count);
    assert.equal(stats[NS_UDP_SENDS]! - before, 3);
    const { datagrams } = await receiveDatagrams(b.fd, count);
    assert.equal(datagrams.length, count);
    datagrams.forEach((d, i) => assert.equal(d.readUInt32BE(0), i));
  } finally {
    native.close(a.fd);
    native.close(b.fd);
  }
});

test('udpSend: runs of equal-size plain datagrams to one address go as UDP_SEGMENT groups, order and bytes kept', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  const b = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  const c = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  try {
    assert.ok(a.gso && b.gro, 'this kernel has UDP GSO and GRO');
    // to b: 70 x 114 bytes (a group of 64, then one of 6 closed by the shorter 50), then 3 x 200;
    // to c in between: 5 x 114 (its own group); lengths and destinations decide the grouping
    const plan: { port: number; len: number }[] = [];
    for (let i = 0; i < 70; i++) plan.push({ port: b.port, len: 114 });
    plan.push({ port: b.port, len: 50 });
    for (let i = 0; i < 5; i++) plan.push({ port: c.port, len: 114 });
    for (let i = 0; i < 3; i++) plan.push({ port: b.port, len: 200 });
    const slotSize = 512;
    const batch = PV.newPacketBatch(plan.length, slotSize);
    const idx = new Int32Array(plan.length);
    const toB: Buffer[] = [];
    const toC: Buffer[] = [];
    plan.forEach(({ port, len }, i) => {
      const off = i * slotSize + PV.HEADROOM;
      const p = patternBytes(len, 300 + i);
      p.copy(batch.buf, off);
      setEntry(batch.vec, i, { off, len, addr: LOOPBACK, port });
      idx[i] = i;
      (port === b.port ? toB : toC).push(p);
    });
    const before = Float64Array.from(stats);
    const sentCount = native.udpSend(a.fd, batch.buf, batch.vec, idx, plan.length);
    const d = statsDelta(before);
    assert.equal(sentCount, plan.length, JSON.stringify(d));
    assert.equal(d['udp_sends'], 1, JSON.stringify(d));
    // groups: 64 + (6 + the 50) + 5 + 3 datagrams
    assert.equal(d['udp_gso_grouped'], 64 + 7 + 5 + 3, JSON.stringify(d));
    assert.equal(d['udp_send_drops'], undefined);
    const rb = await receiveDatagrams(b.fd, toB.length);
    assert.equal(rb.datagrams.length, toB.length);
    rb.datagrams.forEach((dg, i) => assert.deepEqual(dg, toB[i], `datagram ${i} to b`));
    const rc = await receiveDatagrams(c.fd, toC.length);
    assert.equal(rc.datagrams.length, toC.length);
    rc.datagrams.forEach((dg, i) => assert.deepEqual(dg, toC[i], `datagram ${i} to c`));
    for (const s of rb.slots) assert.equal(s.port, a.port);
  } finally {
    native.close(a.fd);
    native.close(b.fd);
    native.close(c.fd);
  }
});

test('udpRecv: equal-size datagrams sent fast reconstruct exactly (GRO slots split at PV_SEG)', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 8 << 20, 8 << 20);
  const b = native.udpOpen('127.0.0.1', 0, 8 << 20, 8 << 20);
  try {
    const count = 512;
    const size = 1000;
    const slotSize = 1024 + PV.HEADROOM;
    const batch = PV.newPacketBatch(count, slotSize);
    const idx = new Int32Array(count);
    const sent: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const off = i * slotSize + PV.HEADROOM;
      const p = patternBytes(size, 1000 + i);
      p.copy(batch.buf, off);
      sent.push(p);
      setEntry(batch.vec, i, { off, len: size, addr: LOOPBACK, port: b.port });
      idx[i] = i;
    }
    assert.equal(native.udpSend(a.fd, batch.buf, batch.vec, idx, count), count);
    const { datagrams, slots } = await receiveDatagrams(b.fd, count);
    assert.equal(datagrams.length, count);
    datagrams.forEach((d, i) => assert.deepEqual(d, sent[i], `datagram ${i}`));
    // Loopback has no GRO engine: plain datagrams arrive one per slot. If a kernel ever merges
    // them, PV_SEG must then describe the boundaries (checked by the reconstruction above).
    for (const s of slots) if (s.seg > 0) assert.equal(s.seg, size);
  } finally {
    native.close(a.fd);
    native.close(b.fd);
  }
});

test('udpSend GSO_UDP_L4 to a GRO socket: one slot with PV_SEG, boundaries exact', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  const b = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  try {
    assert.ok(a.gso && b.gro, 'this kernel has UDP GSO and GRO');
    const prefix = patternBytes(22, 5);
    const payload = patternBytes(12_000, 6);
    const mss = 1000;
    const inner = udpPacket(false, [10, 0, 0, 1], [10, 0, 0, 2], 1111, 2222, payload);
    const pkt = Buffer.concat([prefix, inner]);
    const batch = PV.newPacketBatch(1);
    pkt.copy(batch.buf, PV.HEADROOM);
    setEntry(batch.vec, 0, {
      off: PV.HEADROOM, len: pkt.length, addr: LOOPBACK, port: b.port, inner: 22,
      gsoType: PV.GSO_UDP_L4, gsoSize: mss, csumStart: 20, csumOff: 6, hdrLen: 28, vflags: PV.VF_NEEDS_CSUM,
    });
    const before = Float64Array.from(stats);
    assert.equal(native.udpSend(a.fd, batch.buf, batch.vec, Int32Array.of(0), 1), 1);
    const d = statsDelta(before);
    assert.equal(d['udp_gso_sends'], 1, JSON.stringify(d));
    assert.equal(d['segments_out'], 12);
    const { datagrams, slots } = await receiveDatagrams(b.fd, 12);
    assert.equal(datagrams.length, 12);
    // Over loopback the GSO skb reaches a UDP_GRO socket whole: one slot, PV_SEG = segment size.
    assert.equal(slots.length, 1);
    assert.equal(slots[0]!.seg, 22 + 28 + mss);
    assert.equal(slots[0]!.len, 12 * (22 + 28) + 12_000);
    datagrams.forEach((dg, i) => {
      assert.deepEqual(dg.subarray(0, 22), prefix);
      assert.deepEqual(dg.subarray(50), payload.subarray(i * mss, (i + 1) * mss));
    });
  } finally {
    native.close(a.fd);
    native.close(b.fd);
  }
});

test('udpSend: NEEDS_CSUM without GSO completes the checksum in place (UDP zero becomes 0xffff)', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 1 << 20, 1 << 20);
  const rx = dgram.createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  rx.on('message', (m) => got.push(m));
  try {
    const src = [10, 0, 0, 1];
    const dst = [10, 0, 0, 2];
    const packets: Buffer[] = [];
    for (const len of [1, 100, 1001]) packets.push(udpPacket(false, src, dst, 53, 5353, patternBytes(len, len)));
    // one whose checksum comes out 0: adjust its last two payload bytes
    const z = udpPacket(false, src, dst, 53, 5353, patternBytes(64, 3));
    z.writeUInt16BE(0, 6 + 20);
    z.writeUInt16BE(0, z.length - 2);
    const s = refSum(z, 20, z.length - 20) + refPseudo(Uint8Array.from(src), Uint8Array.from(dst), 17, z.length - 20);
    z.writeUInt16BE(0xffff - foldSum(s), z.length - 2);
    packets.push(z);
    const expected = packets.map((p) => Buffer.from(p));
    expected[3]!.writeUInt16BE(0xffff, 26);
    const batch = PV.newPacketBatch(packets.length, 2048);
    const idx = new Int32Array(packets.length);
    packets.forEach((p, i) => {
      const off = i * 2048 + PV.HEADROOM;
      const partial = Buffer.from(p);
      // as a TUN hands it over: the field holds the folded pseudo-header sum
      const l4 = p.length - 20;
      partial.writeUInt16BE(foldSum(refPseudo(Uint8Array.from(src), Uint8Array.from(dst), 17, l4)), 26);
      partial.copy(batch.buf, off);
      setEntry(batch.vec, i, { off, len: p.length, addr: LOOPBACK, port: rx.address().port, csumStart: 20, csumOff: 6, vflags: PV.VF_NEEDS_CSUM });
      idx[i] = i;
    });
    const before = Float64Array.from(stats);
    assert.equal(native.udpSend(a.fd, batch.buf, batch.vec, idx, packets.length), packets.length);
    assert.equal(statsDelta(before)['csum_completed'], packets.length);
    const deadline = Date.now() + 3000;
    while (got.length < packets.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(got.length, packets.length);
    got.forEach((g, i) => assert.deepEqual(g, expected[i], `packet ${i}`));
    assert.equal(refChecksum(expected[3]!, 20, expected[3]!.length - 20, refPseudo(Uint8Array.from(src), Uint8Array.from(dst), 17, expected[3]!.length - 20)), 0);
  } finally {
    native.close(a.fd);
    rx.close();
  }
});

test('udpSend/udpRecv: bad entries and unknown GSO types are counted, bad arguments throw', () => {
  const a = native.udpOpen('127.0.0.1', 0, 0, 0);
  try {
    const batch = PV.newPacketBatch(2, 256);
    setEntry(batch.vec, 0, { off: 200, len: 4096, addr: LOOPBACK, port: 9 }); // past the slab
    setEntry(batch.vec, 1, { off: 64, len: 100, addr: LOOPBACK, port: 9, gsoType: PV.GSO_UDP, gsoSize: 10 });
    const before = Float64Array.from(stats);
    assert.equal(native.udpSend(a.fd, batch.buf, batch.vec, Int32Array.of(0, 1, 7), 3), 0);
    const d = statsDelta(before);
    assert.equal(d['udp_send_drops'], 3);
    assert.equal(d['bad_offload'], 3);
    assert.throws(() => native.udpSend(a.fd, batch.buf, batch.vec, Int32Array.of(0), 2), RangeError);
    // a receive slot must hold a whole GRO train (64 KiB)
    assert.throws(() => native.udpRecv(a.fd, batch.buf, 256, 64, batch.vec, 0, 1), RangeError);
    assert.throws(() => native.udpRecv(a.fd, batch.buf, PV.SLOT_SIZE, PV.HEADROOM, batch.vec, 0, 1), RangeError, 'past the slab');
  } finally {
    native.close(a.fd);
  }
});

test('udpOpen errors: EADDRINUSE carries code, errno, syscall, address and port', async () => {
  const holder = dgram.createSocket('udp4');
  await new Promise<void>((r) => holder.bind(0, '127.0.0.1', r));
  const port = holder.address().port;
  try {
    assert.throws(
      () => native.udpOpen('127.0.0.1', port, 0, 0),
      (err: NodeJS.ErrnoException & { address?: string; port?: number }) => {
        assert.ok(err instanceof Error);
        assert.equal(err.code, 'EADDRINUSE');
        assert.equal(err.errno, 98);
        assert.equal(err.syscall, 'bind');
        assert.equal(err.address, '127.0.0.1');
        assert.equal(err.port, port);
        assert.match(err.message, /^udpOpen: EADDRINUSE: address already in use \(address 127\.0\.0\.1, port \d+\)$/);
        return true;
      },
    );
    assert.throws(() => native.udpOpen('not-an-address', 0, 0, 0), { code: 'EINVAL', syscall: 'inet_pton', address: 'not-an-address' });
    assert.throws(() => native.udpOpen('192.0.2.1', 0, 0, 0), { code: 'EADDRNOTAVAIL', syscall: 'bind' });
    assert.throws(() => native.udpOpen('127.0.0.1', 70000, 0, 0), RangeError);
  } finally {
    holder.close();
  }
});
