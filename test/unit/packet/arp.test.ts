import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_SENDER_MAC, ARP_TARGET_MAC, PR_ARP_UNSUPPORTED, PR_OK, PR_TRUNCATED,
  arpOp, arpSenderIp, arpTargetIp, checkArp, macEqual, writeArpReply, writeArpRequest,
} from '../../../src/dataplane/packet/index.js';

const mac6 = fc.uint8Array({ minLength: 6, maxLength: 6 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

test('writeArpRequest / writeArpReply round-trip through checkArp and the readers', () => {
  fc.assert(
    fc.property(mac6, u32, mac6, u32, fc.nat(5), (sm, sip, tm, tip, off) => {
      const out = new Uint8Array(off + ARP_LEN);
      assert.equal(writeArpReply(out, off, sm, 0, sip, tm, 0, tip), ARP_LEN);
      assert.equal(checkArp(out, off, ARP_LEN), PR_OK);
      assert.equal(arpOp(out, off), ARP_OP_REPLY);
      assert.equal(arpSenderIp(out, off), sip);
      assert.equal(arpTargetIp(out, off), tip);
      assert.ok(macEqual(out, off + ARP_SENDER_MAC, sm, 0));
      assert.ok(macEqual(out, off + ARP_TARGET_MAC, tm, 0));
      assert.equal(writeArpRequest(out, off, sm, 0, sip, tip), ARP_LEN);
      assert.equal(checkArp(out, off, ARP_LEN), PR_OK);
      assert.equal(arpOp(out, off), ARP_OP_REQUEST);
      assert.ok(macEqual(out, off + ARP_TARGET_MAC, new Uint8Array(6), 0));
    }),
  );
});

test('writeArpReply answers in place: the request buffer becomes the reply', () => {
  const req = new Uint8Array(ARP_LEN);
  const requester = Uint8Array.of(2, 0x42, 10, 0, 1, 2);
  const me = Uint8Array.of(2, 0x42, 10, 0, 1, 3);
  writeArpRequest(req, 0, requester, 0, 0x0a000102, 0x0a000103);
  writeArpReply(req, 0, me, 0, arpTargetIp(req, 0), req, ARP_SENDER_MAC, arpSenderIp(req, 0));
  assert.ok(macEqual(req, ARP_SENDER_MAC, me, 0));
  assert.ok(macEqual(req, ARP_TARGET_MAC, requester, 0));
  assert.equal(arpSenderIp(req, 0), 0x0a000103);
  assert.equal(arpTargetIp(req, 0), 0x0a000102);
});

test('checkArp rejects what is not Ethernet/IPv4 request or reply', () => {
  const good = new Uint8Array(ARP_LEN);
  writeArpRequest(good, 0, new Uint8Array(6), 0, 1, 2);
  assert.equal(checkArp(good, 0, 27), PR_TRUNCATED);
  for (const [i, v] of [[1, 6], [0, 1], [2, 0x86], [3, 0xdd], [4, 8], [5, 16], [6, 1], [7, 3], [7, 0]] as const) {
    const b = Uint8Array.from(good);
    b[i] = v;
    assert.equal(checkArp(b, 0, ARP_LEN), PR_ARP_UNSUPPORTED, `byte ${i} = ${v}`);
  }
});
