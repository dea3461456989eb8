// Random and mutated queries: the codec and resolver never throw, always decide, and every
// reply they write decodes (with the independent decoder) and stays within its limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Forwarder } from '../../../src/dataplane/dns/forwarder.js';
import { NameTable } from '../../../src/dataplane/dns/records.js';
import { Resolver } from '../../../src/dataplane/dns/resolver.js';
import { fixturePath, readPcap } from '../../util/pcap.js';
import { buildQuery, decode, seeded } from './decode.js';

const table = new NameTable();
table.addService({ name: 'web', mode: 'vip', vip4: '10.1.0.10', vip6: 'fd00:1::a', ports: [{ name: 'http', port: 80, protocol: 'tcp' }] });
table.addService({ name: 'rr', mode: 'dnsrr', ports: [{ name: 'dns', port: 53, protocol: 'udp' }] });
table.setTasks('rr', Array.from({ length: 40 }, (_, i) => ({ name: `rr.${i}.t`, ipv4: `10.3.0.${i + 1}`, ipv6: `fd00:3::${i + 1}` })));
const resolver = new Resolver(table);
const out = Buffer.alloc(2048);

const seeds: Buffer[] = [
  ...readPcap(fixturePath('dig-queries.pcap')).map((f) => f.subarray(42, 42 + f.readUInt16BE(38) - 8)),
  buildQuery(1, 'rr.mesh', 255, 1232),
  buildQuery(2, '_dns._udp.rr.mesh', 33),
  buildQuery(3, '1.0.3.10.in-addr.arpa', 12, 600),
];

function check(bytes: Uint8Array, rng: () => number): void {
  const before = Buffer.from(bytes);
  const r = resolver.answer(bytes, bytes.length, out, rng);
  assert.deepEqual(Buffer.from(bytes), before, 'the query is not modified');
  assert.ok(r.kind === 'answer' || r.kind === 'forward' || r.kind === 'drop');
  if (r.kind === 'answer') {
    assert.ok(r.length >= 12 && r.length <= 1232);
    const d = decode(Buffer.from(out.subarray(0, r.length)));
    assert.equal(d.id, (bytes[0] << 8) | bytes[1]);
    assert.ok(d.qr);
  }
}

test('fuzz: random bytes never throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer(), (b, s) => check(b, seeded(s))), { numRuns: 3000 });
});

test('fuzz: mutated real queries never throw', () => {
  const mutation = fc.record({
    seed: fc.integer({ min: 0, max: seeds.length - 1 }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    cut: fc.nat(),
    tail: fc.uint8Array({ maxLength: 40 }),
  });
  fc.assert(fc.property(mutation, fc.integer(), (m, s) => {
    const base = Buffer.from(seeds[m.seed]);
    for (const [at, v] of m.flips) base[at % base.length] = v;
    const len = m.cut % (base.length + 1);
    check(Buffer.concat([base.subarray(0, len), m.tail]), seeded(s));
  }), { numRuns: 5000 });
});

test('fuzz: random names and types under and outside the domain decide correctly', () => {
  const label = fc.stringMatching(/^[a-zA-Z0-9_-]{1,20}$/);
  fc.assert(fc.property(fc.array(label, { minLength: 0, maxLength: 5 }), fc.constantFrom('', '.mesh', '.web.mesh', '.org'), fc.integer({ min: 0, max: 65535 }), (labels, suffix, type) => {
    const name = (labels.join('.') + suffix).replace(/^\./, '');
    const q = buildQuery(9, name, type, 1232);
    check(q, seeded(1));
    const r = resolver.answer(q, q.length, out, seeded(1));
    const lower = name.toLowerCase();
    if (lower.endsWith('.mesh') || lower === 'mesh') assert.equal(r.kind, 'answer');
  }), { numRuns: 2000 });
});

test('fuzz: the forwarder takes any upstream bytes without throwing or misdelivering', () => {
  const up = { address: '127.0.0.1', port: 53 };
  let sent: Buffer | null = null;
  let delivered = 0;
  const fwd = new Forwarder<number>({ upstreams: [up], transport: { send: (m) => { sent = Buffer.from(m); } }, deliver: () => { delivered++; }, rng: seeded(3) });
  fwd.forward(buildQuery(5, 'example.org', 1), 29, 1, 0);
  assert.ok(sent);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    const before = delivered;
    const ok = fwd.onReply(b, b.length, up);
    assert.equal(delivered - before, ok ? 1 : 0);
  }), { numRuns: 3000 });
});
