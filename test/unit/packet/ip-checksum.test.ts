// L4 checksum fill/verify and NAT rewrites, against the builder's reference checksums.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  IPPROTO_TCP, IPPROTO_UDP, IPV6_DST, IPV6_SRC, PR_OK, TCP_DST_PORT, TCP_SRC_PORT, UDP_SRC_PORT, checkIPv4,
  fillL4Checksum4, fillL4Checksum6, ipv4Dst, ipv4FragOffset, ipv4RewriteDst, ipv4RewriteSrc, ipv4Src, ipv6RewriteAddr,
  l4ChecksumOffset, l4RewritePort, partialChecksum4, partialChecksum6, tcpDstPort, udpChecksum, verifyL4Checksum4,
  verifyL4Checksum6,
} from '../../../src/dataplane/packet/index.js';
import { build } from './builder.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const addr6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const l4kind = fc.constantFrom('tcp', 'udp', 'icmp');
const payload = fc.uint8Array({ minLength: 0, maxLength: 64, size: 'max' });

function v4(kind: string, src: number, dst: number, sport: number, dport: number, data: Uint8Array, mode: 'full' | 'partial' = 'full') {
  const b = build().ipv4({ src, dst, flagsFrag: 0 });
  const l4 = kind === 'tcp' ? b.tcp({ sport, dport }) : kind === 'udp' ? b.udp({ sport, dport }) : b.icmp({ type: 8, rest: (sport << 16) | dport });
  return l4.payload(data).checksum(mode).bytes();
}

function v6(kind: string, src: Uint8Array, dst: Uint8Array, sport: number, dport: number, data: Uint8Array, mode: 'full' | 'partial' = 'full') {
  const b = build().ipv6({ src: Buffer.from(src), dst: Buffer.from(dst) });
  const l4 = kind === 'tcp' ? b.tcp({ sport, dport }) : kind === 'udp' ? b.udp({ sport, dport }) : b.icmpv6({ type: 128, rest: (sport << 16) | dport });
  return l4.payload(data).checksum(mode).bytes();
}

test('fillL4Checksum4/6 agree with the reference and verify; corruption is caught', () => {
  fc.assert(
    fc.property(l4kind, u32, u32, u16, u16, payload, fc.nat(), (kind, s, d, sp, dp, data, flip) => {
      const ref = v4(kind, s, d, sp, dp, data);
      assert.ok(verifyL4Checksum4(ref, 0));
      const b = Buffer.from(ref);
      b.writeUInt16BE(0x1234, 20 + l4ChecksumOffset(ref[9]!));
      assert.ok(fillL4Checksum4(b, 0));
      assert.deepEqual(b, ref);
      const i = 20 + (flip % (b.length - 20));
      b[i] ^= 0x01;
      assert.equal(verifyL4Checksum4(b, 0), kind === 'udp' && b.readUInt16BE(26) === 0, 'a flipped bit never verifies (unless it zeroed the UDP field)');
    }),
  );
  fc.assert(
    fc.property(l4kind, addr6, addr6, u16, u16, payload, (kind, s, d, sp, dp, data) => {
      const ref = v6(kind, s, d, sp, dp, data);
      assert.ok(verifyL4Checksum6(ref, 0));
      const b = Buffer.from(ref);
      b.writeUInt16BE(0x1234, 40 + l4ChecksumOffset(ref[6]!));
      assert.ok(fillL4Checksum6(b, 0));
      assert.deepEqual(b, ref);
    }),
  );
});

test('UDP zero checksum: "none" over IPv4, invalid over IPv6; a computed 0 is sent as ffff', () => {
  const z4 = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3' }).udp({ sport: 1, dport: 2 }).payload('x').checksum('zero').bytes();
  assert.ok(verifyL4Checksum4(z4, 0));
  const z6 = build().ipv6({ src: 'fd00::2', dst: 'fd00::3' }).udp({ sport: 1, dport: 2 }).payload('x').checksum('zero').bytes();
  assert.equal(verifyL4Checksum6(z6, 0), false);
  // Find a payload word that makes the sum come out as 0: then the field must be ffff.
  const p = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3' }).udp({ sport: 1, dport: 2 }).payload(Buffer.alloc(2)).checksum('zero').bytes();
  fillL4Checksum4(p, 0);
  const c = udpChecksum(p, 20);
  p.writeUInt16BE(0, 26);
  p.writeUInt16BE(c, 28); // payload word = old checksum: the new sum is ffff, the checksum 0
  assert.ok(fillL4Checksum4(p, 0));
  assert.equal(udpChecksum(p, 20), 0xffff);
  assert.ok(verifyL4Checksum4(p, 0));
});

test('fill/verify refuse fragments, unknown protocols and short L4 headers', () => {
  const frag = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3', flagsFrag: 0x2000 }).udp({ sport: 1, dport: 2 }).payload(8).bytes();
  assert.equal(fillL4Checksum4(frag, 0), false);
  assert.equal(verifyL4Checksum4(frag, 0), false);
  const gre = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3', proto: 47 }).payload(8).bytes();
  assert.equal(fillL4Checksum4(gre, 0), false);
  const short = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3', proto: IPPROTO_TCP }).payload(19).bytes();
  assert.equal(fillL4Checksum4(short, 0), false);
  const before = Buffer.from(short);
  assert.equal(verifyL4Checksum4(short, 0), false);
  assert.deepEqual(short, before);
});

