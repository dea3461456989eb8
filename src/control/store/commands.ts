// The proposal format of the cluster store: a transaction of up to MAX_CHANGES changes,
// encoded as one Raft entry.
//
// Wire format (protocol, ours):
//
//   0        1
//   +--------+------------------------------------------------+
//   | format |  UTF-8 JSON of the normalized transaction       |
//   +--------+------------------------------------------------+
//
// format = TX_FORMAT_V1 (1). Why JSON behind a version byte rather than a binary layout:
// cluster objects are small, nested and change rarely (control plane, not the packet path);
// every field must be schema-checked on decode anyway, so a binary layout would buy little
// speed for a second schema to keep in step; JSON entries can be read with jq when debugging
// a WAL. The version byte lets a later binary v2 coexist in the same log: a manager refuses
// (counts and skips) a format it does not know, and the rollout rule is the usual one for
// replicated state machines: upgrade every manager before any proposes the new format.
//
// Canonical bytes: encodeTransaction writes the objects as the schema readers rebuild them
// (fixed key order, sorted labels, defaults filled in), so the same transaction always gives
// the same bytes and decode(encode(tx)) re-encodes identically.

import { StoreInvalidError, StoreTooLargeError } from './errors.js';
import { CHANGEABLE_KINDS, readId, readInput, readInt, readRecord, type ChangeableKind, type SpecOf } from './schema.js';

/** Protocol (ours): the first byte of every store entry. Append-only: never reuse a value. */
export const TX_FORMAT_V1 = 1;

/**
 * Implementation: default cap on an encoded transaction, 1 MiB. Raft replicates an entry to
 * every manager and keeps it in the WAL until the next snapshot; big entries stall heartbeats
 * behind them on the wire (etcd caps requests at 1.5 MiB for the same reason; swarmkit's
 * MaxTransactionBytes is 1.5 MiB too). Lower it to bound tail latency, raise it only together
 * with the Raft driver's max message size.
 */
export const DEFAULT_MAX_TRANSACTION_BYTES = 1 << 20;

/** Implementation: changes per transaction, swarmkit's MaxChangesPerTransaction (200). */
export const MAX_CHANGES = 200;

/** Implementation: request ids are opaque to the store, echoed in the ApplyResult. */
export const MAX_REQUEST_ID_LENGTH = 128;

export type ChangeOp = 'create' | 'update' | 'delete';
export const CHANGE_OPS: readonly ChangeOp[] = ['create', 'update', 'delete'];

export type CreateChange<K extends ChangeableKind = ChangeableKind> = { op: 'create'; kind: K; object: SpecOf[K] };
/** `expectedVersion` is the object's version as the proposer read it (swarmkit Meta.Version). */
export type UpdateChange<K extends ChangeableKind = ChangeableKind> = { op: 'update'; kind: K; object: SpecOf[K]; expectedVersion: number };
export type DeleteChange<K extends ChangeableKind = ChangeableKind> = { op: 'delete'; kind: K; id: string; expectedVersion: number };
export type Change = CreateChange | UpdateChange | DeleteChange;

export interface Transaction {
  /** Chosen by the proposer to match the ApplyResult to its request; 1-128 characters. */
  requestId: string;
  changes: readonly Change[];
}

export interface EncodeOptions {
  /** Cap on the encoded size in bytes; default DEFAULT_MAX_TRANSACTION_BYTES. */
  maxBytes?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Validates and encodes a transaction. Throws StoreInvalidError (VXM_ERR_STORE_INVALID, with the
 * field path) for anything the schema refuses and StoreTooLargeError (VXM_ERR_STORE_TOO_LARGE)
 * over the cap: both BEFORE the bytes could reach the log.
 */
export function encodeTransaction(tx: unknown, options: EncodeOptions = {}): Uint8Array {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_TRANSACTION_BYTES;
  const t = readTransaction(tx);
  const json = encoder.encode(JSON.stringify(t));
  const size = json.length + 1;
  if (size > maxBytes) {
    throw new StoreTooLargeError(
      `encode transaction ${t.requestId}: ${size} bytes is over the ${maxBytes}-byte cap, split its ${t.changes.length} changes into several transactions`,
      size,
      maxBytes,
    );
  }
  const out = new Uint8Array(size);
  out[0] = TX_FORMAT_V1;
  out.set(json, 1);
  return out;
}

/** Decodes and re-validates an entry; throws StoreInvalidError on anything malformed. */
export function decodeTransaction(data: Uint8Array): Transaction {
  if (data.length < 2) throw new StoreInvalidError('entry', `${data.length} bytes is too short for a store transaction, propose bytes from encodeTransaction`);
  if (data[0] !== TX_FORMAT_V1) {
    throw new StoreInvalidError('entry', `format ${data[0]} is not known to this manager (knows ${TX_FORMAT_V1}), upgrade every manager before proposing a new format`);
  }
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data.subarray(1)));
  } catch {
    throw new StoreInvalidError('entry', 'not UTF-8 JSON, propose bytes from encodeTransaction');
  }
  return readTransaction(v);
}

