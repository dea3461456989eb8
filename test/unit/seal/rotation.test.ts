import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keyring, Sealer } from '../../../src/control/seal/index.js';

const k1 = new Uint8Array(32).fill(1);
const k2 = new Uint8Array(32).fill(2);
const msg = new TextEncoder().encode('ping seq=1');

// A receiver opens a message iff it holds the sender's primary key.
test('rotation: rings [k1], [k1,k2], [k2,k1], [k2] interoperate exactly where they should', () => {
  const rings: Record<string, Uint8Array[]> = { '[k1]': [k1], '[k1,k2]': [k1, k2], '[k2,k1]': [k2, k1], '[k2]': [k2] };
  const names = Object.keys(rings);
  const matrix: string[] = [];
  for (const from of names) {
    const tx = new Sealer({ mode: 'encrypt', keyring: new Keyring(rings[from]!), maxPlainBytes: 1400 });
    const frame = tx.seal(msg);
    const row = names.map((to) => {
      const rx = new Sealer({ mode: 'encrypt', keyring: new Keyring(rings[to]!), maxPlainBytes: 1400 });
      return rx.open(frame) !== null ? 'Y' : '.';
    });
    matrix.push(`${from.padEnd(8)} ${row.join(' ')}`);
  }
  // columns: receivers in the same order
  assert.deepEqual(matrix, [
    '[k1]     Y Y Y .',
    '[k1,k2]  Y Y Y .',
    '[k2,k1]  . Y Y Y',
    '[k2]     . Y Y Y',
  ]);
});

test('rotation: a 5-node cluster walks add -> use -> remove one node at a time with no drops', () => {
  const nodes = Array.from({ length: 5 }, () => {
    const ring = new Keyring([k1]);
    return { ring, s: new Sealer({ mode: 'auth', keyring: ring, maxPlainBytes: 1400 }) };
  });
  const allTalk = (): void => {
    for (const a of nodes) {
      const frame = a.s.seal(msg);
      for (const b of nodes) assert.ok(b.s.open(frame) !== null);
    }
  };
  allTalk();
  for (const step of [(r: Keyring) => r.add(k2), (r: Keyring) => r.use(k2), (r: Keyring) => r.remove(k1)]) {
    for (const n of nodes) {
      step(n.ring);
      allTalk(); // a cluster mid-step still talks
    }
  }
  for (const n of nodes) {
    assert.deepEqual(n.ring.keys(), [k2]);
    assert.equal(n.s.drops.auth + n.s.drops.unknownKey, 0);
  }
  // a node that missed the whole rotation (still [k1]) can no longer be read
  const stale = new Sealer({ mode: 'auth', keyring: new Keyring([k1]), maxPlainBytes: 1400 });
  assert.equal(nodes[0]!.s.open(stale.seal(msg)), null);
  assert.equal(nodes[0]!.s.drops.unknownKey, 1);
});

test('rotation: sealedUnderPrimary resets when the primary changes', () => {
  const ring = new Keyring([k1]);
  const s = new Sealer({ mode: 'encrypt', keyring: ring, maxPlainBytes: 1400 });
  for (let i = 0; i < 5; i++) s.seal(msg);
  assert.equal(s.sealedUnderPrimary, 5);
  ring.add(k2);
  s.seal(msg);
  assert.equal(s.sealedUnderPrimary, 6); // adding a key does not change the sealing key
  ring.use(k2);
  assert.equal(s.sealedUnderPrimary, 0);
  s.seal(msg);
  assert.equal(s.sealedUnderPrimary, 1);
});