test('NAT rewrites of addresses and ports equal a full recompute (IPv4, RFC 1624)', () => {
  fc.assert(
    fc.property(l4kind, u32, u32, u16, u16, payload, u32, u32, u16, u16, (kind, s, d, sp, dp, data, ns, nd, nsp, ndp) => {
      const b = v4(kind, s, d, sp, dp, data);
      ipv4RewriteSrc(b, 0, ns);
      ipv4RewriteDst(b, 0, nd);
      if (kind !== 'icmp') {
        const proto = kind === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP;
        l4RewritePort(b, 20, proto, TCP_SRC_PORT, nsp);
        l4RewritePort(b, 20, proto, TCP_DST_PORT, ndp);
      }
      assert.equal(checkIPv4(b, 0, b.length), PR_OK);
      assert.equal(ipv4Src(b, 0), ns);
      assert.equal(ipv4Dst(b, 0), nd);
      const expect = kind === 'icmp' ? v4(kind, ns, nd, sp, dp, data) : v4(kind, ns, nd, nsp, ndp, data);
      assert.deepEqual(b, expect);
    }),
  );
});

test('NAT rewrite of an IPv6 address equals a full recompute (TCP, UDP and ICMPv6)', () => {
  fc.assert(
    fc.property(l4kind, addr6, addr6, u16, u16, payload, addr6, fc.boolean(), (kind, s, d, sp, dp, data, neu, which) => {
      const b = v6(kind, s, d, sp, dp, data);
      ipv6RewriteAddr(b, 0, which ? IPV6_SRC : IPV6_DST, neu, 0);
      const expect = which ? v6(kind, neu, d, sp, dp, data) : v6(kind, s, neu, sp, dp, data);
      assert.deepEqual(b, expect);
    }),
  );
});

test('partial (NEEDS_CSUM) checksums stay partial through rewrites and complete with fill', () => {
  fc.assert(
    fc.property(fc.constantFrom('tcp', 'udp'), u32, u32, u16, u16, payload, u32, u16, (kind, s, d, sp, dp, data, nd, ndp) => {
      const b = v4(kind, s, d, sp, dp, data, 'partial');
      assert.equal(b.readUInt16BE(20 + l4ChecksumOffset(b[9]!)), partialChecksum4(b, 0));
      ipv4RewriteDst(b, 0, nd, true);
      l4RewritePort(b, 20, b[9]!, TCP_DST_PORT, ndp, true);
      assert.deepEqual(b, v4(kind, s, nd, sp, ndp, data, 'partial'));
      assert.ok(fillL4Checksum4(b, 0));
      assert.deepEqual(b, v4(kind, s, nd, sp, ndp, data, 'full'));
    }),
  );
  fc.assert(
    fc.property(fc.constantFrom('tcp', 'udp'), addr6, addr6, payload, addr6, (kind, s, d, data, neu) => {
      const b = v6(kind, s, d, 1, 2, data, 'partial');
      assert.equal(b.readUInt16BE(40 + l4ChecksumOffset(b[6]!)), partialChecksum6(b, 0));
      ipv6RewriteAddr(b, 0, IPV6_SRC, neu, 0, true);
      assert.deepEqual(b, v6(kind, neu, d, 1, 2, data, 'partial'));
    }),
  );
});

test('rewrites: UDP "no checksum" stays 0; a non-first fragment gets only the header checksum', () => {
  const z = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3' }).udp({ sport: 1, dport: 2 }).payload('abc').checksum('zero').bytes();
  ipv4RewriteDst(z, 0, 0x0a000109);
  l4RewritePort(z, 20, IPPROTO_UDP, UDP_SRC_PORT, 999);
  assert.equal(udpChecksum(z, 20), 0);
  assert.equal(checkIPv4(z, 0, z.length), PR_OK);
  const f = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3', flagsFrag: 0x00b2 }).tcp({ sport: 1, dport: 2 }).payload(8).checksum('keep').bytes();
  assert.equal(ipv4FragOffset(f, 0), 1424);
  const payloadBefore = Buffer.from(f.subarray(20));
  ipv4RewriteDst(f, 0, 0x0a000109);
  assert.equal(checkIPv4(f, 0, f.length), PR_OK);
  assert.deepEqual(f.subarray(20), payloadBefore, 'bytes after the IP header are data, not a TCP header');
  assert.equal(tcpDstPort(f, 20), 2);
});

test('verify/fill6 look past extension headers (the MLD case)', () => {
  const p = build().ipv6({ src: 'fe80::1', dst: 'ff02::16', hopLimit: 1 }).ext(0, Uint8Array.of(5, 2, 0, 0, 1, 0)).icmpv6({ type: 143, rest: 1 }).payload(20).bytes();
  assert.ok(verifyL4Checksum6(p, 0));
  const b = Buffer.from(p);
  b.writeUInt16BE(0, 48 + 2);
  assert.ok(fillL4Checksum6(b, 0));
  assert.deepEqual(b, p);
});
