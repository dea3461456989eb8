// Message sealing for gossip/control traffic: see README.md.
export { Keyring, keyId } from './keyring.js';
export { Sealer, GCM_RANDOM_NONCE_LIMIT, MIN_COMPRESS_BYTES, type SealMode, type SealerOptions, type SealDrops } from './sealer.js';
export { SEAL_OVERHEAD, NONE_OVERHEAD, SEAL_VERSION } from './wire.js';
export { KeyringError, SealError } from './errors.js';
