// The real client: dig against DnsServer on 127.0.0.1 (ephemeral ports), with a tiny upstream
// of our own on another loopback port for forwarded names. Nothing leaves loopback.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { dnsCountersSnapshot } from '../../../src/dataplane/dns/counters.js';
import * as M from '../../../src/dataplane/dns/message.js';
import { NameTable } from '../../../src/dataplane/dns/records.js';
import { DnsServer } from '../../../src/dataplane/dns/server.js';
import { decode, buildQuery, seeded } from './decode.js';

const run = promisify(execFile);

let digPath: string | null = null;
try {
  digPath = (await run('which', ['dig'])).stdout.trim() || null;
} catch {
  digPath = null;
}

const table = new NameTable({ domain: 'mesh', ttl: 5 });
table.addService({ name: 'web', mode: 'vip', vip4: '10.1.0.10', vip6: 'fd00:1::a', ports: [{ name: 'http', port: 80, protocol: 'tcp' }] });
table.setTasks('web', [
  { name: 'web.1.aaa', ipv4: '10.1.0.11' },
  { name: 'web.2.bbb', ipv4: '10.1.0.12' },
  { name: 'web.3.ccc', ipv4: '10.1.0.13' },
]);
table.addService({ name: 'big', mode: 'dnsrr' });
table.setTasks('big', Array.from({ length: 150 }, (_, i) => ({ name: `big.${i}.t`, ipv4: `10.9.${i >> 8}.${i & 255}` })));

