// Coded errors of the Raft storage. Codes are the API; messages say what to do.

import { VxmeshError } from '../../../errors.js';

/**
 * A WAL record that fails its checksum (or cannot be framed) and is followed by valid data, so
 * it cannot be a torn tail from a crash: the disk or something else changed bytes that had been
 * synced. Truncating would silently drop acknowledged entries, so the WAL refuses to open.
 */
export class WalCorruptError extends VxmeshError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, reason: string) {
    super(
      'VXM_ERR_WAL_CORRUPT',
      `open raft WAL: ${reason} in ${file} at offset ${offset} with valid records after it; ` +
        'this node cannot recover its log: move the raft data directory aside and rejoin the cluster ' +
        'to restore from a peer, or, if this is the last manager, restart with force-new-cluster from a backup',
    );
    this.name = 'WalCorruptError';
    this.file = file;
    this.offset = offset;
  }
}

export type RaftStorageErrorCode =
  /** Requested index is at or below the snapshot (etcd raft ErrCompacted): send a snapshot instead. */
  | 'VXM_ERR_RAFT_COMPACTED'
  /** Requested index is above the last index (etcd raft ErrUnavailable). */
  | 'VXM_ERR_RAFT_UNAVAILABLE'
  /** Snapshot is older than the one already held (etcd raft ErrSnapOutOfDate). */
  | 'VXM_ERR_RAFT_SNAP_OUT_OF_DATE'
  /** No usable snapshot covers the start of the WAL: the node cannot rebuild its state. */
  | 'VXM_ERR_SNAPSHOT_MISSING'
  /** The directory holds something that is not (or not yet) a usable WAL. */
  | 'VXM_ERR_WAL_STATE';

export class RaftStorageError extends VxmeshError {
  constructor(code: RaftStorageErrorCode, message: string) {
    super(code, message);
    this.name = 'RaftStorageError';
  }
}
