import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodePacket, encodeMessage, encodePacket, encodePacketFromFramed, MsgType, PROTOCOL_VERSION, type SwimMessage,
} from '../../../src/control/swim/codec.js';
import { decodeMeta, encodeMeta, SwimMetaError } from '../../../src/control/swim/meta.js';

const name = fc.string({ minLength: 0, maxLength: 40 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const blob = fc.uint8Array({ maxLength: 64 });
const state = fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const, 'left' as const);

const message: fc.Arbitrary<SwimMessage> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), seq: u32, target: name, source: name }),
  fc.record({ type: fc.constant('indirect-ping' as const), seq: u32, target: name, targetAddr: name, nack: fc.boolean(), source: name }),
  fc.record({ type: fc.constant('ack' as const), seq: u32 }),
  fc.record({ type: fc.constant('nack' as const), seq: u32 }),
  fc.record({ type: fc.constant('suspect' as const), incarnation: u32, node: name, from: name }),
  fc.record({ type: fc.constant('dead' as const), incarnation: u32, node: name, from: name }),
  fc.record({ type: fc.constant('alive' as const), incarnation: u32, node: name, addr: name, meta: blob }),
  fc.record({
    type: fc.constant('push-pull' as const), source: name, join: fc.boolean(), reply: fc.boolean(),
    nodes: fc.array(fc.record({ name, addr: name, incarnation: u32, state, meta: blob }), { maxLength: 20 }),
    userState: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({ type: fc.constant('user' as const), origin: name, key: name, version: u32, payload: blob }),
);

test('codec: every message round-trips, alone and in compound packets', () => {
  fc.assert(
    fc.property(fc.array(message, { minLength: 1, maxLength: 12 }), (msgs) => {
      const res = decodePacket(encodePacket(msgs));
      assert.ok(res.ok);
      assert.equal(res.unknownTypes, 0);
      assert.deepEqual(res.msgs, structuredClone(msgs)); // clone: fast-check records may have a null prototype
    }),
    { numRuns: 300 },
  );
});

test('codec: random bytes never throw and either decode or give a reason', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const res = decodePacket(bytes);
      if (!res.ok) assert.match(res.reason, /^[a-z_]+$/);
    }),
    { numRuns: 2000 },
  );
  // and random bytes behind a valid header, which reach the message decoders
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 200 }), (n, tail) => {
      const bytes = new Uint8Array(2 + tail.length);
      bytes[0] = PROTOCOL_VERSION;
      bytes[1] = n;
      bytes.set(tail, 2);
      decodePacket(bytes);
    }),
    { numRuns: 2000 },
  );
});

test('codec: mutated valid packets never throw', () => {
  fc.assert(
    fc.property(message, fc.nat(), fc.integer({ min: 0, max: 255 }), (m, pos, val) => {
      const b = encodePacket([m]);
      b[pos % b.length] = val;
      decodePacket(b);
      decodePacket(b.subarray(0, pos % b.length));
    }),
    { numRuns: 2000 },
  );
});

test('codec: bad packets are rejected with stable reasons', () => {
  const good = encodePacket([{ type: 'suspect', incarnation: 7, node: 'n2', from: 'n1' }]);
  assert.deepEqual(decodePacket(new Uint8Array(0)), { ok: false, reason: 'empty' });
  assert.deepEqual(decodePacket(Uint8Array.of(9, 1)), { ok: false, reason: 'bad_version' });
  assert.deepEqual(decodePacket(Uint8Array.of(PROTOCOL_VERSION, 0)), { ok: false, reason: 'bad_length' });
  assert.deepEqual(decodePacket(good.subarray(0, good.length - 1)), { ok: false, reason: 'truncated' });
  const trailing = new Uint8Array(good.length + 1);
  trailing.set(good);
  assert.deepEqual(decodePacket(trailing), { ok: false, reason: 'trailing_bytes' });
  // a body longer than its fields
  const framed = encodeMessage({ type: 'ack', seq: 1 });
  const padded = Uint8Array.of(PROTOCOL_VERSION, 1, MsgType.ack, 5, 0, 0, 0, 1, 0);
  assert.equal(framed.length + 3, padded.length); // sanity: same message plus one pad byte, header
  assert.deepEqual(decodePacket(padded), { ok: false, reason: 'bad_length' });
  // invalid UTF-8 in a name
  const badUtf = Uint8Array.of(PROTOCOL_VERSION, 1, MsgType.suspect, 8, 0, 0, 0, 1, 1, 0xff, 1, 0x41);
  assert.deepEqual(decodePacket(badUtf), { ok: false, reason: 'bad_utf8' });
  // bad state number in push-pull
  const pp = encodePacket([{ type: 'push-pull', source: 'a', join: false, reply: false, nodes: [{ name: 'a', addr: 'b', incarnation: 1, state: 'alive', meta: new Uint8Array(0) }], userState: new Uint8Array(0) }]);
  const stateAt = pp.length - 3; // ... state u8, meta len 0, userState len 0
  pp[stateAt] = 9;
  assert.deepEqual(decodePacket(pp), { ok: false, reason: 'bad_value' });
});

test('codec: unknown message types are skipped, the rest of the compound is kept', () => {
  const known = encodeMessage({ type: 'ack', seq: 42 });
  const unknown = Uint8Array.of(200, 3, 1, 2, 3); // type 200, 3-byte body
  const res = decodePacket(encodePacketFromFramed([unknown, known]));
  assert.deepEqual(res, { ok: true, msgs: [{ type: 'ack', seq: 42 }], unknownTypes: 1 });
});

test('meta: round trip, label order does not matter, size cap enforced', () => {
  const a = encodeMeta({ role: 'manager', addrs: ['10.0.0.1', 'fd00::1'], labels: { zone: 'a', rack: '7' } }, 512);
  const b = encodeMeta({ role: 'manager', addrs: ['10.0.0.1', 'fd00::1'], labels: { rack: '7', zone: 'a' } }, 512);
  assert.deepEqual(a, b);
  const d = decodeMeta(a);
  assert.ok(d.ok);
  assert.deepEqual(d.meta, { role: 'manager', addrs: ['10.0.0.1', 'fd00::1'], labels: { rack: '7', zone: 'a' } });
  const labels: Record<string, string> = {};
  for (let i = 0; i < 40; i++) labels[`label-${i}`] = 'x'.repeat(20);
  assert.throws(() => encodeMeta({ role: 'w', addrs: [], labels }, 512), (e: unknown) => e instanceof SwimMetaError && e.code === 'VXM_ERR_SWIM_META');
  assert.equal(decodeMeta(a.subarray(0, a.length - 1)).ok, false);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => void decodeMeta(bytes)), { numRuns: 1000 });
});
