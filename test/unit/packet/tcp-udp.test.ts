import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  PR_BAD_TCP_DOFF, PR_BAD_UDP_LEN, PR_OK, PR_TRUNCATED, TCPOPT_MSS, TCPOPT_SACK_PERMITTED, TCPOPT_TIMESTAMP,
  TCPOPT_WSCALE, TCP_FLAG_ACK, TCP_FLAG_SYN, checkTcp, checkUdp, tcpAck, tcpChecksum, tcpClampMss, tcpDataOffset,
  tcpDstPort, tcpFlags, tcpMss, tcpOptionOffset, tcpSeq, tcpSrcPort, tcpUrgent, tcpWindow, udpChecksum, udpDstPort,
  udpLength, udpSrcPort, verifyL4Checksum4, writeTcpHeader, writeUdpHeader,
} from '../../../src/dataplane/packet/index.js';
import { build } from './builder.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

test('writeUdpHeader round-trips', () => {
  fc.assert(
    fc.property(u16, u16, fc.integer({ min: 8, max: 0xffff }), u16, fc.nat(3), (s, d, l, c, off) => {
      const out = new Uint8Array(off + 8);
      assert.equal(writeUdpHeader(out, off, s, d, l, c), 8);
      assert.equal(checkUdp(out, off, l), PR_OK);
      assert.deepEqual([udpSrcPort(out, off), udpDstPort(out, off), udpLength(out, off), udpChecksum(out, off)], [s, d, l, c]);
    }),
  );
  const u = new Uint8Array(8);
  writeUdpHeader(u, 0, 1, 2, 20);
  assert.equal(checkUdp(u, 0, 7), PR_TRUNCATED);
  assert.equal(checkUdp(u, 0, 19), PR_BAD_UDP_LEN);
  assert.equal(checkUdp(u, 0, 30), PR_OK, 'IP payload longer than UDP Length: padding');
  writeUdpHeader(u, 0, 1, 2, 7);
  assert.equal(checkUdp(u, 0, 8), PR_BAD_UDP_LEN);
});

test('writeTcpHeader round-trips', () => {
  fc.assert(
    fc.property(u16, u16, u32, u32, fc.integer({ min: 0, max: 255 }), u16, fc.nat(3), (s, d, seq, ack, fl, w, off) => {
      const out = new Uint8Array(off + 20);
      assert.equal(writeTcpHeader(out, off, s, d, seq, ack, fl, w), 20);
      assert.equal(checkTcp(out, off, 20), PR_OK);
      assert.deepEqual(
        [tcpSrcPort(out, off), tcpDstPort(out, off), tcpSeq(out, off), tcpAck(out, off), tcpFlags(out, off), tcpWindow(out, off), tcpDataOffset(out, off), tcpChecksum(out, off), tcpUrgent(out, off)],
        [s, d, seq, ack, fl, w, 20, 0, 0],
      );
      assert.equal(tcpOptionOffset(out, off, TCPOPT_MSS), -1);
    }),
  );
  const t = new Uint8Array(24);
  writeTcpHeader(t, 0, 1, 2, 3, 4, 5, 6);
  assert.equal(checkTcp(t, 0, 19), PR_TRUNCATED);
  t[12] = 4 << 4;
  assert.equal(checkTcp(t, 0, 24), PR_BAD_TCP_DOFF);
  t[12] = 6 << 4;
  assert.equal(checkTcp(t, 0, 23), PR_BAD_TCP_DOFF);
  assert.equal(checkTcp(t, 0, 24), PR_OK);
});

// The SYN options Linux sent in the fixture: mss 1410, sackOK, TS, nop, wscale 10.
const synOptions = Uint8Array.of(2, 4, 0x05, 0x82, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 10);

test('TCP option walk and MSS clamping (even and odd alignment)', () => {
  const syn = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3' }).tcp({ sport: 47638, dport: 8080, flags: TCP_FLAG_SYN, options: synOptions }).bytes();
  const t = 20;
  assert.equal(tcpDataOffset(syn, t), 40);
  assert.equal(tcpMss(syn, t), 1410);
  assert.equal(tcpOptionOffset(syn, t, TCPOPT_SACK_PERMITTED), t + 24);
  assert.equal(tcpOptionOffset(syn, t, TCPOPT_TIMESTAMP), t + 26);
  assert.equal(tcpOptionOffset(syn, t, TCPOPT_WSCALE), t + 37);
  assert.equal(tcpClampMss(syn, t, 1500), false, 'never raises');
  assert.equal(tcpClampMss(syn, t, 1360), true);
  assert.equal(tcpMss(syn, t), 1360);
  assert.ok(verifyL4Checksum4(syn, 0));
  // MSS value at an odd offset from the TCP header start (after one NOP).
  const odd = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3' }).tcp({ sport: 1, dport: 2, flags: TCP_FLAG_SYN | TCP_FLAG_ACK, options: Uint8Array.of(1, 2, 4, 0x05, 0xb4, 1, 1, 1) }).bytes();
  assert.equal(tcpMss(odd, t), 1460);
  assert.equal(tcpClampMss(odd, t, 1398), true);
  assert.equal(tcpMss(odd, t), 1398);
  assert.ok(verifyL4Checksum4(odd, 0), 'odd-aligned field updated with byte-swapped words');
  // Malformed options: a zero length stops the walk instead of looping.
  const bad = build().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).tcp({ sport: 1, dport: 2, options: Uint8Array.of(3, 0, 2, 4, 5, 0, 0, 0) }).bytes();
  assert.equal(tcpMss(bad, t), -1);
  assert.equal(tcpClampMss(bad, t, 1000), false);
});
