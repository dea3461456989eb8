// One small seeded PRNG (mulberry32, floats in [0, 1)) for tests that need deterministic
// shuffles or fault choices; the implementation is the in-memory fs's (src cannot import tests).
export { seededRng as mulberry32 } from '../../src/control/raft/storage/mem-fs.js';
