// A ring of AES keys shared by the cluster: the primary seals, every key opens.
//
// Rotation (the same four steps as memberlist/Serf's `keys -install/-use/-remove`):
//   1. add(k2) on every node              rings [k1, k2]   everyone still seals with k1
//   2. use(k2) on every node              rings [k2, k1]   sealing moves to k2; k1 still opens
//   3. remove(k1) on every node           rings [k2]
// Each step must reach every node before the next starts: a node at step 3 cannot read a node
// still at step 1 (see test/unit/seal/rotation.test.ts for the full interoperability matrix).

import { createHash } from 'node:crypto';
import { KeyringError } from './errors.js';

/** Key lengths AES accepts: AES-128, AES-192, AES-256 (FIPS 197 §5). */
const KEY_LENGTHS: readonly number[] = [16, 24, 32];

/**
 * The 4-byte key id carried on the wire: the first 4 bytes of SHA-256(label || key). Domain-separated
 * so that it cannot be confused with any other hash of the key; it reveals nothing usable about
 * the key (a 32-bit digest of a 128+ bit secret) and lets a receiver pick the key without trial
 * decryption. Changing the label is a wire format change.
 */
export function keyId(key: Uint8Array): number {
  const h = createHash('sha256').update('vxmesh/seal/key-id/v1\0').update(key).digest();
  return h.readUInt32BE(0);
}

function checkKey(key: Uint8Array, where: string): void {
  if (!(key instanceof Uint8Array) || !KEY_LENGTHS.includes(key.length)) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new KeyringError('VXM_ERR_KEY_LENGTH', `${where}: an AES key must be 16, 24 or 32 bytes, got ${got}; generate one with \`openssl rand -base64 32\``);
  }
}

export class Keyring {
  // Index 0 is the primary. Keys are private copies; ids are keyId() of each.
  private readonly ring: Buffer[] = [];
  private readonly ids: number[] = [];
  /** Incremented on every change, so users can cache per-ring state cheaply. */
  generation = 0;

  /** @param keys 16, 24 or 32 bytes each; the first is the primary. At least one. Duplicates are ignored. */
  constructor(keys: readonly Uint8Array[]) {
    if (keys.length === 0) throw new KeyringError('VXM_ERR_KEYRING_EMPTY', 'Keyring: give at least one key; the first becomes the primary');
    for (const k of keys) this.add(k);
  }

  /** Add a key that can open messages (no-op if present). It does not seal until use(key). */
  add(key: Uint8Array): void {
    checkKey(key, 'Keyring.add');
    if (this.find(key) >= 0) return;
    const copy = Buffer.from(key);
    this.ring.push(copy);
    this.ids.push(keyId(copy));
    this.generation++;
  }

  /** Make a key the primary (the one that seals). It must already be in the ring: add() it first. */
  use(key: Uint8Array): void {
    checkKey(key, 'Keyring.use');
    const i = this.find(key);
    if (i < 0) throw new KeyringError('VXM_ERR_KEY_NOT_FOUND', 'Keyring.use: the key is not in the ring; add() it on every node first, then use() it');
    if (i === 0) return;
    const [k] = this.ring.splice(i, 1);
    const [id] = this.ids.splice(i, 1);
    this.ring.unshift(k!);
    this.ids.unshift(id!);
    this.generation++;
  }

  /** Remove a non-primary key (messages sealed with it no longer open). */
  remove(key: Uint8Array): void {
    checkKey(key, 'Keyring.remove');
    const i = this.find(key);
    if (i < 0) throw new KeyringError('VXM_ERR_KEY_NOT_FOUND', 'Keyring.remove: the key is not in the ring');
    if (i === 0) throw new KeyringError('VXM_ERR_KEY_PRIMARY', 'Keyring.remove: the key is the primary; use() another key first, on every node, then remove this one');
    this.ring.splice(i, 1);
    this.ids.splice(i, 1);
    this.generation++;
  }

  /** The sealing key (do not mutate the returned bytes). */
  get primary(): Uint8Array {
    return this.ring[0]!;
  }

  /** All keys, primary first (copies: mutating them does not change the ring). */
  keys(): readonly Uint8Array[] {
    return this.ring.map((k) => Uint8Array.from(k));
  }

  get size(): number {
    return this.ring.length;
  }

  /** @internal for Sealer: key i (0 = primary) and its wire id. */
  keyAt(i: number): Buffer {
    return this.ring[i]!;
  }

  /** @internal */
  idAt(i: number): number {
    return this.ids[i]!;
  }

  private find(key: Uint8Array): number {
    for (let i = 0; i < this.ring.length; i++) if (this.ring[i]!.equals(key)) return i;
    return -1;
  }
}
