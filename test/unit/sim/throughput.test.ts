import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventQueue, formatTable, Rng, SimNetwork } from '../../sim/kit/index.js';

// 1000 nodes, each ticking every 200 ms (random phase) and sending 3 udp pings to random peers;
// pings are answered with acks; 1 % of ticks also do a tcp exchange. Runs until 1 M events.
// Printed, not asserted beyond a generous bound: the figure is for humans tuning simulations.
test('sim throughput: 1000 nodes x 1M events (printed)', () => {
  const N = 1000, EVENTS = 1_000_000;
  const root = new Rng(2024);
  const q = new EventQueue();
  const net = new SimNetwork(q, root.fork('net'), { loss: 0.01, duplicate: 0.001, delayMs: { min: 0.5, max: 5 } });
  const names = Array.from({ length: N }, (_, i) => `10.0.${i >> 8}.${i & 255}:7946`);
  const ping = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const ack = new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0]);
  let acks = 0, tcpErrors = 0;
  for (let i = 0; i < N; i++) {
    const me = names[i]!;
    const r = root.fork(`node:${i}`);
    net.attach(me, (from, transport, bytes) => {
      if (bytes[0] === 1) net.send(me, from, transport, ack); // shared immutable buffers: the network never copies
      else acks++;
    });
    net.onTcpError(me, () => { tcpErrors++; });
    net.schedulePeriodic(me, 200, r.float() * 200, () => {
      for (let k = 0; k < 3; k++) net.send(me, names[r.int(N)]!, 'udp', ping);
      if (r.chance(0.01)) net.send(me, names[r.int(N)]!, 'tcp', ping);
    });
  }
  net.crash(names[7]!);
  const t0 = performance.now();
  q.runWhile(() => q.executed < EVENTS, Infinity);
  const ms = performance.now() - t0;
  const tot = net.totals();
  console.log(formatTable(
    ['nodes', 'events', 'virtual_s', 'wall_ms', 'events_per_s', 'msgs_sent', 'acks', 'dropped'],
    [[N, q.executed, q.now / 1000, ms, Math.round(q.executed / (ms / 1000)), tot.sentMsgs, acks, tot.dropped]],
  ));
  assert.equal(q.executed, EVENTS);
  assert.ok(acks > 0.4 * tot.sentMsgs && tcpErrors >= 0);
  assert.ok(ms < 30_000, `1M events took ${ms} ms`);
});
