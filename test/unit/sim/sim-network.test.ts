import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { EventQueue, Rng, SimError, SimNetwork, type LinkFaults, type TraceEvent, type Transport } from '../../sim/kit/index.js';

interface Got { t: number; from: string; to: string; transport: Transport; bytes: Uint8Array; tag: number }

function world(seed: number, faults: LinkFaults, names: string[], opts = {}): { q: EventQueue; net: SimNetwork; got: Got[]; errs: string[] } {
  const q = new EventQueue();
  const net = new SimNetwork(q, new Rng(seed).fork('net'), faults, opts);
  const got: Got[] = [];
  const errs: string[] = [];
  for (const n of names) {
    net.attach(n, (from, transport, bytes, tag) => got.push({ t: q.now, from, to: n, transport, bytes, tag }));
    net.onTcpError(n, (to, tag) => errs.push(`${q.now} ${n}->${to} #${tag}`));
  }
  return { q, net, got, errs };
}

const msg = (i: number): Uint8Array => new Uint8Array([i & 255, (i >>> 8) & 255, (i >>> 16) & 255]);
const num = (b: Uint8Array): number => b[0]! | (b[1]! << 8) | (b[2]! << 16);

/** A small gossip run: each node forwards what it receives to 2 random peers, TTL-bounded. */
function gossipTrace(seed: number): string {
  const root = new Rng(seed);
  const q = new EventQueue();
  const net = new SimNetwork(q, root.fork('net'), { loss: 0.1, duplicate: 0.05, delayMs: { min: 1, max: 30 } });
  const names = Array.from({ length: 20 }, (_, i) => `10.0.0.${i}:7946`);
  const lines: string[] = [];
  net.setTracer((e: TraceEvent) => {
    lines.push(`${e.time.toFixed(6)} ${e.event} ${e.from} ${e.to} ${e.transport} ${e.tag} ${e.reason ?? '-'} ${e.bytes ? Buffer.from(e.bytes).toString('hex') : '-'}`);
  });
  names.forEach((n, i) => {
    const r = root.fork(`node:${i}`);
    net.attach(n, (_from, transport, bytes) => {
      const ttl = bytes[0]!;
      if (ttl === 0) return;
      for (let k = 0; k < 2; k++) net.send(n, names[r.int(names.length)]!, transport, new Uint8Array([ttl - 1, r.int(256)]));
    });
  });
  net.partition(names.slice(0, 3)); // 3 nodes cut off from the other 17
  net.setProcessingDelay(names[5]!, 7);
  names.forEach((n, i) => q.at(i, () => net.send(n, names[(i + 1) % names.length]!, i % 4 === 0 ? 'tcp' : 'udp', new Uint8Array([5, i]), i)));
  q.at(200, () => net.heal());
  q.runUntil(10_000);
  assert.ok(lines.length > 500, `trace too short: ${lines.length}`);
  return lines.join('\n');
}

test('sim-network: same seed => byte-identical delivery trace; different seeds differ', () => {
  const a = gossipTrace(1234), b = gossipTrace(1234), c = gossipTrace(1235);
  const h = (s: string): string => createHash('sha256').update(s).digest('hex');
  assert.equal(h(a), h(b));
  assert.equal(a, b);
  assert.notEqual(h(a), h(c));
  for (const kind of ['deliver', 'drop', 'send']) assert.ok(a.includes(` ${kind} `), kind);
  assert.ok(a.includes(' partition '), 'the partition dropped something');
  assert.ok(a.includes(' loss '), 'loss dropped something');
});

test('sim-network: udp loss and duplication rates are right (seeded bounds), stats add up', () => {
  const { q, net, got } = world(7, { loss: 0.2, duplicate: 0.1, delayMs: { min: 5, max: 5 } }, ['a', 'b']);
  const N = 50_000;
  for (let i = 0; i < N; i++) net.send('a', 'b', 'udp', msg(i));
  q.runUntil(100);
  const distinct = new Set(got.map((g) => num(g.bytes))).size;
  const dups = got.length - distinct;
  // P(lost) = 0.2 (sd of count ~ 89); duplicates = 0.8 * 0.1 of sends (sd ~ 61).
  assert.ok(Math.abs(N - distinct - 0.2 * N) < 600, `lost ${N - distinct}`);
  assert.ok(Math.abs(dups - 0.08 * N) < 450, `dups ${dups}`);
  const sa = net.stats('a'), sb = net.stats('b');
  assert.equal(sa.sentMsgs, N);
  assert.equal(sa.sentBytes, 3 * N);
  assert.equal(sa.dropped, N - distinct);
  assert.equal(sb.recvMsgs, got.length);
  assert.equal(sb.recvBytes, 3 * got.length);
  assert.ok(got.every((g) => g.t === 5 && g.from === 'a' && g.transport === 'udp'));
  assert.equal(net.totals().drops.loss, N - distinct);
  assert.equal(net.inFlight, 0);
});

