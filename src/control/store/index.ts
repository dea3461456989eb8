// The cluster store's public surface: import from here.

export * from './errors.js';
export * from './schema.js';
export * from './commands.js';
export { ChangeLog, StoreWatcher, type ChangeEvent, type WatchFilter } from './change-log.js';
export { PoolBits, VNI_FIRST, VNI_LAST, DEFAULT_POOL_BASE, DEFAULT_POOL_PREFIX, DEFAULT_SUBNET_PREFIX, formatIPv4 } from './ipam.js';
export * from './store.js';
