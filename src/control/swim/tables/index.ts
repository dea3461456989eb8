// Gossip-replicated endpoint tables: the module the SWIM core drives (see README.md).
export { GossipTables } from './gossip-tables.js';
export type { TableBroadcast, TableEvent, TableEventOp, TableEntryView, TablesCounters } from './gossip-tables.js';
export { DEFAULT_MAX_VALUE_BYTES, DEFAULT_TOMBSTONE_REAP_MS, resolveTablesConfig } from './config.js';
export type { TablesConfig, TablesConfigInput } from './config.js';
export { tablesDigest } from './digest.js';
export type { DigestEntry } from './digest.js';
export { GossipTableEntryError } from './errors.js';
export { FORMAT_VERSION, MAX_KEY_BYTES, MAX_NAME_BYTES, MAX_VALUE_BYTES_LIMIT } from './wire.js';
export type { DropReason } from './wire.js';
