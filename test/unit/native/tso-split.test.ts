// TSO/USO split in udpSend: synthetic super-packets as a TUN hands them over (virtio fields set,
// transport checksum field holding a partial or garbage value) behind a 22-byte VXLAN+Ethernet
// prefix, sent to a plain dgram socket on the loopback, every segment checked against a TS
// reference.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';

import { native, PV, setEntry, stats, statsDelta } from './harness.js';
import { Netns, hasNetnsSupport, l4ChecksumOk, patternBytes, refChecksum, runChild, tcpPacket, udpPacket, TCP_ACK, TCP_CWR, TCP_FIN, TCP_PSH } from './helpers.js';

const LOOPBACK = 0x7f000001;
const PREFIX_LEN = 22;

interface Collector {
  port: number;
  got: Buffer[];
  wait(n: number, ms?: number): Promise<void>;
  close(): void;
}

async function collector(): Promise<Collector> {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  return {
    port: s.address().port,
    got,
    async wait(n, ms = 3000) {
      const deadline = Date.now() + ms;
      while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20)); // and nothing more arrives
    },
    close: () => s.close(),
  };
}

function sendSuper(fd: number, port: number, pkt: Buffer, f: { gsoType: number; gsoSize: number; csumStart: number; csumOff: number; hdrLen: number }): number {
  const batch = PV.newPacketBatch(1);
  pkt.copy(batch.buf, PV.HEADROOM);
  setEntry(batch.vec, 0, { off: PV.HEADROOM, len: pkt.length, addr: LOOPBACK, port, inner: PREFIX_LEN, vflags: PV.VF_NEEDS_CSUM, ...f });
  return native.udpSend(fd, batch.buf, batch.vec, Int32Array.of(0), 1);
}

/** Checks the TCP segments of a split against the original super-packet. */
function checkTcpSegments(segs: Buffer[], prefix: Buffer, orig: Buffer, mss: number): void {
  const v6 = orig[0]! >> 4 === 6;
  const iphl = v6 ? 40 : 20;
  const thl = (orig[iphl + 12]! >> 4) * 4;
  const hl = iphl + thl;
  const payload = orig.subarray(hl);
  const n = Math.ceil(payload.length / mss);
  assert.equal(segs.length, n, 'segment count');
  const seq0 = orig.readUInt32BE(iphl + 4);
  const flags0 = orig[iphl + 13]!;
  const parts: Buffer[] = [];
  segs.forEach((s, i) => {
    const chunk = Math.min(mss, payload.length - i * mss);
    assert.equal(s.length, PREFIX_LEN + hl + chunk, `segment ${i} length`);
    assert.deepEqual(s.subarray(0, PREFIX_LEN), prefix, `segment ${i} prefix`);
    const ip = s.subarray(PREFIX_LEN);
    if (v6) {
      assert.equal(ip.readUInt16BE(4), thl + chunk, `segment ${i} payload length`);
      assert.deepEqual(ip.subarray(0, 4), orig.subarray(0, 4));
      assert.deepEqual(ip.subarray(6, 40), orig.subarray(6, 40));
    } else {
      assert.equal(ip.readUInt16BE(2), hl + chunk, `segment ${i} total length`);
      assert.equal(ip.readUInt16BE(4), (orig.readUInt16BE(4) + i) & 0xffff, `segment ${i} id`);
      assert.equal(refChecksum(ip, 0, 20), 0, `segment ${i} IPv4 header checksum`);
      assert.equal(ip[8], orig[8]);
      assert.equal(ip.readUInt16BE(6), orig.readUInt16BE(6));
    }
    const t = ip.subarray(iphl);
    assert.equal(t.readUInt32BE(4), (seq0 + i * mss) >>> 0, `segment ${i} seq`);
    assert.deepEqual(t.subarray(0, 4), orig.subarray(iphl, iphl + 4), 'ports');
    assert.deepEqual(t.subarray(8, 13), orig.subarray(iphl + 8, iphl + 13), 'ack, doff');
    assert.deepEqual(t.subarray(14, 16), orig.subarray(iphl + 14, iphl + 16), 'window');
    assert.deepEqual(t.subarray(18, thl), orig.subarray(iphl + 18, iphl + thl), 'urgent pointer, options');
    let want = flags0;
    if (i !== n - 1) want &= ~(TCP_FIN | TCP_PSH);
    if (i !== 0) want &= ~TCP_CWR;
    assert.equal(t[13], want, `segment ${i} flags`);
    assert.ok(l4ChecksumOk(ip, 0), `segment ${i} TCP checksum`);
    parts.push(Buffer.from(t.subarray(thl)));
  });
  assert.deepEqual(Buffer.concat(parts), payload, 'payload');
}

