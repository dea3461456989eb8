// The deterministic simulation kit: see README.md.
export { Rng, type RngState } from './rng.js';
export { EventQueue, schedulePeriodic, type EventHandler, type Periodic } from './event-queue.js';
export {
  SimNetwork, type LinkFaults, type Transport, type MessageHandler, type TcpErrorHandler, type NetStats,
  type DropReason, type TraceEvent, type SimNetworkOptions,
} from './sim-network.js';
export { percentile, summarize, formatTable } from './report.js';
export { SimError } from './errors.js';
