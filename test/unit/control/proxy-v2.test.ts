import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyV2, proxyV2Header } from '../../../src/control/agent/proxy-relay.js';

test('PROXY v2 header for TCP over IPv4: the bytes of the spec (signature, 0x21, 0x11, length 12, addresses, ports)', () => {
  const h = proxyV2Header('::ffff:198.51.100.99', 40000, '198.51.100.11', 8383);
  assert.equal(h.toString('hex'), '0d0a0d0a000d0a515549540a' + '21' + '11' + '000c' + 'c6336463' + 'c633640b' + '9c40' + '20bf');
  assert.deepEqual(parseProxyV2(h), { ok: true, length: 28, src: '198.51.100.99', srcPort: 40000, dst: '198.51.100.11', dstPort: 8383 });
});

test('PROXY v2 header for TCP over IPv6, and a mixed pair mapped to IPv6', () => {
  const h = proxyV2Header('fd00:99::1', 1, '2001:db8::5', 443);
  assert.equal(h[13], 0x21);
  assert.equal(h.readUInt16BE(14), 36);
  const p = parseProxyV2(h);
  assert.ok(p.ok);
  assert.equal(p.src, 'fd00:99:0:0:0:0:0:1');
  assert.equal(p.dst, '2001:db8:0:0:0:0:0:5');
  const m = parseProxyV2(proxyV2Header('198.51.100.99', 2, '2001:db8::5', 80));
  assert.ok(m.ok);
  assert.equal(m.src, '0:0:0:0:0:ffff:c633:6463');
});

test('parseProxyV2 never throws: short, wrong signature, wrong version, unknown family', () => {
  const h = proxyV2Header('10.0.0.1', 1, '10.0.0.2', 2);
  assert.deepEqual(parseProxyV2(h.subarray(0, 20)), { ok: false, reason: 'short' });
  const bad = Buffer.from(h);
  bad[0] = 0;
  assert.deepEqual(parseProxyV2(bad), { ok: false, reason: 'signature' });
  const v1 = Buffer.from(h);
  v1[12] = 0x11;
  assert.deepEqual(parseProxyV2(v1), { ok: false, reason: 'version' });
  const fam = Buffer.from(h);
  fam[13] = 0x31;
  assert.deepEqual(parseProxyV2(fam), { ok: false, reason: 'family' });
  for (let i = 0; i < 200; i++) parseProxyV2(Buffer.from(Array.from({ length: (i * 7) % 64 }, (_, k) => (k * 31 + i) & 0xff)));
});