const V4 = { src: [10, 0, 0, 1], dst: [10, 0, 0, 2] };
const V6 = {
  src: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  dst: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
};

test('TSO split: IPv4 TCP super-packet (20 KB, mss 1400) with a 22-byte prefix', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  const c = await collector();
  try {
    const prefix = patternBytes(PREFIX_LEN, 1);
    const payload = patternBytes(20_000, 2);
    const inner = tcpPacket({ ...V4, sport: 40000, dport: 5001, seq: 0xffffe000, ack: 77, flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, payload, id: 0xfffe, csum: 0xdead });
    const before = Float64Array.from(stats);
    assert.equal(sendSuper(a.fd, c.port, Buffer.concat([prefix, inner]), { gsoType: PV.GSO_TCPV4, gsoSize: 1400, csumStart: 20, csumOff: 16, hdrLen: 40 }), 1);
    const d = statsDelta(before);
    assert.equal(d['tso_splits'], 1);
    assert.equal(d['segments_out'], 15);
    if (a.gso) assert.equal(d['udp_gso_sends'], 1, JSON.stringify(d));
    await c.wait(15);
    checkTcpSegments(c.got, prefix, inner, 1400);
  } finally {
    native.close(a.fd);
    c.close();
  }
});

test('TSO split: IPv6 TCP super-packet with timestamp options, hdr_len 0 (derived from the packet)', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  const c = await collector();
  try {
    const prefix = patternBytes(PREFIX_LEN, 3);
    const payload = patternBytes(20_000, 4);
    const ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    const inner = tcpPacket({ v6: true, ...V6, sport: 40001, dport: 5001, seq: 1, ack: 2, flags: TCP_ACK, payload, options: ts, csum: 0x1234 });
    assert.equal(sendSuper(a.fd, c.port, Buffer.concat([prefix, inner]), { gsoType: PV.GSO_TCPV6, gsoSize: 1388, csumStart: 40, csumOff: 16, hdrLen: 0 }), 1);
    await c.wait(15);
    checkTcpSegments(c.got, prefix, inner, 1388);
  } finally {
    native.close(a.fd);
    c.close();
  }
});

test('TSO split: 64 KB with a small mss spans several GSO sends (<= 64 segments, <= 65507 bytes each)', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 8 << 20, 8 << 20);
  const c = await collector();
  try {
    const prefix = patternBytes(PREFIX_LEN, 5);
    const payload = patternBytes(65_000, 6);
    const inner = tcpPacket({ ...V4, sport: 40002, dport: 5001, seq: 1000, ack: 1, flags: TCP_ACK | TCP_PSH, payload, csum: 0 });
    const before = Float64Array.from(stats);
    // mss 500: 130 segments, at most 64 per send -> 3 sends
    assert.equal(sendSuper(a.fd, c.port, Buffer.concat([prefix, inner]), { gsoType: PV.GSO_TCPV4, gsoSize: 500, csumStart: 20, csumOff: 16, hdrLen: 40 }), 1);
    // mss 1400: 47 segments of 1462 bytes, at most 44 per 65507-byte send -> 2 sends
    assert.equal(sendSuper(a.fd, c.port, Buffer.concat([prefix, inner]), { gsoType: PV.GSO_TCPV4, gsoSize: 1400, csumStart: 20, csumOff: 16, hdrLen: 40 }), 1);
    const d = statsDelta(before);
    assert.equal(d['segments_out'], 130 + 47);
    if (a.gso) assert.equal(d['udp_gso_sends'], 3 + 2, JSON.stringify(d));
    await c.wait(177);
    assert.equal(c.got.length, 177);
    checkTcpSegments(c.got.slice(0, 130), prefix, inner, 500);
    checkTcpSegments(c.got.slice(130), prefix, inner, 1400);
  } finally {
    native.close(a.fd);
    c.close();
  }
});

