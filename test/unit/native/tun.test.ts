// TUN devices through the addon, in network namespaces this test creates and deletes:
// offload negotiation, coalesced writes forwarded by the kernel from one TUN to another, reads
// of kernel super-packets, and error objects.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { native, setEntry, stats, statsDelta } from './harness.js';
import { Netns, hasNetnsSupport, runChild } from './helpers.js';
import { TUN_F_ALL, TUN_F_CSUM, TUN_F_TSO4 } from '../../../src/dataplane/io/native-api.js';
import * as PV from '../../../src/dataplane/io/packet-vec.js';

const skip = !hasNetnsSupport() && 'needs root and ip netns';

test('tunOpen: a name longer than IFNAMSIZ throws EINVAL with syscall and device (nothing created)', () => {
  const name = 'vx-this-name-is-too-long';
  assert.throws(
    () => native.tunOpen(name, false, 0),
    (err: NodeJS.ErrnoException & { device?: string }) => {
      assert.ok(err instanceof Error);
      assert.equal(err.code, 'EINVAL');
      assert.equal(err.errno, 22);
      assert.equal(err.syscall, 'ioctl(TUNSETIFF)');
      assert.equal(err.device, name);
      assert.equal(err.message, `tunOpen: EINVAL: invalid argument (device ${name})`);
      return true;
    },
  );
  assert.throws(() => native.tunOpen('', false, 0), { code: 'EINVAL' });
  assert.throws(() => native.tunOpen(42 as unknown as string, false, 0), TypeError);
});

test('tunOpen: offload masks, fallback, multi-queue, and a kernel-refused name', { skip }, async () => {
  const ns = new Netns('tuno');
  try {
    const r = await runChild<{
      all: number; csumOnly: number; tso: number; none: number; names: string[]; multiQueue: boolean;
      badName: { threw: boolean; code: string; errno: number; syscall: string; device: string; message: string };
    }>(ns, 'tun-offloads');
    // this kernel (>= 6.2) takes USO too
    assert.equal(r.all, TUN_F_ALL);
    assert.equal(r.csumOnly, TUN_F_CSUM);
    assert.equal(r.tso, TUN_F_CSUM | TUN_F_TSO4);
    assert.equal(r.none, 0);
    assert.deepEqual(r.names, ['vxo1', 'vxo3']);
    assert.ok(r.multiQueue, 'IFF_MULTI_QUEUE device');
    assert.deepEqual(r.badName, {
      threw: true, code: 'EINVAL', errno: 22, syscall: 'ioctl(TUNSETIFF)', device: 'bad/name',
      message: 'tunOpen: EINVAL: invalid argument (device bad/name)',
    });
  } finally {
    ns.destroy();
  }
});

interface FlowResult { ok: boolean; packets: number; gso: number; gsoSizes: number[]; ttl: number[] }
interface GsoRead { gsoType: number; gsoSize: number; hdrLen: number; csumStart: number; csumOff: number; vflags: number; headerLen: number; partialOk: boolean }
interface ForwardResult {
  offloads: number[];
  written: number;
  count: number;
  writeStats: Record<string, number>;
  perFlow: Record<string, FlowResult>;
  gsoReads: GsoRead[];
  rewrite: { written: number; ok: boolean; packets: number; ttl: number[] };
  plain: { written: number; stats: Record<string, number>; ok: boolean };
}

test('tunWrite coalescing: TUN A -> kernel forwarding -> TUN B, payload intact, merges counted', { skip }, async () => {
  const ns = new Netns('tunf');
  try {
    const r = await runChild<ForwardResult>(ns, 'tun-forward');
    assert.deepEqual(r.offloads, [TUN_F_ALL, TUN_F_ALL]);
    assert.equal(r.written, r.count, 'every listed packet handed to the kernel');
    // v4a and v4b (interleaved, 30 each), v6 (20): one super-packet each; "bad" (10 with a bad
    // checksum at index 5): 0-4 merged, 5 alone, 6-9 merged
    assert.equal(r.writeStats['coalesce_out'], 5, JSON.stringify(r.writeStats));
    assert.equal(r.writeStats['coalesce_in'], 30 + 30 + 20 + 9);
    assert.equal(r.writeStats['coalesce_bad_csum'], 1);
    assert.equal(r.writeStats['tun_writes'], 6);
    assert.equal(r.writeStats['tun_write_drops'] ?? 0, 0);
    for (const [name, f] of Object.entries(r.perFlow)) {
      assert.ok(f.ok, `flow ${name}: TCP payload read from B equals what was written into A`);
      assert.deepEqual(f.ttl, [63], `flow ${name} was forwarded once`);
    }
    // B has TSO: the kernel hands the forwarded super-packets over whole
    assert.equal(r.perFlow['v4a']!.gso, 1);
    assert.deepEqual(r.perFlow['v4a']!.gsoSizes, [1400]);
    assert.equal(r.perFlow['v6']!.gso, 1);
    assert.deepEqual(r.perFlow['v6']!.gsoSizes, [1380]);
    assert.equal(r.perFlow['bad']!.packets, 3);
    for (const g of r.gsoReads) {
      assert.equal(g.vflags & PV.VF_NEEDS_CSUM, PV.VF_NEEDS_CSUM);
      assert.equal(g.hdrLen, g.headerLen);
      assert.equal(g.csumStart, g.gsoType === PV.GSO_TCPV6 ? 40 : 20);
      assert.equal(g.csumOff, 16);
      assert.ok(g.partialOk, 'checksum field holds the pseudo-header sum');
    }
    // a packet with virtio fields (a super-packet read from B) written back as it is
    assert.equal(r.rewrite.written, 1);
    assert.ok(r.rewrite.ok);
    assert.deepEqual(r.rewrite.ttl, [62]);
    // coalesce=false: one write per packet, nothing merged
    assert.equal(r.plain.written, 8);
    assert.deepEqual(r.plain.stats, { tun_writes: 8 });
    assert.ok(r.plain.ok);
  } finally {
    ns.destroy();
  }
});

