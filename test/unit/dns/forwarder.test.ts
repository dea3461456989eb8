import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dnsCountersSnapshot } from '../../../src/dataplane/dns/counters.js';
import { Forwarder, type Upstream } from '../../../src/dataplane/dns/forwarder.js';
import { buildQuery, decode, seeded } from './decode.js';

const U1: Upstream = { address: '127.0.0.1', port: 5301 };
const U2: Upstream = { address: '127.0.0.1', port: 5302 };

interface Harness {
  fwd: Forwarder<string>;
  sent: { msg: Buffer; to: Upstream }[];
  got: { client: string; reply: Buffer }[];
}

function harness(opts: { upstreams?: Upstream[]; maxPending?: number; attempts?: number; timeoutMs?: number } = {}): Harness {
  const sent: Harness['sent'] = [];
  const got: Harness['got'] = [];
  const fwd = new Forwarder<string>({
    upstreams: opts.upstreams ?? [U1, U2],
    transport: { send: (msg, to) => sent.push({ msg: Buffer.from(msg), to }) },
    deliver: (client, reply) => got.push({ client, reply: Buffer.from(reply) }),
    rng: seeded(42),
    timeoutMs: opts.timeoutMs ?? 1000,
    maxPending: opts.maxPending,
    attempts: opts.attempts,
  });
  return { fwd, sent, got };
}

/** The upstream's reply to a forwarded message: same ID and question, QR set, one A record. */
function upstreamReply(msg: Buffer): Buffer {
  const r = Buffer.concat([msg, Buffer.from('c00c000100010000003c0004c0000201', 'hex')]);
  r.writeUInt16BE(0x8180, 2);
  r.writeUInt16BE(1, 6);
  r.writeUInt16BE(0, 10);
  return r.subarray(0, r.length);
}

function plainQuery(id: number, name = 'example.org'): Buffer {
  return buildQuery(id, name, 1);
}

test('forward: fresh upstream ID, reply mapped back to the client ID', () => {
  const h = harness();
  assert.equal(h.fwd.forward(plainQuery(0x1234), 29, 'c1', 0), 'sent');
  assert.equal(h.sent.length, 1);
  const up = h.sent[0].msg;
  assert.notEqual(up.readUInt16BE(0), 0x1234);
  assert.deepEqual(up.subarray(2), plainQuery(0x1234).subarray(2), 'only the ID changes');
  const reply = upstreamReply(up);
  assert.equal(h.fwd.onReply(reply, reply.length, U1), true);
  assert.equal(h.got.length, 1);
  const d = decode(h.got[0].reply);
  assert.equal(d.id, 0x1234);
  assert.deepEqual(d.answer.map((a) => a.data), ['192.0.2.1']);
  assert.equal(h.fwd.size, 0);
  // A duplicate reply is stray now.
  assert.equal(h.fwd.onReply(upstreamReply(up), reply.length, U1), false);
});

test('forward: replies from the wrong address, with the wrong question, or not QR are ignored', () => {
  const h = harness();
  h.fwd.forward(plainQuery(1), 29, 'c1', 0);
  const up = h.sent[0].msg;
  const to = h.sent[0].to;
  const other = to === U1 ? U2 : U1;
  const r = upstreamReply(up);
  assert.equal(h.fwd.onReply(r, r.length, other), false, 'other upstream');
  assert.equal(h.fwd.onReply(r, r.length, { address: '127.0.0.2', port: to.port }), false, 'stranger');
  const wrongQ = upstreamReply(up);
  wrongQ[14] ^= 1;
  assert.equal(h.fwd.onReply(wrongQ, wrongQ.length, to), false, 'question differs');
  const notQr = Buffer.from(up);
  assert.equal(h.fwd.onReply(notQr, notQr.length, to), false, 'not a response');
  assert.equal(h.got.length, 0);
  assert.equal(dnsCountersSnapshot(h.fwd.counters).stray_replies, 4);
  // Upper case from the upstream is fine (RFC 4343).
  const upper = upstreamReply(up);
  upper[13] = 'E'.charCodeAt(0);
  assert.equal(h.fwd.onReply(upper, upper.length, to), true);
});

