import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_MIN_HLEN, PR_BAD_HDR_CSUM, PR_BAD_IHL, PR_BAD_TOTAL_LEN, PR_BAD_VERSION, PR_OK,
  PR_TRUNCATED, checkIPv4, fillIPv4HeaderChecksum, formatIPv4, ipVersion, ipv4DecrementTtl, ipv4Df, ipv4Dst, ipv4Flags,
  ipv4FlagsFrag, ipv4FragOffset, ipv4HeaderChecksum, ipv4HeaderLen, ipv4Id, ipv4IsFragment, ipv4Mf, ipv4Proto, ipv4Src,
  ipv4Tos, ipv4TotalLen, ipv4Ttl, parseIPv4, setIPv4Tos, verifyIPv4HeaderChecksum, writeIPv4Header,
} from '../../../src/dataplane/packet/index.js';
import { build, refChecksum } from './builder.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 255 });

test('writeIPv4Header round-trips through checkIPv4 and every reader', () => {
  fc.assert(
    fc.property(fc.integer({ min: 20, max: 200 }), u16, u16, u8, u8, u32, u32, fc.nat(5), (total, id, ff, ttl, proto, src, dst, off) => {
      const out = new Uint8Array(off + total);
      assert.equal(writeIPv4Header(out, off, total, id, ff, ttl, proto, src, dst), IPV4_MIN_HLEN);
      assert.equal(checkIPv4(out, off, total), PR_OK);
      assert.equal(refChecksum(out, off, off + 20), 0, 'header checksum against the reference');
      assert.equal(ipVersion(out, off), 4);
      assert.equal(ipv4HeaderLen(out, off), 20);
      assert.equal(ipv4TotalLen(out, off), total);
      assert.equal(ipv4Id(out, off), id);
      assert.equal(ipv4FlagsFrag(out, off), ff);
      assert.equal(ipv4Flags(out, off), ff & 0xe000);
      assert.equal(ipv4Df(out, off), (ff & IPV4_FLAG_DF) !== 0);
      assert.equal(ipv4Mf(out, off), (ff & IPV4_FLAG_MF) !== 0);
      assert.equal(ipv4FragOffset(out, off), (ff & 0x1fff) * 8);
      assert.equal(ipv4IsFragment(out, off), (ff & 0x3fff) !== 0);
      assert.equal(ipv4Ttl(out, off), ttl);
      assert.equal(ipv4Proto(out, off), proto);
      assert.equal(ipv4Src(out, off), src);
      assert.equal(ipv4Dst(out, off), dst);
      assert.equal(ipv4Tos(out, off), 0);
      assert.ok(verifyIPv4HeaderChecksum(out, off));
    }),
  );
});

test('checkIPv4 reasons', () => {
  const p = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3', options: Uint8Array.of(1, 1, 1, 0) }).udp({ sport: 1, dport: 2 }).payload(10).bytes();
  assert.equal(checkIPv4(p, 0, p.length), PR_OK);
  assert.equal(ipv4HeaderLen(p, 0), 24);
  assert.equal(checkIPv4(p, 0, p.length + 10), PR_OK, 'link padding after Total Length is fine');
  assert.equal(checkIPv4(p, 0, 19), PR_TRUNCATED);
  const mod = (f: (b: Buffer) => void, fix = true) => {
    const b = Buffer.from(p);
    f(b);
    if (fix) fillIPv4HeaderChecksum(b, 0);
    return checkIPv4(b, 0, b.length);
  };
  assert.equal(mod((b) => (b[0] = 0x65)), PR_BAD_VERSION);
  assert.equal(mod((b) => (b[0] = 0x44), false), PR_BAD_IHL);
  assert.equal(mod((b) => (b[0] = 0x4f), false), PR_BAD_IHL); // 60 > 24 + 8 + 10
  assert.equal(mod((b) => b.writeUInt16BE(23, 2)), PR_BAD_TOTAL_LEN);
  assert.equal(mod((b) => b.writeUInt16BE(p.length + 1, 2)), PR_BAD_TOTAL_LEN);
  assert.equal(mod((b) => (b[8] ^= 1), false), PR_BAD_HDR_CSUM);
  assert.equal(mod((b) => (b[22] ^= 1), false), PR_BAD_HDR_CSUM, 'options are covered');
  assert.equal(mod((b) => (b[30] ^= 1), false), PR_OK, 'the payload is not');
});

test('TTL decrement and TOS change keep the header checksum right (RFC 1624)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 255 }), u8, u8, u32, u32, (ttl, tos, proto, s, d) => {
      const b = new Uint8Array(20);
      writeIPv4Header(b, 0, 20, 7, 0, ttl, proto, s, d);
      assert.equal(ipv4DecrementTtl(b, 0), ttl - 1);
      assert.equal(ipv4Ttl(b, 0), ttl - 1);
      const inc = ipv4HeaderChecksum(b, 0);
      fillIPv4HeaderChecksum(b, 0);
      assert.equal(inc, ipv4HeaderChecksum(b, 0));
      setIPv4Tos(b, 0, tos);
      assert.equal(ipv4Tos(b, 0), tos);
      assert.equal(checkIPv4(b, 0, 20), PR_OK);
    }),
  );
  const z = new Uint8Array(20);
  writeIPv4Header(z, 0, 20, 0, 0, 0, 6, 1, 2);
  assert.equal(ipv4DecrementTtl(z, 0), 0);
  assert.equal(checkIPv4(z, 0, 20), PR_OK);
});

test('parseIPv4 / formatIPv4', () => {
  assert.equal(parseIPv4('10.0.1.2'), 0x0a000102);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  assert.equal(formatIPv4(0xc6336401), '198.51.100.1');
  fc.assert(fc.property(u32, (a) => assert.equal(parseIPv4(formatIPv4(a)), a)));
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4/24', 'a.b.c.d']) {
    assert.throws(() => parseIPv4(bad), (e: unknown) => e instanceof RangeError && e.message.startsWith('parse IPv4 address'));
  }
});
