import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as M from '../../../src/dataplane/dns/message.js';
import { NameTable } from '../../../src/dataplane/dns/records.js';
import { Resolver, TCP_MAX_MESSAGE, type AnswerResult } from '../../../src/dataplane/dns/resolver.js';
import { fixturePath, readPcap } from '../../util/pcap.js';
import { buildQuery, decode, seeded, type Decoded } from './decode.js';

const UDP_PAYLOAD = 14 + 20 + 8;

function webTable(opts: { mode?: 'vip' | 'dnsrr'; ttl?: number } = {}): NameTable {
  const t = new NameTable({ domain: 'mesh', ttl: opts.ttl });
  t.addService({ name: 'web', mode: opts.mode ?? 'vip', vip4: '10.1.0.10', vip6: 'fd00:1::a', ports: [{ name: 'http', port: 80, protocol: 'tcp' }] });
  t.setTasks('web', [
    { name: 'web.1.aaa', ipv4: '10.1.0.11', ipv6: 'fd00:1::b' },
    { name: 'web.2.bbb', ipv4: '10.1.0.12' },
    { name: 'web.3.ccc', ipv4: '10.1.0.13' },
  ]);
  return t;
}

function run(r: Resolver, q: Buffer, rng = seeded(1), maxLen?: number): { res: AnswerResult; d?: Decoded; bytes?: Buffer } {
  const out = Buffer.alloc(70000);
  const res = r.answer(q, q.length, out, rng, maxLen);
  if (res.kind !== 'answer') return { res };
  const bytes = Buffer.from(out.subarray(0, res.length));
  return { res, d: decode(bytes), bytes };
}

/** Pointers must land on a name start inside the question (we only point at offset 12). */
function assertPointers(d: Decoded): void {
  for (const p of d.pointers) assert.equal(p, 12, `pointer to ${p}`);
}

const digs = readPcap(fixturePath('dig-queries.pcap')).map((f) => {
  const ulen = f.readUInt16BE(14 + 20 + 4);
  return f.subarray(UDP_PAYLOAD, UDP_PAYLOAD + ulen - 8);
});

test('fixture: six dig queries parse', () => {
  assert.equal(digs.length, 6);
  const q = M.newDnsQuery();
  const seen = digs.map((b) => {
    assert.equal(M.parseQuery(b, b.length, q), M.DP_OK);
    return `${q.qname} ${q.qtype} edns=${q.edns ? q.ednsUdpSize : '-'}`;
  });
  assert.deepEqual(seen, [
    'web.mesh 1 edns=1232', 'web.mesh 28 edns=1232', '_http._tcp.web.mesh 33 edns=1232',
    '10.1.0.10.in-addr.arpa 12 edns=1232', 'tasks.web.mesh 1 edns=1232', 'web.mesh 1 edns=-',
  ]);
});

test('fixture: dig A web.mesh → VIP, ID, question, EDNS echoed', () => {
  const r = new Resolver(webTable());
  const q = digs[0];
  const { res, d, bytes } = run(r, q);
  assert.equal(res.kind, 'answer');
  assert.ok(d && bytes);
  assert.equal(d.id, q.readUInt16BE(0));
  assert.ok(d.qr && d.aa && d.rd && d.ra && !d.tc);
  assert.equal(d.rcode, 0);
  assert.deepEqual(d.question, [{ name: 'web.mesh', type: 1, class: 1 }]);
  // The question bytes are the query's, verbatim.
  assert.deepEqual(bytes.subarray(12, 12 + 14), q.subarray(12, 12 + 14));
  assert.deepEqual(d.answer.map((a) => [a.name, a.type, a.ttl, a.data]), [['web.mesh', 1, 5, '10.1.0.10']]);
  assert.equal(d.additional.length, 1);
  const opt = d.additional[0];
  assert.deepEqual([opt.name, opt.type, opt.class, opt.ttl, opt.rdata.length], ['', 41, 1232, 0, 0]);
  assertPointers(d);
  assert.ok(d.pointers.length >= 1, 'the answer owner is compressed');
});