test('sim-network: uniform delay stays in bounds and reorders udp', () => {
  const { q, net, got } = world(3, { delayMs: { min: 10, max: 50 } }, ['a', 'b']);
  for (let i = 0; i < 5000; i++) net.send('a', 'b', 'udp', msg(i));
  q.runUntil(1000);
  assert.equal(got.length, 5000);
  const mean = got.reduce((s, g) => s + g.t, 0) / got.length;
  assert.ok(got.every((g) => g.t >= 10 && g.t <= 50));
  assert.ok(Math.abs(mean - 30) < 1, `mean ${mean}`);
  let inversions = 0;
  for (let i = 1; i < got.length; i++) if (num(got[i]!.bytes) < num(got[i - 1]!.bytes)) inversions++;
  assert.ok(inversions > 1000, `inversions ${inversions}`);
});

test('sim-network: tcp is reliable and in order per pair despite loss and delay spread', () => {
  const { q, net, got } = world(5, { loss: 0.5, duplicate: 0.5, delayMs: { min: 1, max: 100 } }, ['a', 'b', 'c']);
  for (let i = 0; i < 3000; i++) {
    q.at(i * 0.1, () => {
      net.send('a', 'b', 'tcp', msg(i), i);
      net.send('c', 'b', 'tcp', msg(i), i);
    });
  }
  q.runUntil(5000);
  for (const from of ['a', 'c']) {
    const seq = got.filter((g) => g.from === from).map((g) => num(g.bytes));
    assert.deepEqual(seq, Array.from({ length: 3000 }, (_, i) => i));
    assert.ok(got.filter((g) => g.from === from).every((g) => g.transport === 'tcp' && g.tag === num(g.bytes)));
  }
  // The two pairs are independent streams: they interleave.
  const firstC = got.findIndex((g) => g.from === 'c');
  assert.ok(firstC < 3000);
});

test('sim-network: tcp errors for crashed, partitioned, unknown peers and broken connections', () => {
  const { q, net, got, errs } = world(1, { delayMs: { min: 10, max: 10 } }, ['a', 'b', 'c'], { tcpConnectTimeoutMs: 300 });
  net.crash('b');
  net.send('a', 'b', 'tcp', msg(1), 1);
  net.send('a', 'nobody', 'tcp', msg(2), 2);
  net.partition(['a'], ['c']);
  net.send('a', 'c', 'tcp', msg(3), 3);
  q.runUntil(299);
  assert.deepEqual(errs, []);
  q.runUntil(300);
  assert.deepEqual(errs, ['300 a->b #1', '300 a->nobody #2', '300 a->c #3']);
  // connection breaks in flight: receiver crashes before delivery => error at delivery time
  net.heal();
  net.restart('b');
  net.send('a', 'b', 'tcp', msg(4), 4);
  q.at(305, () => net.crash('b'));
  q.runUntil(400);
  assert.deepEqual(errs.slice(3), ['310 a->b #4']);
  // ... even if it restarted before delivery (the connection did not survive the crash)
  net.restart('b');
  net.send('a', 'b', 'tcp', msg(5), 5);
  q.at(402, () => { net.crash('b'); net.restart('b'); });
  q.runUntil(500);
  assert.deepEqual(errs.slice(4), ['410 a->b #5']);
  // partition in flight => error at delivery time
  net.send('a', 'c', 'tcp', msg(6), 6);
  q.at(505, () => net.partition(['c']));
  q.runUntil(600);
  assert.deepEqual(errs.slice(5), ['510 a->c #6']);
  net.heal();
  // a sender that crashes loses its in-flight tcp silently: no delivery, no error
  net.send('a', 'c', 'tcp', msg(7), 7);
  q.at(605, () => { net.crash('a'); });
  q.runUntil(700);
  net.restart('a');
  q.runUntil(2000);
  assert.equal(errs.length, 6);
  assert.equal(got.length, 0);
  assert.equal(net.stats('a').dropped, 7);
  const d = net.totals().drops;
  assert.deepEqual([d.down, d.unknown, d.partition, d.reset], [2, 1, 2, 2]);
});

