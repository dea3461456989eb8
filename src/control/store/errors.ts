// Errors of the cluster store. Codes are the API; messages may change (undici's
// lib/core/errors.js habit). Messages are sentence case, no trailing period, and end with
// what the caller should do.
//
// Apply-time errors (conflict, not found, exists, in use, exhausted) are not thrown out of
// ClusterStore.apply: they come back inside a failed ApplyResult, identical on every manager.
// Encode-time errors (invalid, too large) are thrown by encodeTransaction so a malformed
// proposal never reaches the log.

import { VxmeshError } from '../../errors.js';

export type StoreErrorCode =
  | 'VXM_ERR_STORE_INVALID'
  | 'VXM_ERR_STORE_TOO_LARGE'
  | 'VXM_ERR_STORE_CONFLICT'
  | 'VXM_ERR_STORE_NOT_FOUND'
  | 'VXM_ERR_STORE_EXISTS'
  | 'VXM_ERR_STORE_IN_USE'
  | 'VXM_ERR_STORE_EXHAUSTED'
  | 'VXM_ERR_STORE_COMPACTED'
  | 'VXM_ERR_STORE_INTERNAL';

/** Base of every store error; `path` names the offending field when there is one. */
export class StoreError extends VxmeshError {
  declare readonly code: StoreErrorCode;
  /** Field path such as `changes[1].object.endpoint.ports[0].published`; '' when not about a field. */
  readonly path: string;
  constructor(code: StoreErrorCode, path: string, message: string) {
    super(code, path === '' ? message : `${path}: ${message}`);
    this.name = 'StoreError';
    this.path = path;
  }
}

/** A proposal, object or snapshot that does not match the schema: fix the named field. */
export class StoreInvalidError extends StoreError {
  constructor(path: string, message: string) {
    super('VXM_ERR_STORE_INVALID', path, message);
    this.name = 'StoreInvalidError';
  }
}

/** An encoded transaction over the configured cap: split it into several transactions. */
export class StoreTooLargeError extends StoreError {
  readonly size: number;
  readonly limit: number;
  constructor(message: string, size: number, limit: number) {
    super('VXM_ERR_STORE_TOO_LARGE', '', message);
    this.name = 'StoreTooLargeError';
    this.size = size;
    this.limit = limit;
  }
}

/** Optimistic concurrency: the update named a version that is no longer current. Re-read and retry. */
export class StoreConflictError extends StoreError {
  readonly expectedVersion: number;
  readonly currentVersion: number;
  constructor(path: string, message: string, expectedVersion: number, currentVersion: number) {
    super('VXM_ERR_STORE_CONFLICT', path, message);
    this.name = 'StoreConflictError';
    this.expectedVersion = expectedVersion;
    this.currentVersion = currentVersion;
  }
}

/** The object changed, or one it refers to, does not exist. */
export class StoreNotFoundError extends StoreError {
  constructor(path: string, message: string) {
    super('VXM_ERR_STORE_NOT_FOUND', path, message);
    this.name = 'StoreNotFoundError';
  }
}

/** A uniqueness constraint: id, name, VNI, overlapping subnet, published port or address taken. */
export class StoreExistsError extends StoreError {
  constructor(path: string, message: string) {
    super('VXM_ERR_STORE_EXISTS', path, message);
    this.name = 'StoreExistsError';
  }
}

/** A delete of an object other objects still refer to (a network with services, a node with tasks). */
export class StoreInUseError extends StoreError {
  constructor(path: string, message: string) {
    super('VXM_ERR_STORE_IN_USE', path, message);
    this.name = 'StoreInUseError';
  }
}

/** An allocation range is full: address pool, VNI range or default subnet space. */
export class StoreExhaustedError extends StoreError {
  constructor(path: string, message: string) {
    super('VXM_ERR_STORE_EXHAUSTED', path, message);
    this.name = 'StoreExhaustedError';
  }
}

/**
 * A watch asked for changes the bounded change log no longer holds (etcd's ErrCompacted):
 * list the objects again, then watch from the list's index + 1.
 */
export class StoreCompactedError extends StoreError {
  /** Changes at or below this index are gone. */
  readonly compactedIndex: number;
  constructor(fromIndex: number, compactedIndex: number) {
    super(
      'VXM_ERR_STORE_COMPACTED',
      '',
      `watch from index ${fromIndex}: changes up to index ${compactedIndex} were compacted, list the objects again and watch from the list's index + 1`,
    );
    this.name = 'StoreCompactedError';
    this.compactedIndex = compactedIndex;
  }
}

/** A bug in the store caught by apply's safety net; the transaction was rolled back everywhere alike. */
export class StoreInternalError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('VXM_ERR_STORE_INTERNAL', '', message);
    this.name = 'StoreInternalError';
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}