/** Schema check of a transaction value; returns the normalized (canonical) form. */
export function readTransaction(v: unknown): Transaction {
  const o = readRecord(v, '', ['requestId', 'changes']);
  const requestId = o['requestId'];
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > MAX_REQUEST_ID_LENGTH) {
    throw new StoreInvalidError('requestId', `expected 1-${MAX_REQUEST_ID_LENGTH} characters, set a request id to match the result to`);
  }
  const raw = o['changes'];
  if (!Array.isArray(raw) || raw.length === 0) throw new StoreInvalidError('changes', 'expected a non-empty array of changes, add at least one');
  if (raw.length > MAX_CHANGES) {
    throw new StoreInvalidError('changes', `${raw.length} changes is too many, split into transactions of at most ${MAX_CHANGES}`);
  }
  const seen = new Map<string, number>();
  const changes = raw.map((c, i): Change => {
    const change = readChange(c, `changes[${i}]`);
    const id = change.op === 'delete' ? change.id : change.object.id;
    const key = `${change.kind}/${id}`;
    const prev = seen.get(key);
    if (prev !== undefined) {
      throw new StoreInvalidError(`changes[${i}]`, `${key} is already changed by changes[${prev}], merge them into one change`);
    }
    seen.set(key, i);
    return change;
  });
  return { requestId, changes };
}

function readChange(v: unknown, path: string): Change {
  const o = readRecord(v, path, ['op', 'kind', 'object', 'id', 'expectedVersion']);
  const op = o['op'];
  if (op !== 'create' && op !== 'update' && op !== 'delete') {
    throw new StoreInvalidError(`${path}.op`, `expected one of ${CHANGE_OPS.join(', ')}, got ${JSON.stringify(op) ?? 'nothing'}`);
  }
  const kind = o['kind'] as ChangeableKind;
  if (!(CHANGEABLE_KINDS as readonly unknown[]).includes(kind)) {
    const hint = kind === ('pool' as unknown) ? ', pools change with their network, services and tasks' : '';
    throw new StoreInvalidError(`${path}.kind`, `expected one of ${CHANGEABLE_KINDS.join(', ')}${hint}`);
  }
  if (op === 'delete') {
    if (o['object'] !== undefined) throw new StoreInvalidError(`${path}.object`, 'a delete names the id only, remove the object');
    const id = readId(o['id'], `${path}.id`);
    const expectedVersion = readInt(o['expectedVersion'], `${path}.expectedVersion`, 1, Number.MAX_SAFE_INTEGER);
    return { op, kind, id, expectedVersion };
  }
  if (o['id'] !== undefined) throw new StoreInvalidError(`${path}.id`, `a ${op} carries the id inside the object, remove this field`);
  const object = readInput(kind, o['object'], `${path}.object`);
  if (op === 'create') {
    if (o['expectedVersion'] !== undefined) throw new StoreInvalidError(`${path}.expectedVersion`, 'a create has no version to expect, remove it');
    return { op, kind, object };
  }
  const expectedVersion = readInt(o['expectedVersion'], `${path}.expectedVersion`, 1, Number.MAX_SAFE_INTEGER);
  return { op, kind, object, expectedVersion };
}

/** An update of a stored object that names the version it was read at. */
export function updateOf<K extends ChangeableKind>(kind: K, object: SpecOf[K] & { version: number }): UpdateChange<K> {
  return { op: 'update', kind, object, expectedVersion: object.version };
}