test('fixture: dig AAAA web.mesh → v6 VIP', () => {
  const { d } = run(new Resolver(webTable()), digs[1]);
  assert.ok(d);
  assert.equal(d.id, digs[1].readUInt16BE(0));
  assert.deepEqual(d.answer.map((a) => [a.type, a.data]), [[28, 'fd00:1:0:0:0:0:0:a']]);
  assert.equal(d.additional.at(-1)?.type, 41);
  assertPointers(d);
});

test('fixture: dig SRV _http._tcp.web.mesh → VIP target with glue', () => {
  const { d } = run(new Resolver(webTable()), digs[2]);
  assert.ok(d);
  assert.deepEqual(d.answer.map((a) => [a.name, a.type, a.data]), [['_http._tcp.web.mesh', 33, '0 0 80 web.mesh']]);
  assert.deepEqual(d.additional.map((a) => [a.name, a.type, a.data]), [
    ['web.mesh', 1, '10.1.0.10'], ['web.mesh', 28, 'fd00:1:0:0:0:0:0:a'], ['', 41, ''],
  ]);
  assertPointers(d);
});

test('fixture: dig PTR 10.1.0.10.in-addr.arpa asks for 10.0.1.10 (reversed), not ours → forward', () => {
  // The capture's PTR name reverses to 10.0.1.10: it is not the VIP 10.1.0.10.
  const r = new Resolver(webTable());
  assert.deepEqual(run(r, digs[3]).res, { kind: 'forward' });
  // Once 10.0.1.10 is ours it is answered.
  const t = webTable();
  t.addService({ name: 'api', mode: 'vip', vip4: '10.0.1.10' });
  const { d } = run(new Resolver(t), digs[3]);
  assert.ok(d);
  assert.deepEqual(d.answer.map((a) => [a.name, a.type, a.data]), [['10.1.0.10.in-addr.arpa', 12, 'api.mesh']]);
  assertPointers(d);
});

test('fixture: dig A tasks.web.mesh → all task IPs', () => {
  const { d } = run(new Resolver(webTable()), digs[4]);
  assert.ok(d);
  assert.deepEqual(d.answer.map((a) => a.data).sort(), ['10.1.0.11', '10.1.0.12', '10.1.0.13']);
  assert.ok(d.answer.every((a) => a.name === 'tasks.web.mesh' && a.ttl === 5));
  assertPointers(d);
});

test('fixture: dig A without EDNS → no OPT in the reply', () => {
  const { d } = run(new Resolver(webTable()), digs[5]);
  assert.ok(d);
  assert.equal(d.id, digs[5].readUInt16BE(0));
  assert.deepEqual(d.answer.map((a) => a.data), ['10.1.0.10']);
  assert.equal(d.additional.length, 0);
});

test('bare names and case: WEB answers like web.mesh, question case kept', () => {
  const r = new Resolver(webTable());
  const { d: bare } = run(r, buildQuery(7, 'web', 1));
  assert.deepEqual(bare?.answer.map((a) => [a.name, a.data]), [['web', '10.1.0.10']]);
  const { d: mixed } = run(r, buildQuery(8, 'WeB.MeSh', 1));
  assert.equal(mixed?.question[0].name, 'WeB.MeSh');
  assert.deepEqual(mixed?.answer.map((a) => a.data), ['10.1.0.10']);
});

test('dnsrr: shuffled task IPs, all present, different orders across seeds', () => {
  const t = webTable({ mode: 'dnsrr' });
  t.setTasks('web', Array.from({ length: 8 }, (_, i) => ({ name: `web.${i + 1}.t${i}`, ipv4: `10.1.0.${20 + i}` })));
  const r = new Resolver(t);
  const want = Array.from({ length: 8 }, (_, i) => `10.1.0.${20 + i}`);
  const orders = new Set<string>();
  for (let seed = 0; seed < 20; seed++) {
    const { d } = run(r, buildQuery(seed, 'web.mesh', 1, 1232), seeded(seed));
    assert.ok(d);
    const got = d.answer.map((a) => a.data);
    assert.deepEqual([...got].sort(), [...want].sort());
    orders.add(got.join(','));
    // Same seed, same order: the rng is the only source of randomness.
    const again = run(r, buildQuery(seed, 'web.mesh', 1, 1232), seeded(seed)).d;
    assert.deepEqual(again?.answer.map((a) => a.data), got);
  }
  assert.ok(orders.size > 10, `only ${orders.size} distinct orders`);
});

