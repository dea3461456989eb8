// Errors the Raft core returns to its caller. Codes are the API; messages may change.

import { VxmeshError } from '../../../errors.js';

/** A proposal, conf change or transfer was made on a node that is not the leader. */
export class NotLeaderError extends VxmeshError {
  /** The leader this node knows of, 0 if none (retry after an election timeout). */
  readonly leader: number;
  constructor(id: number, leader: number) {
    super(
      'VXM_ERR_NOT_LEADER',
      leader === 0
        ? `propose on manager ${id}: no leader is known, retry after an election timeout`
        : `propose on manager ${id}: not the leader, send the request to manager ${leader}`,
    );
    this.name = 'NotLeaderError';
    this.leader = leader;
  }
}

/** The leader refused a proposal: uncommitted-size cap, leader transfer in progress, or leader removed. */
export class ProposalDroppedError extends VxmeshError {
  constructor(message: string) {
    super('VXM_ERR_PROPOSAL_DROPPED', message);
    this.name = 'ProposalDroppedError';
  }
}

/** A membership change that cannot be proposed as it is (pending change, removed ID, unknown node ...). */
export class ConfChangeError extends VxmeshError {
  constructor(code: 'VXM_ERR_CONF_CHANGE_PENDING' | 'VXM_ERR_NODE_ID_REMOVED' | 'VXM_ERR_CONF_CHANGE_INVALID', message: string) {
    super(code, message);
    this.name = 'ConfChangeError';
  }
}

/** MemoryStorage: the requested index was compacted away (the caller should send a snapshot). */
export class CompactedError extends VxmeshError {
  constructor(message: string) {
    super('VXM_ERR_LOG_COMPACTED', message);
    this.name = 'CompactedError';
  }
}

/** MemoryStorage: the requested index is beyond the last entry. */
export class UnavailableError extends VxmeshError {
  constructor(message: string) {
    super('VXM_ERR_LOG_UNAVAILABLE', message);
    this.name = 'UnavailableError';
  }
}
