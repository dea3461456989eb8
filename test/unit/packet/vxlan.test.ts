import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ETH_HLEN, ETHERTYPE_IPV4, PR_OK, PR_TRUNCATED, PR_VXLAN_FLAGS, VXLAN_HLEN, VXLAN_OVERHEAD_IPV4, VXLAN_OVERHEAD_IPV6,
  VXLAN_PORT, VXLAN_PREFIX_LEN, checkVxlan, ethType, macToString, vxlanVni, writeVxlan, writeVxlanPrefix,
} from '../../../src/dataplane/packet/index.js';

test('constants: IANA port and the 50/70-byte overheads', () => {
  assert.equal(VXLAN_PORT, 4789);
  assert.equal(VXLAN_OVERHEAD_IPV4, 50);
  assert.equal(VXLAN_OVERHEAD_IPV6, 70);
  assert.equal(VXLAN_PREFIX_LEN, VXLAN_HLEN + ETH_HLEN);
});

test('writeVxlan round-trips every VNI', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffff }), fc.nat(7), (vni, off) => {
      const out = new Uint8Array(off + 8).fill(0xee);
      assert.equal(writeVxlan(out, off, vni), VXLAN_HLEN);
      assert.equal(checkVxlan(out, off, 8), PR_OK);
      assert.equal(vxlanVni(out, off), vni);
      assert.deepEqual([out[off], out[off + 1], out[off + 2], out[off + 3], out[off + 7]], [8, 0, 0, 0, 0]);
    }),
  );
});

test('checkVxlan: I flag required, reserved bits ignored (RFC 7348 section 5)', () => {
  const b = new Uint8Array(8);
  writeVxlan(b, 0, 4097);
  assert.equal(checkVxlan(b, 0, 7), PR_TRUNCATED);
  b[0] = 0x00;
  assert.equal(checkVxlan(b, 0, 8), PR_VXLAN_FLAGS);
  b[0] = 0xf7;
  assert.equal(checkVxlan(b, 0, 8), PR_VXLAN_FLAGS);
  b[0] = 0x88; // G bit of Group Policy plus I: still VXLAN to us
  b[1] = 0xff;
  b[7] = 0xff;
  assert.equal(checkVxlan(b, 0, 8), PR_OK);
  assert.equal(vxlanVni(b, 0), 4097);
});

test('writeVxlanPrefix writes VXLAN + inner Ethernet in front of a packet', () => {
  const out = new Uint8Array(30);
  const dst = Uint8Array.of(2, 0x42, 10, 0, 1, 3);
  const src = Uint8Array.of(2, 0x42, 10, 0, 1, 2);
  assert.equal(writeVxlanPrefix(out, 2, 4097, dst, 0, src, 0, ETHERTYPE_IPV4), 22);
  assert.equal(vxlanVni(out, 2), 4097);
  assert.equal(macToString(out, 2 + 8), '02:42:0a:00:01:03');
  assert.equal(macToString(out, 2 + 14), '02:42:0a:00:01:02');
  assert.equal(ethType(out, 2 + 8), 0x0800);
});
