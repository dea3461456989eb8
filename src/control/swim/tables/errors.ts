// Errors of the gossip tables API. Bytes off the wire are never errors here (they are counted
// drops, see `GossipTables.counters`); these are for a caller that breaks an API contract.

import { VxmeshError } from '../../../errors.js';

/** A local write the tables cannot carry: name too long or empty, value above `maxValueBytes`. */
export class GossipTableEntryError extends VxmeshError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('VXM_ERR_TABLE_ENTRY_INVALID', `${field}: ${message}`);
    this.name = 'GossipTableEntryError';
    this.field = field;
  }
}