interface UdpWrite { written: number; stats: Record<string, number>; rx: Record<string, { ok: boolean; got: number; want: number }> }

test('tunWrite UDP coalescing: datagram runs become GSO_UDP_L4 writes, sockets get every datagram as sent', { skip }, async () => {
  const ns = new Netns('tunu');
  try {
    const r = await runChild<{ offloads: number; count: number; merged: UdpWrite; tcpOnly: UdpWrite }>(ns, 'tun-udp-local');
    assert.equal(r.offloads, TUN_F_ALL);
    const m = r.merged;
    assert.equal(m.written, r.count, JSON.stringify(m.stats));
    for (const [k, v] of Object.entries(m.rx)) assert.ok(v.ok, `socket ${k}: ${JSON.stringify(v)} ${JSON.stringify(m.stats)}`);
    // a: 64 + 6 (IDs wrap through 0xffff); b: 10 + the shorter one; v6: 20. Not merged: b's four
    // with gaps in their IDs, the run cut by a bad checksum (verified before merging: the one
    // before, the bad one and the one after each alone), the one without a checksum.
    assert.equal(m.stats['coalesce_out'], 4, JSON.stringify(m.stats));
    assert.equal(m.stats['coalesce_in'], 64 + 6 + 11 + 20, JSON.stringify(m.stats));
    assert.equal(m.stats['coalesce_bad_csum'], 1, JSON.stringify(m.stats));
    assert.equal(m.stats['tun_writes'], 4 + 4 + 3 + 1, JSON.stringify(m.stats));
    // coalesce = true means TCP only: one write per datagram, the same delivery
    const t = r.tcpOnly;
    assert.equal(t.written, r.count);
    assert.equal(t.stats['coalesce_in'] ?? 0, 0, JSON.stringify(t.stats));
    assert.equal(t.stats['tun_writes'], r.count, JSON.stringify(t.stats));
    for (const [k, v] of Object.entries(t.rx)) assert.ok(v.ok, `socket ${k} (TCP-only coalescing): ${JSON.stringify(v)}`);
  } finally {
    ns.destroy();
  }
});

interface RuleResult { written: number; count: number; in: number; out: number; bad: number; drops: number; inOrder: boolean; readPackets: number; got?: string[]; expected?: string[] }

test('tunWrite coalescing rules: what merges and what ends a run (counted, forwarded, order kept)', { skip }, async () => {
  const ns = new Netns('tunr');
  try {
    const r = await runChild<Record<string, RuleResult>>(ns, 'tun-rules', {}, 40_000);
    // [segments merged (coalesce_in), super-packets written (coalesce_out), bad checksums]
    const want: Record<string, [number, number, number?]> = {
      baseline: [6, 1],
      tos: [2, 1], ecnCe: [2, 1], ttl: [2, 1], df: [2, 1], // IPv4 header fields must match
      options: [2, 1], sameOptions: [4, 1], ack: [2, 1], window: [2, 1], // TCP header fields must match
      seqGap: [4, 2], shortMiddle: [4, 2], largerAfter: [3, 1], pshMiddle: [4, 2], fin: [3, 1],
      ece: [2, 1], cwr: [2, 1], urg: [2, 1],
      cap64: [70, 2], cap65535: [50, 2], // 64 + 6 segments; 46 * 1400 + 40 <= 65535, then 4
      ipOptions: [0, 0], fragment: [0, 0], reverse: [0, 0],
      v6: [5, 1], v6tclass: [2, 1], v6hop: [2, 1],
      pureAck: [4, 2], virtioMiddle: [4, 2],
      badFirst: [4, 1, 1], badLast: [4, 1, 1], badIpCsum: [4, 2, 1],
      innerPrefix: [4, 1], // a 22-byte prefix skipped through PV_INNER
      flows16: [64, 16], flows20: [0, 0],
    };
    assert.deepEqual(Object.keys(r).sort(), Object.keys(want).sort());
    for (const [name, [cin, cout, bad]] of Object.entries(want)) {
      const c = r[name]!;
      assert.equal(c.written, c.count, `${name}: all handed to the kernel`);
      assert.equal(c.drops, 0, `${name}: no drops`);
      assert.deepEqual([c.in, c.out, c.bad], [cin, cout, bad ?? 0], `${name}: coalesce in/out/bad`);
      assert.ok(c.inOrder, `${name}: every segment forwarded to B, in order within its flow\n${JSON.stringify(c)}`);
    }
  } finally {
    ns.destroy();
  }
});