test('dnsrr: AAAA only for tasks with v6, NODATA with no tasks', () => {
  const t = webTable({ mode: 'dnsrr' });
  const r = new Resolver(t);
  assert.deepEqual(run(r, buildQuery(1, 'web.mesh', 28)).d?.answer.map((a) => a.data), ['fd00:1:0:0:0:0:0:b']);
  t.setTasks('web', []);
  const { d } = run(r, buildQuery(2, 'web.mesh', 1));
  assert.equal(d?.rcode, 0);
  assert.equal(d?.answer.length, 0);
});

test('SRV in dnsrr: one record per task, targets are task names with glue', () => {
  const { d } = run(new Resolver(webTable({ mode: 'dnsrr' })), buildQuery(3, '_http._tcp.web.mesh', 33, 1232));
  assert.ok(d);
  assert.deepEqual(d.answer.map((a) => a.data).sort(), ['0 0 80 web.1.aaa.mesh', '0 0 80 web.2.bbb.mesh', '0 0 80 web.3.ccc.mesh']);
  assert.deepEqual(d.additional.filter((a) => a.type === 1).map((a) => `${a.name}=${a.data}`).sort(), [
    'web.1.aaa.mesh=10.1.0.11', 'web.2.bbb.mesh=10.1.0.12', 'web.3.ccc.mesh=10.1.0.13',
  ]);
});

test('PTR: v4 and v6 for VIPs and tasks; unknown reverse names forwarded', () => {
  const r = new Resolver(webTable());
  const ptr = (n: string) => run(r, buildQuery(4, n, 12)).d?.answer.map((a) => a.data);
  assert.deepEqual(ptr('10.0.1.10.in-addr.arpa'), ['web.mesh']);
  assert.deepEqual(ptr('11.0.1.10.in-addr.arpa'), ['web.1.aaa.mesh']);
  const v6 = (hex: string) => [...hex].reverse().join('.') + '.ip6.arpa';
  assert.deepEqual(ptr(v6('fd00000100000000000000000000000a')), ['web.mesh']);
  assert.deepEqual(ptr(v6('fd00000100000000000000000000000b')), ['web.1.aaa.mesh']);
  assert.deepEqual(run(r, buildQuery(5, '99.0.1.10.in-addr.arpa', 12)).res, { kind: 'forward' });
  assert.deepEqual(run(r, buildQuery(5, '0.1.10.in-addr.arpa', 12)).res, { kind: 'forward' });
  assert.deepEqual(run(r, buildQuery(5, '010.0.1.10.in-addr.arpa', 12)).res, { kind: 'forward' });
  // A for a reverse name of ours: NODATA
  const nodata = run(r, buildQuery(6, '10.0.1.10.in-addr.arpa', 1)).d;
  assert.deepEqual([nodata?.rcode, nodata?.answer.length], [0, 0]);
});

test('NXDOMAIN under the domain, NODATA for a missing type, forward outside', () => {
  const r = new Resolver(webTable());
  const nx = run(r, buildQuery(1, 'nope.mesh', 1, 1232)).d;
  assert.deepEqual([nx?.rcode, nx?.aa, nx?.answer.length], [3, true, 0]);
  assert.equal(run(r, buildQuery(1, '_ftp._tcp.web.mesh', 33)).d?.rcode, 3);
  const nodata = run(r, buildQuery(2, 'web.mesh', 33)).d;
  assert.deepEqual([nodata?.rcode, nodata?.answer.length], [0, 0]);
  const srvA = run(r, buildQuery(2, '_http._tcp.web.mesh', 1)).d;
  assert.deepEqual([srvA?.rcode, srvA?.answer.length], [0, 0]);
  const apex = run(r, buildQuery(2, 'mesh', 1)).d;
  assert.deepEqual([apex?.rcode, apex?.answer.length], [0, 0]);
  assert.deepEqual(run(r, buildQuery(3, 'example.org', 1)).res, { kind: 'forward' });
  assert.deepEqual(run(r, buildQuery(3, 'nope', 1)).res, { kind: 'forward' });
  assert.deepEqual(run(r, buildQuery(3, '', 2)).res, { kind: 'forward' });
});

