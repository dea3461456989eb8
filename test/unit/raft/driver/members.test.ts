import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMemberContext, encodeMemberContext, Members } from '../../../../src/control/raft/driver/members.js';

test('members: the snapshot envelope carries addresses and removed ids in front of the state machine bytes', () => {
  const a = new Members();
  a.addresses.set(3, { host: '10.0.0.3', port: 2377 });
  a.addresses.set(1, { host: 'fd00::1', port: 7000 });
  a.removed.add(2);
  const sm = new Uint8Array([9, 8, 7]);
  const b = new Members();
  b.addresses.set(5, { host: '10.0.0.5', port: 2377 });
  assert.deepEqual([...b.unwrap(a.wrap(sm))], [9, 8, 7]);
  assert.deepEqual([...b.addresses], [[1, { host: 'fd00::1', port: 7000 }], [3, { host: '10.0.0.3', port: 2377 }]], 'replaced, not merged');
  assert.deepEqual([...b.removed], [2]);
  // Deterministic bytes: every manager snapshots the same state to the same bytes.
  assert.deepEqual(a.wrap(sm), b.wrap(sm));
});

test('members: a snapshot from before the envelope passes through whole; a damaged envelope is refused', () => {
  const m = new Members();
  m.addresses.set(1, { host: '10.0.0.1', port: 2377 });
  const legacy = new Uint8Array([0x56, 0x58, 0x4d, 0x4d, 0, 0, 0, 0, 1, 2]); // "VXMM": the manager state's own magic
  assert.equal(m.unwrap(legacy), legacy);
  assert.equal(m.addresses.size, 1, 'left as it was');
  const good = m.wrap(new Uint8Array([1]));
  const badVersion = good.slice();
  badVersion[4] = 9;
  assert.throws(() => m.unwrap(badVersion), /membership section version 9/);
  const badJson = good.slice();
  badJson[9] = 0x7b + 1;
  assert.throws(() => m.unwrap(badJson), /not valid JSON/);
  const truncated = good.subarray(0, 12);
  assert.throws(() => m.unwrap(truncated), /length/);
});

test('members: the conf change context is an address or nothing', () => {
  assert.deepEqual(decodeMemberContext(encodeMemberContext({ host: '10.0.0.4', port: 2377 })), { host: '10.0.0.4', port: 2377 });
  assert.equal(decodeMemberContext(undefined), undefined);
  assert.equal(decodeMemberContext(new TextEncoder().encode('{"host":"not-an-ip","port":2377}')), undefined);
  assert.equal(decodeMemberContext(new TextEncoder().encode('{"host":"10.0.0.4","port":70000}')), undefined);
  assert.equal(decodeMemberContext(new Uint8Array([0xff, 0xfe])), undefined);
});
