import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventQueue, Rng, schedulePeriodic, SimError, type EventHandler } from '../../sim/kit/index.js';

test('event-queue: time order, ties in insertion order, nested scheduling', () => {
  const q = new EventQueue();
  const log: string[] = [];
  q.at(10, () => log.push('a10'));
  q.at(5, () => log.push('b5'));
  q.at(10, () => log.push('c10'));
  q.at(5, () => {
    log.push('d5');
    q.after(0, () => log.push('e5-nested')); // same time, scheduled last => runs after every earlier t=5 event
    q.after(5, () => log.push('f10-nested')); // ties with a10/c10 but scheduled later
  });
  assert.equal(q.size, 4);
  assert.equal(q.runUntil(100), 6);
  assert.deepEqual(log, ['b5', 'd5', 'e5-nested', 'a10', 'c10', 'f10-nested']);
  assert.equal(q.now, 100);
  assert.equal(q.size, 0);
});

test('event-queue: random schedules run in (time, seq) order, matching a sorted reference', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = new Rng(seed);
    const q = new EventQueue();
    const ran: [number, number][] = [];
    const expected: [number, number][] = [];
    let seq = 0;
    const add = (t: number): void => {
      const id = seq++;
      expected.push([t, id]);
      q.at(t, () => {
        ran.push([q.now, id]);
        if (r.chance(0.3)) add(q.now + r.int(4)); // nested, often a tie
      });
    };
    for (let i = 0; i < 2000; i++) add(r.int(500)); // many ties
    q.runUntil(Infinity);
    expected.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    assert.deepEqual(ran, expected);
  }
});

test('event-queue: closure-free handlers receive kind and arg', () => {
  const q = new EventQueue();
  const got: string[] = [];
  const h: EventHandler = { handleEvent: (k, a) => got.push(`${q.now}:${k}:${a}`) };
  q.schedule(3, h, 2, 1.5);
  q.scheduleAfter(1, h, 0, 7);
  q.runUntil(3);
  assert.deepEqual(got, ['1:0:7', '3:2:1.5']);
  assert.throws(() => q.schedule(4, h, -1, 0), SimError);
});

test('event-queue: cancel', () => {
  const q = new EventQueue();
  const log: number[] = [];
  const ids = [1, 2, 3, 4].map((t) => q.at(t, () => log.push(t)));
  assert.equal(q.cancel(ids[1]!), true);
  assert.equal(q.cancel(ids[1]!), false);
  assert.equal(q.size, 3);
  assert.equal(q.cancel(ids[0]!), true); // cancelled root is skipped
  assert.equal(q.peekTime(), 3);
  q.runUntil(3);
  assert.equal(q.cancel(ids[2]!), false); // already ran
  // the slot of a run event is reused; the old id must not cancel the new event
  const fresh = q.at(10, () => log.push(10));
  assert.equal(q.cancel(ids[2]!), false);
  q.runUntil(20);
  assert.deepEqual(log, [3, 4, 10]);
  assert.equal(q.cancel(fresh), false);
  assert.equal(q.cancel(123456789), false);
  assert.equal(q.executed, 3);
});

test('event-queue: scheduling in the past or at non-finite times throws a coded SimError', () => {
  const q = new EventQueue();
  q.runUntil(50);
  for (const t of [49, NaN, Infinity]) {
    assert.throws(() => q.at(t, () => {}), (e: unknown) => e instanceof SimError && e.code === 'VXM_ERR_SIM_TIME');
  }
  assert.throws(() => q.after(-1, () => {}), SimError);
  q.at(50, () => {}); // now itself is fine
  assert.equal(q.step(), true);
  assert.equal(q.step(), false);
});

test('event-queue: runWhile stops when the predicate turns false, or at the limit', () => {
  const q = new EventQueue();
  let n = 0;
  for (let t = 1; t <= 100; t++) q.at(t * 10, () => n++);
  assert.equal(q.runWhile(() => n < 5, 1000), true);
  assert.equal(n, 5);
  assert.equal(q.now, 50);
  assert.equal(q.runWhile(() => n < 50, 200), false);
  assert.equal(n, 20);
  assert.equal(q.now, 200);
  assert.equal(q.runWhile(() => true, Infinity), false); // ran dry
  assert.equal(n, 100);
  assert.equal(q.now, 1000);
});

test('event-queue: grows past its initial capacity and stays ordered', () => {
  const q = new EventQueue();
  const r = new Rng(1);
  const n = 50_000;
  for (let i = 0; i < n; i++) q.at(r.int(1_000_000), () => {});
  let last = -1;
  while (q.size > 0) {
    const t = q.peekTime();
    assert.ok(t >= last);
    last = t;
    q.step();
  }
  assert.equal(q.executed, n);
});

test('schedulePeriodic: phase, period, lag without drift, stop', () => {
  const q = new EventQueue();
  const fired: [number, number][] = [];
  let lag = 0;
  const p = schedulePeriodic(q, 100, 30, (nominal) => fired.push([nominal, q.now]), () => lag);
  q.runUntil(250);
  assert.deepEqual(fired, [[30, 30], [130, 130], [230, 230]]);
  lag = 45;
  q.runUntil(480);
  assert.deepEqual(fired.slice(3), [[330, 375], [430, 475]]); // late, but the schedule did not move
  lag = 0;
  q.runUntil(540);
  assert.deepEqual(fired.slice(5), [[530, 530]]);
  p.stop();
  q.runUntil(2000);
  assert.equal(p.fired, 6);
  assert.equal(q.size, 0);
  assert.throws(() => schedulePeriodic(q, 0, 0, () => {}), SimError);
  assert.throws(() => schedulePeriodic(q, 10, -1, () => {}), SimError);
});