interface LocalTcpResult {
  connected: boolean;
  syn: { gsoType: number; vflags: number; csumStart: number; csumOff: number; len: number; off: number };
  synackWritten: number;
  supers: { gsoType: number; gsoSize: number; hdrLen: number; csumStart: number; csumOff: number; vflags: number; len: number; partialOk: boolean; dataOk: boolean }[];
  plainData: number;
  error?: string;
}

test('tunRead: virtio fields of a local TCP stream (handshake answered from JS, then TSO super-packets)', { skip }, async () => {
  const ns = new Netns('tunl');
  try {
    const r = await runChild<LocalTcpResult>(ns, 'tun-local-tcp');
    assert.equal(r.error, undefined);
    // the SYN: plain, checksum left to the "device" (CHECKSUM_PARTIAL)
    assert.equal(r.syn.gsoType, PV.GSO_NONE);
    assert.equal(r.syn.vflags & PV.VF_NEEDS_CSUM, PV.VF_NEEDS_CSUM);
    assert.equal(r.syn.csumStart, 20);
    assert.equal(r.syn.csumOff, 16);
    assert.equal(r.syn.off, PV.HEADROOM);
    assert.equal(r.synackWritten, 1);
    assert.ok(r.connected, 'the kernel took our SYN-ACK');
    assert.ok(r.supers.length >= 1, `a TSO super-packet was read (plain data packets: ${r.plainData})`);
    for (const s of r.supers) {
      assert.equal(s.gsoType, PV.GSO_TCPV4);
      assert.equal(s.gsoSize, 1400, 'the MSS we advertised');
      assert.equal(s.hdrLen, 40);
      assert.equal(s.csumStart, 20);
      assert.equal(s.csumOff, 16);
      assert.equal(s.vflags & PV.VF_NEEDS_CSUM, PV.VF_NEEDS_CSUM);
      assert.ok(s.len > 40 + 1400);
      assert.ok(s.partialOk, 'the kernel leaves the folded pseudo-header sum, as our coalescer does');
      assert.ok(s.dataOk, 'payload is the stream at its sequence number');
    }
  } finally {
    ns.destroy();
  }
});

test('tunRead/tunWrite: argument checks throw, bad entries are counted', () => {
  const batch = PV.newPacketBatch(2, 1024);
  assert.throws(() => native.tunRead(-1, batch.buf, 1024, 4, batch.vec, 0, 1), RangeError, 'headroom < 10');
  assert.throws(() => native.tunRead(-1, batch.buf, 1024, 64, batch.vec, 1, 2), RangeError, 'past the slab');
  assert.equal(native.tunRead(-1, batch.buf, 1024, 64, batch.vec, 0, 2), 0, 'EBADF reads nothing');
  assert.throws(() => native.tunWrite(-1, batch.buf, batch.vec, Int32Array.of(0), 5, true), RangeError);
  assert.throws(() => native.tunWrite(-1, batch.buf, new Float64Array(12) as unknown as Int32Array, Int32Array.of(0), 1, true), TypeError);
  setEntry(batch.vec, 0, { off: 1000, len: 100 }); // past the end of slot 0 into 1: fine
  setEntry(batch.vec, 1, { off: 2000, len: 100 }); // past the slab
  const before = Float64Array.from(stats);
  // entry 0 hits EBADF, entry 1 is out of bounds, index 9 does not exist
  assert.equal(native.tunWrite(-1, batch.buf, batch.vec, Int32Array.of(0, 1, 9), 3, true), 0);
  const d = statsDelta(before);
  assert.equal(d['tun_write_drops'], 3);
  assert.equal(d['bad_offload'], 2);
});