test('round-robin across upstreams for new queries', () => {
  const h = harness();
  for (let i = 0; i < 4; i++) h.fwd.forward(plainQuery(i), 29, `c${i}`, 0);
  assert.deepEqual(h.sent.map((s) => s.to.port), [5301, 5302, 5301, 5302]);
});

test('timeout: fail over to the next upstream, then SERVFAIL to the client', () => {
  const h = harness();
  h.fwd.forward(plainQuery(0xbeef), 29, 'c1', 0);
  h.fwd.tick(999);
  assert.equal(h.sent.length, 1, 'not yet');
  h.fwd.tick(1000);
  assert.deepEqual(h.sent.map((s) => s.to.port), [5301, 5302], 'retried on the other upstream');
  h.fwd.tick(1999);
  assert.equal(h.got.length, 0);
  h.fwd.tick(2000);
  assert.equal(h.got.length, 1);
  const d = decode(h.got[0].reply);
  assert.deepEqual([d.id, d.rcode, d.qr, d.question[0].name], [0xbeef, 2, true, 'example.org']);
  const c = dnsCountersSnapshot(h.fwd.counters);
  assert.deepEqual([c.timeouts, c.retries, c.rcode_servfail, c.forwarded], [2, 1, 1, 1]);
  assert.equal(h.fwd.size, 0);
});

test('a late reply from the first upstream is still accepted after failover', () => {
  const h = harness();
  h.fwd.forward(plainQuery(7), 29, 'c1', 0);
  h.fwd.tick(1000);
  const first = h.sent[0];
  const r = upstreamReply(first.msg);
  assert.equal(h.fwd.onReply(r, r.length, first.to), true);
  h.fwd.tick(5000);
  assert.equal(h.got.length, 1, 'no SERVFAIL after the reply');
});

test('an upstream that keeps timing out is skipped for new queries', () => {
  const h = harness({ attempts: 1 });
  // Three queries land on U1 (with U2 answering its share) and time out.
  for (let i = 0; i < 6; i++) {
    h.fwd.forward(plainQuery(i), 29, `c${i}`, i);
    const s = h.sent.at(-1)!;
    if (s.to === U2) { const r = upstreamReply(s.msg); h.fwd.onReply(r, r.length, U2); }
  }
  h.fwd.tick(10_000);
  h.sent.length = 0;
  for (let i = 0; i < 4; i++) h.fwd.forward(plainQuery(i), 29, 'x', 20_000);
  assert.deepEqual(h.sent.map((s) => s.to.port), [5302, 5302, 5302, 5302]);
});

test('pending table full → immediate SERVFAIL, counted', () => {
  const h = harness({ maxPending: 3 });
  for (let i = 0; i < 3; i++) assert.equal(h.fwd.forward(plainQuery(i), 29, `c${i}`, 0), 'sent');
  assert.equal(h.fwd.forward(plainQuery(99), 29, 'c99', 0), 'full');
  assert.equal(h.got.length, 1);
  assert.deepEqual([h.got[0].client, decode(h.got[0].reply).rcode, decode(h.got[0].reply).id], ['c99', 2, 99]);
  assert.equal(dnsCountersSnapshot(h.fwd.counters).pending_full, 1);
  // IDs of concurrent queries are distinct.
  assert.equal(new Set(h.sent.map((s) => s.msg.readUInt16BE(0))).size, 3);
});

test('no upstream → SERVFAIL with EDNS echoed', () => {
  const h = harness({ upstreams: [] });
  const q = buildQuery(5, 'example.org', 1, 1232);
  assert.equal(h.fwd.forward(q, q.length, 'c', 0), 'no_upstream');
  const d = decode(h.got[0].reply);
  assert.deepEqual([d.rcode, d.additional[0]?.type], [2, 41]);
});

test('close: every pending query gets SERVFAIL', () => {
  const h = harness();
  h.fwd.forward(plainQuery(1), 29, 'a', 0);
  h.fwd.forward(plainQuery(2), 29, 'b', 0);
  h.fwd.close();
  assert.deepEqual(h.got.map((g) => [g.client, decode(g.reply).id, decode(g.reply).rcode]), [['a', 1, 2], ['b', 2, 2]]);
});