// The upstream: answers every A query with 192.0.2.1, TTL 60, echoing the question.
const upstream = createSocket('udp4');
const upQuery = M.newDnsQuery();
let upstreamQueries = 0;
upstream.on('message', (msg, rinfo) => {
  upstreamQueries++;
  if (M.parseQuery(msg, msg.length, upQuery) !== M.DP_OK) return;
  const qEnd = 12 + upQuery.qnameWireLen + 4;
  const head = Buffer.from(msg.subarray(0, qEnd));
  head.writeUInt16BE(0x8180, 2);
  head.writeUInt16BE(1, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(0, 10);
  const rr = Buffer.from('c00c000100010000003c0004c0000201', 'hex');
  upstream.send(Buffer.concat([head, rr]), rinfo.port, rinfo.address);
});

let server: DnsServer;
let port = 0;

before(async () => {
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
  server = new DnsServer({
    table, address: '127.0.0.1', port: 0, rng: seeded(7), forwardTimeoutMs: 500, tickMs: 50,
    upstreams: [{ address: '127.0.0.1', port: upstream.address().port }],
  });
  // Port 0 gives UDP an ephemeral port; TCP binds the same number and may find it taken.
  for (let i = 0; ; i++) {
    try {
      port = (await server.start()).port;
      break;
    } catch (e) {
      if (i >= 5) throw e;
      server = new DnsServer({ table, address: '127.0.0.1', port: 0, rng: seeded(7), upstreams: [{ address: '127.0.0.1', port: upstream.address().port }] });
    }
  }
});

after(async () => {
  await server.close();
  await new Promise<void>((r) => upstream.close(() => r()));
});

interface DigResult { status: string; flags: string[]; answer: string[][]; tcp: boolean; raw: string }

async function dig(...args: string[]): Promise<DigResult> {
  assert.ok(digPath);
  const { stdout } = await run(digPath, ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=3', ...args]);
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? '?';
  const flags = (/;; flags: ([a-z ]+);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const answer: string[][] = [];
  const sec = stdout.split(';; ANSWER SECTION:\n')[1];
  if (sec !== undefined) {
    for (const line of sec.split('\n')) {
      if (line.trim() === '') break;
      answer.push(line.split(/\s+/));
    }
  }
  return { status, flags, answer, tcp: /\(TCP\)/.test(stdout), raw: stdout };
}

const skip = digPath === null ? 'dig not installed (apt-get install -y dnsutils)' : false;

test('dig A web.mesh → the VIP, authoritative, TTL 5', { skip }, async () => {
  const r = await dig('web.mesh', 'A');
  assert.equal(r.status, 'NOERROR');
  assert.ok(r.flags.includes('aa') && r.flags.includes('qr') && r.flags.includes('ra'), r.raw);
  assert.deepEqual(r.answer, [['web.mesh.', '5', 'IN', 'A', '10.1.0.10']]);
});

test('dig AAAA web.mesh', { skip }, async () => {
  const r = await dig('web.mesh', 'AAAA');
  assert.deepEqual(r.answer, [['web.mesh.', '5', 'IN', 'AAAA', 'fd00:1::a']]);
});

test('dig SRV _http._tcp.web.mesh', { skip }, async () => {
  const r = await dig('_http._tcp.web.mesh', 'SRV');
  assert.deepEqual(r.answer, [['_http._tcp.web.mesh.', '5', 'IN', 'SRV', '0', '0', '80', 'web.mesh.']]);
});

test('dig -x 10.1.0.10 (PTR) and PTR of a task', { skip }, async () => {
  assert.deepEqual((await dig('-x', '10.1.0.10')).answer, [['10.0.1.10.in-addr.arpa.', '5', 'IN', 'PTR', 'web.mesh.']]);
  assert.deepEqual((await dig('-x', '10.1.0.12')).answer[0][4], 'web.2.bbb.mesh.');
  assert.deepEqual((await dig('-x', 'fd00:1::a')).answer[0][4], 'web.mesh.');
});

test('dig A tasks.web.mesh → all task IPs', { skip }, async () => {
  const r = await dig('tasks.web.mesh', 'A');
  assert.deepEqual(r.answer.map((a) => a[4]).sort(), ['10.1.0.11', '10.1.0.12', '10.1.0.13']);
});

test('dig missing.mesh → NXDOMAIN; dig web.mesh MX → NODATA', { skip }, async () => {
  const nx = await dig('missing.mesh', 'A');
  assert.equal(nx.status, 'NXDOMAIN');
  assert.deepEqual(nx.answer, []);
  const nodata = await dig('web.mesh', 'MX');
  assert.equal(nodata.status, 'NOERROR');
  assert.deepEqual(nodata.answer, []);
});

test('dig example.org → forwarded to our loopback upstream', { skip }, async () => {
  const before = upstreamQueries;
  const r = await dig('example.org', 'A');
  assert.equal(r.status, 'NOERROR');
  assert.deepEqual(r.answer, [['example.org.', '60', 'IN', 'A', '192.0.2.1']]);
  assert.equal(upstreamQueries, before + 1);
  assert.ok(!r.flags.includes('aa'));
});

test('dig big.mesh: TC over UDP, dig retries over TCP and gets all 150', { skip }, async () => {
  const r = await dig('big.mesh', 'A');
  assert.equal(r.answer.length, 150, r.raw.slice(0, 400));
  const c = dnsCountersSnapshot(server.counters);
  assert.ok(c.truncated >= 1 && c.tcp_queries >= 1, JSON.stringify(c));
  const notcp = await dig('big.mesh', 'A', '+ignore');
  assert.ok(notcp.flags.includes('tc'));
});

test('server survives random datagrams and still answers; counters add up', async () => {
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  const replies: Buffer[] = [];
  client.on('message', (m) => replies.push(m));
  try {
    const rng = seeded(99);
    for (let i = 0; i < 300; i++) {
      const b = Buffer.alloc(Math.floor(rng() * 100));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rng() * 256);
      if (i % 3 === 0 && b.length >= 3) b[2] &= 0x7f; // queries, not responses, a third of the time
      client.send(b, port, '127.0.0.1');
      // Pace the burst: the point is the bytes, not overflowing the kernel's receive buffer.
      if (i % 25 === 24) await new Promise((r) => setTimeout(r, 5));
    }
    const q = buildQuery(0x4242, 'web.mesh', 1);
    const deadline = Date.now() + 3000;
    const mineOf = () => replies.find((r) => r.length >= 12 && r.readUInt16BE(0) === 0x4242);
    while (mineOf() === undefined && Date.now() < deadline) {
      client.send(q, port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 50));
    }
    const mine = mineOf();
    assert.ok(mine, 'still answering');
    assert.deepEqual(decode(mine).answer.map((a) => a.data), ['10.1.0.10']);
    const c = dnsCountersSnapshot(server.counters);
    assert.ok(c.queries >= 250, JSON.stringify(c));
    assert.ok(c.malformed + c.dropped > 0);
  } finally {
    await new Promise<void>((r) => client.close(() => r()));
  }
});

test('TCP (RFC 7766): two pipelined queries in one write, two framed replies', async () => {
  const frame = (q: Buffer) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
  const sock = connect(port, '127.0.0.1');
  try {
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    await new Promise<void>((r, j) => { sock.once('connect', () => r()); sock.once('error', j); });
    sock.write(Buffer.concat([frame(buildQuery(1, 'web.mesh', 1)), frame(buildQuery(2, 'tasks.web.mesh', 1))]));
    const deadline = Date.now() + 3000;
    const replies = (): Buffer[] => {
      const all = Buffer.concat(chunks);
      const out: Buffer[] = [];
      let p = 0;
      while (p + 2 <= all.length && p + 2 + all.readUInt16BE(p) <= all.length) {
        out.push(all.subarray(p + 2, p + 2 + all.readUInt16BE(p)));
        p += 2 + all.readUInt16BE(p);
      }
      return out;
    };
    while (replies().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const got = replies().map((b) => decode(b)).sort((a, b) => a.id - b.id);
    assert.deepEqual(got.map((d) => [d.id, d.answer.length]), [[1, 1], [2, 3]]);
  } finally {
    sock.destroy();
  }
});
