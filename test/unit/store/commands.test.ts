import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_MAX_TRANSACTION_BYTES,
  MAX_CHANGES,
  TX_FORMAT_V1,
  decodeTransaction,
  encodeTransaction,
  updateOf,
} from '../../../src/control/store/commands.js';
import { StoreError, StoreTooLargeError } from '../../../src/control/store/errors.js';

function refusal(fn: () => unknown, code: string, path: string, hint: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof StoreError, String(e));
    assert.equal(e.code, code);
    assert.equal(e.path, path);
    assert.match(e.message, hint);
    return;
  }
  assert.fail('expected a refusal');
}

const okTx = {
  requestId: 'req-1',
  changes: [
    { op: 'create', kind: 'node', object: { name: 'a', id: 'n1', labels: { b: '1', a: '2' } } },
    { op: 'delete', kind: 'task', id: 't1', expectedVersion: 3 },
  ],
};

test('encode: version byte, canonical JSON, decode round-trips to the same bytes', () => {
  const bytes = encodeTransaction(okTx);
  assert.equal(bytes[0], TX_FORMAT_V1);
  const tx = decodeTransaction(bytes);
  assert.equal(tx.requestId, 'req-1');
  assert.equal(tx.changes.length, 2);
  assert.deepEqual(encodeTransaction(tx), bytes);
  // Same content in another key order: same bytes.
  const shuffled = { changes: [{ object: { labels: { a: '2', b: '1' }, id: 'n1', name: 'a' }, kind: 'node', op: 'create' }, okTx.changes[1]], requestId: 'req-1' };
  assert.deepEqual(encodeTransaction(shuffled), bytes);
});

test('encode refuses malformed transactions before they reach the log, naming the field', () => {
  refusal(() => encodeTransaction({ changes: okTx.changes }), 'VXM_ERR_STORE_INVALID', 'requestId', /set a request id/);
  refusal(() => encodeTransaction({ requestId: 'r', changes: [] }), 'VXM_ERR_STORE_INVALID', 'changes', /add at least one/);
  refusal(() => encodeTransaction({ requestId: 'r', changes: [{ op: 'upsert', kind: 'node' }] }), 'VXM_ERR_STORE_INVALID', 'changes[0].op', /create, update, delete/);
  refusal(() => encodeTransaction({ requestId: 'r', changes: [{ op: 'create', kind: 'pool', object: {} }] }), 'VXM_ERR_STORE_INVALID', 'changes[0].kind', /pools change with their network/);
  refusal(() => encodeTransaction({ requestId: 'r', changes: [{ op: 'create', kind: 'node', object: { id: 'n', name: 'a' }, expectedVersion: 1 }] }), 'VXM_ERR_STORE_INVALID', 'changes[0].expectedVersion', /remove it/);
  refusal(() => encodeTransaction({ requestId: 'r', changes: [{ op: 'update', kind: 'node', object: { id: 'n', name: 'a' } }] }), 'VXM_ERR_STORE_INVALID', 'changes[0].expectedVersion', /expected an integer/);
  refusal(() => encodeTransaction({ requestId: 'r', changes: [{ op: 'delete', kind: 'node', id: 'n', expectedVersion: 0 }] }), 'VXM_ERR_STORE_INVALID', 'changes[0].expectedVersion', /use 1 to/);
  refusal(() => encodeTransaction({ requestId: 'r', changes: [{ op: 'create', kind: 'node', object: { id: 'n', name: 'bad name' } }] }), 'VXM_ERR_STORE_INVALID', 'changes[0].object.name', /not a valid name/);
  refusal(
    () => encodeTransaction({ requestId: 'r', changes: [{ op: 'delete', kind: 'node', id: 'n', expectedVersion: 1 }, { op: 'update', kind: 'node', object: { id: 'n', name: 'a' }, expectedVersion: 1 }] }),
    'VXM_ERR_STORE_INVALID',
    'changes[1]',
    /already changed by changes\[0\], merge them/,
  );
  const many = Array.from({ length: MAX_CHANGES + 1 }, (_, i) => ({ op: 'delete', kind: 'node', id: `n${i}`, expectedVersion: 1 }));
  refusal(() => encodeTransaction({ requestId: 'r', changes: many }), 'VXM_ERR_STORE_INVALID', 'changes', /split into transactions of at most 200/);
});

test('size cap: over the cap is VXM_ERR_STORE_TOO_LARGE, at the cap passes', () => {
  const bytes = encodeTransaction(okTx);
  assert.equal(encodeTransaction(okTx, { maxBytes: bytes.length }).length, bytes.length);
  assert.throws(() => encodeTransaction(okTx, { maxBytes: bytes.length - 1 }), (e: unknown) => {
    assert.ok(e instanceof StoreTooLargeError);
    assert.equal(e.code, 'VXM_ERR_STORE_TOO_LARGE');
    assert.equal(e.size, bytes.length);
    assert.match(e.message, /split its 2 changes into several transactions/);
    return true;
  });
  // The default cap is 1 MiB: 200 services with 4 KiB env entries each (~1.6 MiB) are refused.
  const env = Array.from({ length: 2 }, (_, i) => `K${i}=${'x'.repeat(4000)}`);
  const big = Array.from({ length: 200 }, (_, i) => ({ op: 'create', kind: 'service', object: { id: `s${i}`, name: `s${i}`, task: { image: 'a', env } } }));
  assert.throws(() => encodeTransaction({ requestId: 'r', changes: big }), (e: unknown) => e instanceof StoreTooLargeError && e.limit === DEFAULT_MAX_TRANSACTION_BYTES);
  assert.ok(encodeTransaction({ requestId: 'r', changes: big.slice(0, 100) }).length <= DEFAULT_MAX_TRANSACTION_BYTES);
});

test('decode refuses foreign bytes with a code, never a crash', () => {
  refusal(() => decodeTransaction(new Uint8Array([1])), 'VXM_ERR_STORE_INVALID', 'entry', /too short/);
  refusal(() => decodeTransaction(new Uint8Array([2, 123, 125])), 'VXM_ERR_STORE_INVALID', 'entry', /upgrade every manager/);
  refusal(() => decodeTransaction(new Uint8Array([1, 0xff, 0xfe])), 'VXM_ERR_STORE_INVALID', 'entry', /not UTF-8 JSON/);
  refusal(() => decodeTransaction(new Uint8Array([1, ...Buffer.from('{"requestId":"x"')])), 'VXM_ERR_STORE_INVALID', 'entry', /not UTF-8 JSON/);
  // Valid JSON that skipped the encoder: re-validated on decode.
  const raw = Buffer.from(JSON.stringify({ requestId: 'x', changes: [{ op: 'create', kind: 'node', object: { id: 'n' } }] }));
  refusal(() => decodeTransaction(new Uint8Array([1, ...raw])), 'VXM_ERR_STORE_INVALID', 'changes[0].object.name', /required field is missing/);
});

test('updateOf names the version the object was read at', () => {
  const c = updateOf('node', { id: 'n1', name: 'a', role: 'worker', availability: 'drain', addresses: [], labels: {}, version: 12 });
  assert.equal(c.expectedVersion, 12);
  const tx = decodeTransaction(encodeTransaction({ requestId: 'r', changes: [c] }));
  assert.equal(tx.changes[0]!.op, 'update');
});