test('task names answer their own address; TTL is the table\'s', () => {
  const r = new Resolver(webTable({ ttl: 30 }));
  const d = run(r, buildQuery(1, 'web.1.aaa.mesh', 255)).d;
  assert.deepEqual(d?.answer.map((a) => [a.type, a.ttl, a.data]), [[1, 30, '10.1.0.11'], [28, 30, 'fd00:1:0:0:0:0:0:b']]);
});

test('TC when the answer exceeds the client size; whole records only; TCP gets everything', () => {
  const t = webTable({ mode: 'dnsrr' });
  t.setTasks('web', Array.from({ length: 200 }, (_, i) => ({ name: `web.${i}.x`, ipv4: `10.2.${i >> 8}.${i & 255}` })));
  const r = new Resolver(t);
  const classic = run(r, buildQuery(1, 'web.mesh', 1));
  assert.ok(classic.d && classic.bytes && classic.res.kind === 'answer');
  assert.ok(classic.d.tc && classic.res.truncated);
  assert.ok(classic.bytes.length <= 512);
  assert.equal(classic.d.answer.length, Math.floor((512 - 12 - 14) / 16));
  const edns = run(r, buildQuery(2, 'web.mesh', 1, 4096));
  assert.ok(edns.d?.tc && edns.bytes);
  assert.ok(edns.bytes.length <= 1232, 'client size capped at 1232');
  assert.equal(edns.d.additional.at(-1)?.type, 41, 'OPT kept under truncation');
  assert.equal(edns.d.additional.at(-1)?.class, 1232);
  const tcp = run(r, buildQuery(3, 'web.mesh', 1), seeded(1), TCP_MAX_MESSAGE);
  assert.equal(tcp.d?.tc, false);
  assert.equal(tcp.d?.answer.length, 200);
});

test('EDNS: small sizes raised to 512, big ones capped, BADVERS for version 1, DO copied', () => {
  const r = new Resolver(webTable());
  assert.equal(run(r, buildQuery(1, 'web.mesh', 1, 100)).d?.additional[0].class, 512);
  assert.equal(run(r, buildQuery(1, 'web.mesh', 1, 65000)).d?.additional[0].class, 1232);
  const bad = run(r, buildQuery(1, 'web.mesh', 1, 1232, { ednsVersion: 1 })).d;
  assert.ok(bad);
  assert.equal(bad.rcode, 0);
  assert.equal(bad.additional[0].ttl >>> 24, 1, 'extended rcode 16 = BADVERS');
  const q = buildQuery(1, 'web.mesh', 1, 1232);
  q[q.length - 4] = 0x80; // DO (high bit of the OPT flags)
  assert.equal(run(r, q).d?.additional[0].ttl, 0x8000);
});

test('opcode, class and transfer handling', () => {
  const r = new Resolver(webTable());
  assert.equal(run(r, buildQuery(1, 'web.mesh', 1, undefined, { flags: 2 << 11 })).d?.rcode, M.RCODE_NOTIMP);
  assert.equal(run(r, buildQuery(1, 'web.mesh', 1, undefined, { cls: 3 })).d?.rcode, M.RCODE_REFUSED);
  assert.equal(run(r, buildQuery(1, 'web.mesh', 252)).d?.rcode, M.RCODE_REFUSED);
  assert.deepEqual(run(r, buildQuery(1, 'web.mesh', 1, undefined, { flags: 0x8100 })).res, { kind: 'drop', reason: 'response' });
  assert.deepEqual(run(r, Buffer.alloc(5)).res, { kind: 'drop', reason: 'short' });
});

