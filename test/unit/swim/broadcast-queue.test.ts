import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BroadcastQueue } from '../../../src/control/swim/broadcast-queue.js';

const msg = (n: number, fill = 0): Uint8Array => new Uint8Array(n).fill(fill);

test('broadcast queue: same key supersedes, and the superseded one is finished', () => {
  const q = new BroadcastQueue();
  let doneOld = 0;
  q.queue('m:a', msg(20, 1), () => doneOld++);
  q.queue('m:b', msg(20, 2));
  q.queue('m:a', msg(20, 3));
  assert.equal(doneOld, 1);
  assert.equal(q.size, 2);
  const out: Uint8Array[] = [];
  q.fill(out, 1000, 4, 255);
  assert.deepEqual(out.map((b) => b[0]).sort(), [2, 3]);
});

test('broadcast queue: retransmit limit retires items and calls done once', () => {
  const q = new BroadcastQueue();
  let done = 0;
  q.queue('m:a', msg(20), () => done++);
  for (let i = 0; i < 3; i++) {
    const out: Uint8Array[] = [];
    q.fill(out, 1000, 3, 255);
    assert.equal(out.length, 1);
  }
  assert.equal(done, 1);
  assert.equal(q.size, 0);
  const out: Uint8Array[] = [];
  assert.equal(q.fill(out, 1000, 3, 255), 0);
  assert.equal(out.length, 0);
});

test('broadcast queue: fewest-transmitted first, never over budget, each item once per fill', () => {
  const q = new BroadcastQueue();
  q.queue('old', msg(100, 1));
  q.fill([], 1000, 10, 255); // old sent once
  q.fill([], 1000, 10, 255); // twice
  q.queue('new1', msg(100, 2));
  q.queue('new2', msg(100, 3));
  const out: Uint8Array[] = [];
  const used = q.fill(out, 250, 10, 255);
  assert.equal(used, 200);
  assert.deepEqual(out.map((b) => b[0]), [2, 3], 'the never-sent ones first');
  const snap = Object.fromEntries(q.snapshot().map((s) => [s.key, s.transmits]));
  assert.deepEqual(snap, { old: 2, new1: 1, new2: 1 });
  // a big item that does not fit is skipped, smaller later ones still go
  q.queue('big', msg(500, 4));
  const out2: Uint8Array[] = [];
  q.fill(out2, 350, 10, 255);
  assert.ok(out2.every((b) => b[0] !== 4));
  assert.equal(out2.length, 3);
  assert.ok(out2.reduce((s, b) => s + b.length, 0) <= 350);
  // maxCount respected
  const out3: Uint8Array[] = [];
  q.fill(out3, 10000, 10, 2);
  assert.equal(out3.length, 2);
});

test('broadcast queue: exclude leaves one key alone; a shrunken limit retires old tiers', () => {
  const q = new BroadcastQueue();
  q.queue('a', msg(20, 1));
  q.queue('b', msg(20, 2));
  const out: Uint8Array[] = [];
  q.fill(out, 1000, 8, 255, 'a');
  assert.deepEqual(out.map((b) => b[0]), [2]);
  for (let i = 0; i < 4; i++) q.fill([], 1000, 8, 255);
  // a sent 4 times, b 5 times; limit drops to 4: both are retired without being sent
  const out2: Uint8Array[] = [];
  q.fill(out2, 1000, 4, 255);
  assert.equal(out2.length, 0);
  assert.equal(q.size, 0);
});
