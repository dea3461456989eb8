// The pure scaling math: suspicion timeouts (Lifeguard 4.2), retransmit limit, push-pull scale,
// awareness (Lifeguard 4.1), and config validation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Awareness } from '../../../src/control/swim/awareness.js';
import { pushPullScaleMs, resolveConfig, retransmitLimit, suspicionTimeoutMs } from '../../../src/control/swim/config.js';
import { Suspicion, suspicionRemainingTimeout } from '../../../src/control/swim/suspicion.js';

test('suspicion minimum: suspicionMult * max(1, log10(N)) * interval', () => {
  assert.equal(suspicionTimeoutMs(4, 1, 1000), 4000);
  assert.equal(suspicionTimeoutMs(4, 10, 1000), 4000);
  assert.equal(suspicionTimeoutMs(4, 100, 1000), 8000);
  assert.equal(suspicionTimeoutMs(4, 1000, 1000), 12000);
  assert.equal(suspicionTimeoutMs(3, 1000, 200), 1800);
  assert.equal(suspicionTimeoutMs(4, 50, 1000), Math.floor(4 * Math.log10(50) * 1000));
});

test('suspicion timeout shrinks logarithmically from max to min with confirmations', () => {
  // min 2 s, max 30 s, k = 3 (memberlist suspicion_test.go's table, recomputed)
  assert.equal(suspicionRemainingTimeout(0, 3, 2000, 30000), 30000);
  assert.equal(suspicionRemainingTimeout(1, 3, 2000, 30000), 16000);
  assert.equal(suspicionRemainingTimeout(2, 3, 2000, 30000), Math.floor(30000 - 28000 * Math.log(3) / Math.log(4)));
  assert.equal(suspicionRemainingTimeout(3, 3, 2000, 30000), 2000);
  assert.equal(suspicionRemainingTimeout(9, 3, 2000, 30000), 2000);
  assert.equal(suspicionRemainingTimeout(0, 0, 2000, 30000), 2000, 'k = 0: fixed minimum');
});

test('Suspicion: only distinct accusers confirm, at most k, and the deadline moves', () => {
  const s = new Suspicion(1000, 3, 2000, 30000, 'a');
  assert.equal(s.deadline, 31000);
  assert.equal(s.confirm('a'), false, 'the first accuser does not confirm itself');
  assert.equal(s.confirm('b'), true);
  assert.equal(s.deadline, 17000);
  assert.equal(s.confirm('b'), false);
  assert.equal(s.confirm('c'), true);
  assert.equal(s.confirm('d'), true);
  assert.equal(s.deadline, 3000);
  assert.equal(s.confirm('e'), false, 'beyond k nothing changes');
  assert.equal(s.confirmationCount, 3);
  const fixed = new Suspicion(0, 0, 4000, 24000, 'a');
  assert.equal(fixed.deadline, 4000);
  assert.equal(fixed.confirm('b'), false);
});

test('retransmit limit and push-pull scale', () => {
  assert.equal(retransmitLimit(4, 1), 4);
  assert.equal(retransmitLimit(4, 9), 4);
  assert.equal(retransmitLimit(4, 10), 8);
  assert.equal(retransmitLimit(4, 99), 8);
  assert.equal(retransmitLimit(4, 1000), 16);
  assert.equal(pushPullScaleMs(30000, 10), 30000);
  assert.equal(pushPullScaleMs(30000, 32), 30000);
  assert.equal(pushPullScaleMs(30000, 33), 60000);
  assert.equal(pushPullScaleMs(30000, 64), 60000);
  assert.equal(pushPullScaleMs(30000, 65), 90000);
  assert.equal(pushPullScaleMs(30000, 1000), 180000);
});

test('awareness: score clamped to [0, max-1], timeouts scaled by score+1', () => {
  const a = new Awareness(8);
  assert.equal(a.scale(500), 500);
  a.applyDelta(3);
  assert.equal(a.healthScore, 3);
  assert.equal(a.scale(1000), 4000);
  a.applyDelta(100);
  assert.equal(a.healthScore, 7);
  assert.equal(a.scale(1000), 8000);
  a.applyDelta(-100);
  assert.equal(a.healthScore, 0);
});

test('config: defaults are memberlist LAN, bad values throw VXM_ERR_CONFIG naming the field', () => {
  const c = resolveConfig();
  assert.equal(c.probeIntervalMs, 1000);
  assert.equal(c.udpBudget, 1400);
  assert.equal(c.lifeguard, true);
  assert.throws(() => resolveConfig({ probeTimeoutMs: 1000 }), /swim.probeTimeoutMs/);
  assert.throws(() => resolveConfig({ gossipNodes: 0 }), (e: unknown) => (e as { code?: string }).code === 'VXM_ERR_CONFIG');
  assert.throws(() => resolveConfig({ deadReapMs: 10, gossipToTheDeadMs: 20 }), /deadReapMs/);
  assert.throws(() => resolveConfig({ udpBudget: 100 }), /udpBudget/);
});
