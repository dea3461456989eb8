import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeKvCommand } from '../../../../src/control/raft/driver/kv.js';
import { CMD_KV, CMD_STORE, ManagerState, tagCommand } from '../../../../src/control/raft/driver/manager-state.js';
import { encodeTransaction, type ApplyResult } from '../../../../src/control/store/index.js';

test('manager state: commands go to the KV map or the store by their first byte; one snapshot restores both', () => {
  const a = new ManagerState();
  assert.deepEqual(a.apply(2, tagCommand(CMD_KV, encodeKvCommand({ op: 'put', key: 'k', value: 'v' }))), { ok: true, prev: null });
  const r = a.apply(3, tagCommand(CMD_STORE, encodeTransaction({ requestId: 'r1', changes: [{ op: 'create', kind: 'network', object: { id: 'n1', name: 'net' } }] }))) as ApplyResult;
  assert.equal(r.ok, true);
  assert.equal(a.apply(4, Uint8Array.of(9, 1, 2)), undefined, 'an unknown kind is skipped, not thrown');
  assert.equal(a.apply(5, new Uint8Array(0)), undefined);
  assert.equal(a.invalid, 2);
  const b = new ManagerState();
  b.restore(a.snapshot());
  assert.equal(b.kv.get('k')?.value, 'v');
  assert.equal(b.store.get('network', 'n1')?.name, 'net');
  assert.deepEqual(b.snapshot(), a.snapshot(), 'snapshot → restore → snapshot is byte-identical');
  assert.throws(() => new ManagerState().restore(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), /not a manager snapshot/);
});