test('malformed: FORMERR header-only with the ID, parse codes by reason', () => {
  const r = new Resolver(webTable());
  const q = M.newDnsQuery();
  const cases: [string, Buffer, number][] = [
    ['qdcount 0', Buffer.from('00010100000000000000000000', 'hex'), M.DP_BAD_QDCOUNT],
    ['qdcount 2', Buffer.from('000101000002000000000000036162630000010001', 'hex'), M.DP_BAD_QDCOUNT],
    ['cut name', Buffer.from('00010100000100000000000003616263', 'hex'), M.DP_TRUNCATED],
    ['self pointer', Buffer.from('000101000001000000000000c00c00010001', 'hex'), M.DP_BAD_POINTER],
    ['forward pointer', Buffer.from('000101000001000000000000c00e0001000100', 'hex'), M.DP_BAD_POINTER],
    ['label 0x40', Buffer.from('000101000001000000000000400000010001', 'hex'), M.DP_BAD_LABEL],
    ['name > 255', Buffer.concat([Buffer.from('000101000001000000000000', 'hex'), Buffer.alloc(0), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from('0000010001', 'hex')]), M.DP_NAME_TOO_LONG],
    ['two OPT', Buffer.concat([buildQuery(1, 'a', 1, 1232).subarray(0, -11).fill(0x02, 11, 12), Buffer.from('0000290200000000000000', 'hex'), Buffer.from('0000290200000000000000', 'hex')]), M.DP_BAD_OPT],
  ];
  for (const [what, bytes, code] of cases) {
    assert.equal(M.parseQuery(bytes, bytes.length, q), code, what);
    const { res, d } = run(r, bytes);
    assert.equal(res.kind, 'answer', what);
    assert.equal(d?.rcode, M.RCODE_FORMERR, what);
    assert.equal(d?.id, 1, what);
    assert.equal(d?.question.length, 0, what);
  }
});

test('pointer chains: strictly backwards and at most MAX_POINTER_HOPS hops', () => {
  // Record 1 (an answer, skipped in a query) carries in its rdata a chain of pointers, each to
  // the one before, the first to the question name; record 2's owner points at the chain's end.
  const chain = (k: number): Buffer => {
    const head = Buffer.from('000101000001000200000000' + '016100' + '00010001', 'hex');
    const base = head.length + 11;
    const rr1 = Buffer.alloc(11);
    rr1.writeUInt16BE(16, 1);
    rr1.writeUInt16BE(1, 3);
    rr1.writeUInt16BE(2 * k, 9);
    const links = Buffer.alloc(2 * k);
    for (let i = 0; i < k; i++) links.writeUInt16BE(0xc000 | (i === 0 ? 12 : base + 2 * (i - 1)), 2 * i);
    const rr2 = Buffer.alloc(12);
    rr2.writeUInt16BE(0xc000 | (base + 2 * (k - 1)), 0);
    rr2.writeUInt16BE(1, 2);
    rr2.writeUInt16BE(1, 4);
    return Buffer.concat([head, rr1, links, rr2]);
  };
  const q = M.newDnsQuery();
  const ok = chain(M.MAX_POINTER_HOPS - 1);
  assert.equal(M.parseQuery(ok, ok.length, q), M.DP_OK);
  const tooLong = chain(M.MAX_POINTER_HOPS + 1);
  assert.equal(M.parseQuery(tooLong, tooLong.length, q), M.DP_BAD_POINTER);
  // A two-pointer loop (a → b → a) is rejected by the backwards rule.
  const loop = Buffer.from('000101000001000100000000' + '016100' + '00010001' + 'c01b' + '000100010000000000' + 'c013' + '000100010000000000', 'hex');
  assert.equal(M.parseQuery(loop, loop.length, q), M.DP_BAD_POINTER);
});
