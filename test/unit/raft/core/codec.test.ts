import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeConfChange, decodeMessage, encodeConfChange, encodeMessage } from '../../../../src/control/raft/core/codec.js';
import { MessageType, newMessage } from '../../../../src/control/raft/core/types.js';

const sample = newMessage({
  type: MessageType.Snap, to: 3, from: 1, term: 2 ** 40, logTerm: 7, index: 123456, commit: 99, reject: true, rejectHint: 5,
  context: new Uint8Array([1, 2, 3]),
  entries: [{ term: 2, index: 9, type: 1, data: new Uint8Array([9, 9]) }],
  snapshot: { meta: { index: 50, term: 2, conf: { voters: [1, 2, 3], learners: [4] } }, data: new Uint8Array([5, 6]) },
  snapOffset: 4, snapTotal: 10,
});

test('codec round-trips a message with every field set', () => {
  const r = decodeMessage(encodeMessage(sample));
  assert.ok(r.ok);
  assert.deepEqual(r.msg, sample);
});

test('codec refuses local types, bad versions, truncation and trailing bytes', () => {
  assert.throws(() => encodeMessage(newMessage({ type: MessageType.Hup })));
  const b = encodeMessage(sample);
  assert.deepEqual(decodeMessage(new Uint8Array([2, ...b.subarray(1)])), { ok: false, reason: 'bad-version' });
  assert.deepEqual(decodeMessage(new Uint8Array([1, MessageType.Hup])), { ok: false, reason: 'local-type' });
  assert.deepEqual(decodeMessage(new Uint8Array([1, 200])), { ok: false, reason: 'unknown-type' });
  for (let n = 0; n < b.length; n++) assert.equal(decodeMessage(b.subarray(0, n)).ok, false, `prefix ${n}`);
  assert.deepEqual(decodeMessage(new Uint8Array([...b, 0])), { ok: false, reason: 'trailing-bytes' });
});

test('codec never throws on random or mutated bytes', () => {
  const b = encodeMessage(sample);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    decodeMessage(bytes);
    decodeConfChange(bytes);
  }), { numRuns: 2000 });
  fc.assert(fc.property(fc.nat(b.length - 1), fc.integer({ min: 0, max: 255 }), (at, v) => {
    const m = b.slice();
    m[at] = v;
    const r = decodeMessage(m);
    if (r.ok) assert.equal(r.msg.type < 19, true);
  }), { numRuns: 2000 });
});

test('conf change round-trip and refusal', () => {
  assert.deepEqual(decodeConfChange(encodeConfChange({ type: 1, nodeId: 2 ** 33 })), { type: 1, nodeId: 2 ** 33 });
  assert.equal(decodeConfChange(new Uint8Array([1, 9, 4])), undefined);
  assert.equal(decodeConfChange(new Uint8Array([1, 0, 0])), undefined);
});

test('conf change with a context (version 2): round-trip, version 1 without one, refusal of damage', () => {
  const ctx = new TextEncoder().encode('{"host":"10.0.0.4","port":2377}');
  const b = encodeConfChange({ type: 1, nodeId: 4, context: ctx });
  assert.equal(b[0], 2);
  assert.deepEqual(decodeConfChange(b), { type: 1, nodeId: 4, context: ctx });
  assert.equal(encodeConfChange({ type: 1, nodeId: 4, context: new Uint8Array(0) })[0], 1, 'an empty context is version 1');
  for (let n = 0; n < b.length; n++) assert.equal(decodeConfChange(b.subarray(0, n)), undefined, `prefix ${n}`);
  assert.equal(decodeConfChange(new Uint8Array([...b, 0])), undefined, 'trailing byte');
  assert.equal(decodeConfChange(encodeConfChange({ type: 1, nodeId: 4, context: new Uint8Array(5000) })), undefined, 'context over 4 KiB');
  assert.equal(decodeConfChange(new Uint8Array([3, 1, 4])), undefined, 'unknown version');
});