test('sim-network: partitions block udp between groups, unlisted nodes form one group, heal restores', () => {
  const names = ['a', 'b', 'c', 'd', 'e'];
  const { q, net, got } = world(2, { delayMs: { min: 1, max: 1 } }, names);
  net.partition(['a', 'b'], ['c']);
  const all = (): void => { for (const x of names) for (const y of names) if (x !== y) net.send(x, y, 'udp', msg(0)); };
  all();
  q.runUntil(10);
  const pairs = new Set(got.map((g) => g.from + g.to));
  assert.deepEqual([...pairs].sort(), ['ab', 'ba', 'de', 'ed']);
  assert.equal(net.totals().drops.partition, 20 - 4);
  got.length = 0;
  net.heal();
  all();
  q.runUntil(20);
  assert.equal(got.length, 20);
  // in-flight udp is not affected by a partition that starts later (it was already on the wire)
  got.length = 0;
  net.send('a', 'c', 'udp', msg(1));
  net.partition(['a'], ['c']);
  q.runUntil(30);
  assert.equal(got.length, 1);
});

test('sim-network: crash/restart: a crashed node receives and sends nothing', () => {
  const { q, net, got } = world(4, { delayMs: { min: 5, max: 5 } }, ['a', 'b']);
  net.send('a', 'b', 'udp', msg(1)); // in flight when b crashes
  net.crash('b');
  assert.equal(net.isUp('b'), false);
  net.send('b', 'a', 'udp', msg(2)); // ignored
  net.send('a', 'b', 'udp', msg(3)); // dropped on arrival
  q.runUntil(10);
  assert.equal(got.length, 0);
  assert.equal(net.stats('b').sentMsgs, 0);
  assert.equal(net.stats('a').dropped, 2);
  assert.equal(net.totals().drops.down, 2);
  net.send('a', 'b', 'udp', msg(4));
  net.restart('b'); // restarted before arrival: a datagram on the wire arrives
  net.send('b', 'a', 'udp', msg(5));
  q.runUntil(20);
  assert.deepEqual(got.map((g) => `${g.from}>${g.to}:${num(g.bytes)}`), ['a>b:4', 'b>a:5']);
  // re-attach swaps the handler (a fresh core after restart)
  const fresh: number[] = [];
  net.attach('b', (_f, _t, bytes) => fresh.push(num(bytes)));
  net.send('a', 'b', 'udp', msg(6));
  q.runUntil(30);
  assert.deepEqual(fresh, [6]);
});

test('sim-network: per-direction link overrides', () => {
  const { q, net, got } = world(6, { delayMs: { min: 1, max: 1 } }, ['a', 'b']);
  net.setLink('a', 'b', { loss: 1 });
  net.setLink('b', 'a', { delayMs: { min: 40, max: 40 } });
  net.send('a', 'b', 'udp', msg(1));
  net.send('b', 'a', 'udp', msg(2));
  net.send('a', 'b', 'tcp', msg(3)); // tcp ignores loss
  q.runUntil(100);
  assert.deepEqual(got.map((g) => `${g.t}:${num(g.bytes)}`), ['0:3', '40:2']);
  net.setLink('a', 'b', null);
  net.send('a', 'b', 'udp', msg(4));
  q.runUntil(200);
  assert.equal(got.length, 3);
  assert.throws(() => net.setLink('a', 'b', { loss: 2 }), (e: unknown) => e instanceof SimError && e.code === 'VXM_ERR_SIM_CONFIG');
  assert.throws(() => net.setLink('a', 'b', { delayMs: { min: 5, max: 1 } }), SimError);
  assert.throws(() => net.send('zz', 'a', 'udp', msg(0)), (e: unknown) => e instanceof SimError && e.code === 'VXM_ERR_SIM_ADDR');
  assert.throws(() => net.crash('zz'), SimError);
});

test('sim-network: a slow node gets messages late and its timers fire late; crashed nodes skip ticks', () => {
  const { q, net, got } = world(8, { delayMs: { min: 2, max: 2 } }, ['a', 'b']);
  net.setProcessingDelay('b', 100);
  net.send('a', 'b', 'udp', msg(1));
  net.send('a', 'b', 'tcp', msg(2));
  q.runUntil(1000);
  assert.deepEqual(got.map((g) => g.t), [102, 102]);
  const ticks: string[] = [];
  const p = net.schedulePeriodic('b', 1000, 0, (nominal) => ticks.push(`${nominal}@${q.now}`));
  q.runUntil(2500);
  net.setProcessingDelay('b', 0);
  q.at(2600, () => net.crash('b'));
  q.runUntil(3500);
  net.restart('b');
  q.runUntil(4500);
  p.stop();
  assert.deepEqual(ticks, ['1000@1100', '2000@2100', '4000@4000']);
  assert.equal(net.processingDelay('b'), 0);
});
