// Not an assertion of speed (the machine is shared): prints what push-pull of a large table
// costs, so a regression is visible in the test log. Checks only that the work was done.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { node } from './helpers.js';

test('perf: localState and mergeRemoteState of 10k entries (printed, not asserted)', () => {
  const n = 10_000;
  const a = node('node-with-a-realistic-name-01');
  const value = new Uint8Array(26); // IPv4 + MAC + VTEP IPv4 + VNI + flags, roughly
  for (let i = 0; i < n; i++) {
    value[0] = i & 0xff;
    value[1] = i >>> 8;
    a.set(0, 'endpoints', `overlay-${i % 16}`, `task-${i.toString(16).padStart(12, '0')}`, value);
  }
  a.drainEvents();
  let t0 = performance.now();
  const state = a.localState();
  const encodeMs = performance.now() - t0;
  const r = node('receiver');
  t0 = performance.now();
  r.mergeRemoteState(1, 'a', state);
  const mergeMs = performance.now() - t0;
  t0 = performance.now();
  r.mergeRemoteState(2, 'a', state); // steady state: everything is already known
  const remergeMs = performance.now() - t0;
  t0 = performance.now();
  const d = r.digest();
  const digestMs = performance.now() - t0;
  assert.equal(d, a.digest());
  assert.equal(r.drainEvents().length, n);
  assert.equal(r.counters.stale, n);
  console.log(
    `# perf: ${n} entries, state ${state.length} B (${(state.length / n).toFixed(1)} B/entry), ` +
    `localState ${encodeMs.toFixed(1)} ms, merge new ${mergeMs.toFixed(1)} ms, merge known ${remergeMs.toFixed(1)} ms, digest ${digestMs.toFixed(1)} ms`,
  );
});