test('USO split: IPv4 and IPv6 GSO_UDP_L4 super-packets', async () => {
  const a = native.udpOpen('127.0.0.1', 0, 4 << 20, 4 << 20);
  const c = await collector();
  try {
    for (const v6 of [false, true]) {
      c.got.length = 0;
      const prefix = patternBytes(PREFIX_LEN, 7);
      const payload = patternBytes(10_001, 8);
      const mss = 1200;
      const inner = udpPacket(v6, v6 ? V6.src : V4.src, v6 ? V6.dst : V4.dst, 3000, 4000, payload, 0x0100);
      const iphl = v6 ? 40 : 20;
      inner.writeUInt16BE(0xbeef, iphl + 6); // garbage in the checksum field
      assert.equal(sendSuper(a.fd, c.port, Buffer.concat([prefix, inner]), { gsoType: PV.GSO_UDP_L4, gsoSize: mss, csumStart: iphl, csumOff: 6, hdrLen: iphl + 8 }), 1);
      await c.wait(9);
      assert.equal(c.got.length, 9);
      const parts: Buffer[] = [];
      c.got.forEach((s, i) => {
        const chunk = Math.min(mss, payload.length - i * mss);
        assert.deepEqual(s.subarray(0, PREFIX_LEN), prefix);
        const ip = s.subarray(PREFIX_LEN);
        assert.equal(ip.length, iphl + 8 + chunk);
        if (v6) assert.equal(ip.readUInt16BE(4), 8 + chunk);
        else {
          assert.equal(ip.readUInt16BE(2), 28 + chunk);
          assert.equal(ip.readUInt16BE(4), 0x0100 + i);
          assert.equal(refChecksum(ip, 0, 20), 0);
        }
        assert.equal(ip.readUInt16BE(iphl + 4), 8 + chunk, 'UDP length');
        assert.deepEqual(ip.subarray(iphl, iphl + 4), inner.subarray(iphl, iphl + 4), 'ports');
        assert.ok(l4ChecksumOk(ip, 0), `segment ${i} UDP checksum`);
        parts.push(Buffer.from(ip.subarray(iphl + 8)));
      });
      assert.deepEqual(Buffer.concat(parts), payload);
    }
  } finally {
    native.close(a.fd);
    c.close();
  }
});

test('TSO split: malformed super-packets are dropped and counted', () => {
  const a = native.udpOpen('127.0.0.1', 0, 0, 0);
  try {
    const prefix = patternBytes(PREFIX_LEN, 9);
    const udp = udpPacket(false, V4.src, V4.dst, 1, 2, patternBytes(3000, 1));
    const before = Float64Array.from(stats);
    // a UDP packet labelled TCPV4, and a TCP one with gso_size 0
    assert.equal(sendSuper(a.fd, 9, Buffer.concat([prefix, udp]), { gsoType: PV.GSO_TCPV4, gsoSize: 1000, csumStart: 20, csumOff: 16, hdrLen: 40 }), 0);
    const tcp = tcpPacket({ ...V4, sport: 1, dport: 2, seq: 0, flags: TCP_ACK, payload: patternBytes(3000, 2) });
    assert.equal(sendSuper(a.fd, 9, Buffer.concat([prefix, tcp]), { gsoType: PV.GSO_TCPV4, gsoSize: 0, csumStart: 20, csumOff: 16, hdrLen: 40 }), 0);
    const d = statsDelta(before);
    assert.equal(d['bad_offload'], 2);
    assert.equal(d['udp_send_drops'], 2);
  } finally {
    native.close(a.fd);
  }
});

test('TSO split: segments larger than the route MTU fall back to one datagram each (netns, lo mtu 1280)', { skip: !hasNetnsSupport() && 'needs root and ip netns' }, async () => {
  const ns = new Netns('tso');
  try {
    ns.ip('link', 'set', 'lo', 'mtu', '1280');
    const r = await runChild<{ sent: number; received: number; ok: boolean; detail: string; first: Record<string, number>; stats: Record<string, number> }>(ns, 'tso-fallback');
    assert.ok(r.ok, r.detail);
    assert.equal(r.sent, 2);
    assert.equal(r.received, 30);
    // UDP_SEGMENT refused with EINVAL (segment > MTU): this packet goes out datagram by
    // datagram (fragmented, no DF); GSO stays on for the fd (EINVAL is about this route)
    assert.equal(r.first['udp_gso_sends'] ?? 0, 0, JSON.stringify(r.first));
    assert.equal(r.first['udp_sends'], 2, JSON.stringify(r.first));
    assert.equal(r.stats['udp_gso_fallback'] ?? 0, 0);
    assert.equal(r.stats['udp_send_drops'] ?? 0, 0);
  } finally {
    ns.destroy();
  }
});
