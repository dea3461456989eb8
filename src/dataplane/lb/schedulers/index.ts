// The schedulers of a VIP, by IPVS-style name. See README.md for what each guarantees.
import { LeastConnectionsScheduler } from './lc.js';
import { MaglevScheduler, type MaglevOptions } from './maglev.js';
import { RoundRobinScheduler } from './rr.js';
import { SourceHashScheduler } from './sh.js';
import type { Scheduler, SchedulerKind } from './types.js';
import { WeightedRoundRobinScheduler } from './wrr.js';

export * from './types.js';
export { RoundRobinScheduler } from './rr.js';
export { WeightedRoundRobinScheduler } from './wrr.js';
export { LeastConnectionsScheduler } from './lc.js';
export { SourceHashScheduler } from './sh.js';
export {
  DEFAULT_MAGLEV_TABLE_SIZE,
  MAX_MAGLEV_TABLE_SIZE,
  MAGLEV_OFFSET_SEED,
  MAGLEV_SKIP_SEED,
  MaglevScheduler,
  buildMaglevTable,
  isPrime,
  maglevDelta,
  maglevOffsetSkip,
  relabelMaglevTable,
  validateMaglevTableSize,
  type MaglevDelta,
  type MaglevOptions,
  type MaglevTable,
} from './maglev.js';
export { murmur3x86_32 } from './murmur3.js';

export const SCHEDULER_KINDS: readonly SchedulerKind[] = ['rr', 'wrr', 'lc', 'sh', 'maglev'];

/** Options of every kind; a kind ignores the ones it does not use. */
export interface SchedulerOptions extends MaglevOptions {}

/** A new scheduler of `kind` with no backends (pick returns -1 until setBackends). */
export function createScheduler(kind: SchedulerKind, options: SchedulerOptions = {}): Scheduler {
  switch (kind) {
    case 'rr':
      return new RoundRobinScheduler();
    case 'wrr':
      return new WeightedRoundRobinScheduler();
    case 'lc':
      return new LeastConnectionsScheduler();
    case 'sh':
      return new SourceHashScheduler();
    case 'maglev':
      return new MaglevScheduler(options);
    default:
      throw new RangeError(`Invalid scheduler kind: ${String(kind)}, use one of ${SCHEDULER_KINDS.join(', ')}`);
  }
}
