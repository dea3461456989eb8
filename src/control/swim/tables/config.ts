// Gossip tables configuration. Every field says what it trades; operators tune from these
// comments (hashicorp/memberlist config.go is the model). Times are milliseconds of the
// caller's monotonic clock.

import { ConfigError } from '../../../errors.js';
import { MAX_NAME_BYTES, MAX_VALUE_BYTES_LIMIT, utf8Length } from './wire.js';

export interface TablesConfig {
  /** This node's name as the SWIM core knows it. It is the `owner` of every entry this node
   *  writes; two live processes with one name fight over the same entries (counted in
   *  `counters.selfConflict`). At most 255 UTF-8 bytes. */
  self: string;
  /** This process's owner epoch: a positive safe integer that MUST be larger than every epoch
   *  an earlier process of the same `self` used. A persisted counter incremented at each start
   *  is exact; the wall clock in ms at process start (read by the driver, never by the core) is
   *  fine when the clock does not step back by more than a restart takes. Versions are
   *  (epoch, seq), so a restarted owner's writes beat all its pre-restart ones even though it
   *  remembers nothing of them (networkdb's "entries rejected forever" bug). The tables raise it
   *  at run time when other nodes declared this epoch gone (see `GossipTables.epoch`). */
  epoch: number;
  /** How long a delete's tombstone is kept before it is forgotten. Default 600 000 (10 min).
   *  It must cover the time anti-entropy needs to bring the tombstone to every node: about
   *  log2(N) push-pull rounds (memberlist: PushPullInterval 30 s, scaled up by log2(N/32) above
   *  32 nodes, so ~3 min for 1000 nodes). Too short costs little: a replica that missed the
   *  delete may briefly resurrect the entry until the owner refutes it (the owner is the
   *  authority for its own entries), at the price of one extra broadcast. Too long costs memory:
   *  one small record per deleted key (task churn x reap time). networkdb keeps 30 min. */
  tombstoneReapMs: number;
  /** Largest value accepted, locally and on decode. Default 1024: one entry plus headers must
   *  fit a gossip UDP packet (memberlist UDPBufferSize 1400); endpoint values (IP, MAC, VTEP)
   *  are tens of bytes. Must be the same on every node: a value one node accepts and another
   *  drops keeps the two replicas from ever agreeing. At most 65 535. */
  maxValueBytes: number;
}

export const DEFAULT_TOMBSTONE_REAP_MS = 600_000;
export const DEFAULT_MAX_VALUE_BYTES = 1024;

/** What the constructor takes: `self` and `epoch` are required, the rest have defaults. */
export type TablesConfigInput = Pick<TablesConfig, 'self' | 'epoch'> & Partial<TablesConfig>;

/** Fills defaults and checks every field; throws ConfigError (VXM_ERR_CONFIG) naming the field. */
export function resolveTablesConfig(input: TablesConfigInput): TablesConfig {
  const cfg: TablesConfig = {
    self: input.self,
    epoch: input.epoch,
    tombstoneReapMs: input.tombstoneReapMs ?? DEFAULT_TOMBSTONE_REAP_MS,
    maxValueBytes: input.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES,
  };
  if (typeof cfg.self !== 'string' || cfg.self.length === 0 || utf8Length(cfg.self) > MAX_NAME_BYTES) {
    throw new ConfigError('tables.self', `give a node name of 1 to ${MAX_NAME_BYTES} UTF-8 bytes`);
  }
  if (!Number.isSafeInteger(cfg.epoch) || cfg.epoch < 1) {
    throw new ConfigError('tables.epoch', 'give a positive safe integer larger than any epoch an earlier process of this node used');
  }
  if (!Number.isFinite(cfg.tombstoneReapMs) || cfg.tombstoneReapMs <= 0) {
    throw new ConfigError('tables.tombstoneReapMs', 'give a positive number of milliseconds, longer than anti-entropy needs to reach every node');
  }
  if (!Number.isSafeInteger(cfg.maxValueBytes) || cfg.maxValueBytes < 0 || cfg.maxValueBytes > MAX_VALUE_BYTES_LIMIT) {
    throw new ConfigError('tables.maxValueBytes', `give an integer from 0 to ${MAX_VALUE_BYTES_LIMIT}`);
  }
  return cfg;
}
