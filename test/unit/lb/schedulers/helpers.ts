// Shared builders for the scheduler tests.
import type { Backend, BackendState } from '../../../../src/dataplane/lb/schedulers/types.js';

export function backends(spec: ReadonlyArray<[name: string, weight?: number, state?: BackendState]>): Backend[] {
  return spec.map(([name, weight = 1, state = 'active']) => ({ name, weight, state }));
}

export function equalBackends(n: number, prefix = 'task-'): Backend[] {
  return Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, weight: 1, state: 'active' as const }));
}

/** Counts of each index over `n` picks with hashes from `hashOf(i)`. */
export function histogram(pick: (hash: number) => number, size: number, n: number, hashOf: (i: number) => number = () => 0): number[] {
  const counts = new Array<number>(size).fill(0);
  for (let i = 0; i < n; i++) {
    const b = pick(hashOf(i));
    if (b >= 0) counts[b]!++;
  }
  return counts;
}

/** A well-mixed 32-bit value for i (murmur3 fmix32): uniform test hashes without Math.random. */
export function mix32(i: number): number {
  let h = i | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Deterministic Fisher-Yates with a seeded LCG. */
export function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export const FC_SEED = 0x5eed;
