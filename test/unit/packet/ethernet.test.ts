import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ETH_HLEN, ETHERTYPE_IPV6, PR_OK, PR_TRUNCATED, checkEthernet, copyMac, ethType, isBroadcastMac, isMulticastMac,
  macEqual, macToString, parseMac, setEthType, writeEthernetHeader, writeMacFromIPv4, writeMacFromIPv6Multicast,
} from '../../../src/dataplane/packet/index.js';
import { ip6 } from './builder.js';

test('writeEthernetHeader round-trips through ethType and the MAC offsets', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.integer({ min: 0, max: 0xffff }), fc.nat(9), (d, s, t, off) => {
      const out = new Uint8Array(off + ETH_HLEN);
      assert.equal(writeEthernetHeader(out, off, d, 0, s, 0, t), ETH_HLEN);
      assert.equal(checkEthernet(out, off, ETH_HLEN), PR_OK);
      assert.equal(ethType(out, off), t);
      assert.ok(macEqual(out, off, d, 0));
      assert.ok(macEqual(out, off + 6, s, 0));
    }),
  );
  assert.equal(checkEthernet(new Uint8Array(13), 0, 13), PR_TRUNCATED);
});

test('writeEthernetHeader swaps MACs in place (a reply)', () => {
  const f = Buffer.from('0242 0a000102 0242 0a000103 0800'.replace(/ /g, ''), 'hex');
  writeEthernetHeader(f, 0, f, 6, f, 0, 0x0806);
  assert.equal(macToString(f, 0), '02:42:0a:00:01:03');
  assert.equal(macToString(f, 6), '02:42:0a:00:01:02');
  setEthType(f, 0, ETHERTYPE_IPV6);
  assert.equal(ethType(f, 0), 0x86dd);
});

test('MAC helpers: Docker MAC from IPv4, IPv6 multicast MAC, flags, strings', () => {
  const m = new Uint8Array(8);
  writeMacFromIPv4(m, 1, 0x0a000102);
  assert.equal(macToString(m, 1), '02:42:0a:00:01:02');
  assert.ok(!isMulticastMac(m, 1));
  writeMacFromIPv6Multicast(m, 0, ip6('ff02::1:ff00:3'), 0);
  assert.equal(macToString(m), '33:33:ff:00:00:03');
  assert.ok(isMulticastMac(m, 0) && !isBroadcastMac(m, 0));
  assert.ok(isBroadcastMac(parseMac('ff:ff:ff:ff:ff:ff'), 0));
  assert.deepEqual([...parseMac('02-42-0A-00-01-03')], [2, 0x42, 10, 0, 1, 3]);
  const c = new Uint8Array(6);
  copyMac(c, 0, parseMac('02:42:0a:00:01:03'), 0);
  assert.equal(macToString(c), '02:42:0a:00:01:03');
  for (const bad of ['', '02:42:0a:00:01', '02:42:0a:00:01:0g', '02:42-0a:00:01:02', '2:42:a:0:1:2', '02:42:0a:00:01:02:03']) {
    assert.throws(() => parseMac(bad), (e: unknown) => e instanceof RangeError && e.message.includes(JSON.stringify(bad)));
  }
  fc.assert(fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (b) => assert.deepEqual([...parseMac(macToString(b))], [...b])));
});
