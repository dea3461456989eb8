import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keyring, KeyringError, keyId } from '../../../src/control/seal/index.js';

const key = (n: number, len = 32): Uint8Array => new Uint8Array(len).fill(n);
const u8 = (x: Uint8Array): Uint8Array => new Uint8Array(x); // Buffer vs Uint8Array: compare bytes only
const code = (c: string) => (e: unknown): boolean => e instanceof KeyringError && e.code === c;

test('keyring: primary first, add/use/remove, copies in and out', () => {
  const k1 = key(1), k2 = key(2, 16), k3 = key(3, 24);
  const r = new Keyring([k1, k2]);
  assert.deepEqual(u8(r.primary), key(1));
  assert.equal(r.size, 2);
  k1.fill(9); // the ring holds its own copy
  assert.deepEqual(u8(r.primary), key(1));
  r.add(k3);
  r.add(key(3, 24)); // duplicate: no-op
  assert.equal(r.size, 3);
  r.use(k3);
  assert.deepEqual(r.keys(), [key(3, 24), key(1), k2]);
  r.keys()[0]!.fill(0); // keys() gives copies
  assert.deepEqual(u8(r.primary), key(3, 24));
  r.remove(key(1));
  assert.deepEqual(r.keys(), [key(3, 24), k2]);
  const g = r.generation;
  r.use(key(3, 24)); // already primary: no change
  assert.equal(r.generation, g);
});

test('keyring: clear coded errors', () => {
  assert.throws(() => new Keyring([]), code('VXM_ERR_KEYRING_EMPTY'));
  for (const len of [0, 15, 17, 31, 33, 64]) assert.throws(() => new Keyring([new Uint8Array(len)]), code('VXM_ERR_KEY_LENGTH'));
  const r = new Keyring([key(1)]);
  assert.throws(() => r.use(key(2)), code('VXM_ERR_KEY_NOT_FOUND'));
  assert.throws(() => r.remove(key(2)), code('VXM_ERR_KEY_NOT_FOUND'));
  assert.throws(() => r.remove(key(1)), (e: unknown) => code('VXM_ERR_KEY_PRIMARY')(e) && /use\(\) another key first/.test((e as Error).message));
  assert.throws(() => r.add('x' as unknown as Uint8Array), code('VXM_ERR_KEY_LENGTH'));
});

test('keyId: stable, key-dependent, 32-bit', () => {
  assert.equal(keyId(key(1)), keyId(key(1)));
  assert.notEqual(keyId(key(1)), keyId(key(2)));
  const ids = new Set(Array.from({ length: 200 }, (_, i) => keyId(key(i, 16))));
  assert.equal(ids.size, 200);
  for (const id of ids) assert.ok(Number.isInteger(id) && id >= 0 && id < 2 ** 32);
});
