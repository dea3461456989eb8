// The contract every load-balancing scheduler keeps. The VIP path calls `pick` once per NEW
// flow (conntrack hits never reach a scheduler), so `pick` is the hot path: it must allocate
// nothing and do O(1) or O(log n) work. `setBackends` is the control path: it runs when the
// desired state changes and may allocate freely.

/**
 * `active` backends take new flows; `draining` ones keep their existing flows (conntrack)
 * but take no new ones; `down` ones take nothing.
 */
export type BackendState = 'active' | 'draining' | 'down';

export interface Backend {
  /** Stable identity, the same on every node (e.g. the task ID). Unique within a set. */
  name: string;
  /** Relative share of new flows: an integer >= 0. Weight 0 takes no new flows. */
  weight: number;
  state: BackendState;
}

export type SchedulerKind = 'rr' | 'wrr' | 'lc' | 'sh' | 'maglev';

export interface Scheduler {
  readonly kind: SchedulerKind;
  /**
   * Replaces the backend set (control path, may allocate). Indices returned by `pick` and
   * taken by `connectionOpened`/`connectionClosed` refer to THIS array until the next call.
   * Throws RangeError on an invalid set (see `validateBackends`).
   */
  setBackends(backends: readonly Backend[]): void;
  /**
   * Chooses the backend for a NEW flow and returns its index, or -1 when no backend is
   * eligible (eligible = `active` with weight > 0). `hash` is the 32-bit flow hash; sh and
   * maglev use it, the others ignore it. MUST NOT allocate: it runs once per new flow.
   */
  pick(hash: number): number;
  /** A flow to backend `index` was established (lc counts them; others ignore it). */
  connectionOpened(index: number): void;
  /** A flow to backend `index` ended (lc counts them; others ignore it). */
  connectionClosed(index: number): void;
}

/** Only active backends with a positive weight take new flows; draining and down never do. */
export function isEligible(b: Backend): boolean {
  return b.state === 'active' && b.weight > 0;
}

/**
 * Checks what every scheduler relies on: integer weights >= 0, known states, unique
 * non-empty names (maglev orders by name and the others keep state across sets by name).
 */
export function validateBackends(backends: readonly Backend[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < backends.length; i++) {
    const b = backends[i]!;
    if (typeof b.name !== 'string' || b.name.length === 0) {
      throw new RangeError(`Invalid backend: backends[${i}] needs a non-empty name`);
    }
    if (seen.has(b.name)) {
      throw new RangeError(`Invalid backend: duplicate name ${JSON.stringify(b.name)}, names must be unique`);
    }
    seen.add(b.name);
    if (!Number.isSafeInteger(b.weight) || b.weight < 0) {
      throw new RangeError(`Invalid backend: ${JSON.stringify(b.name)} has weight ${b.weight}, use an integer >= 0`);
    }
    if (b.state !== 'active' && b.state !== 'draining' && b.state !== 'down') {
      throw new RangeError(`Invalid backend: ${JSON.stringify(b.name)} has state ${String(b.state)}, use active, draining or down`);
    }
  }
}

/** Indices (into `backends`) of the eligible backends, in input order. */
export function eligibleIndices(backends: readonly Backend[]): Int32Array {
  let n = 0;
  for (const b of backends) if (isEligible(b)) n++;
  const out = new Int32Array(n);
  let k = 0;
  for (let i = 0; i < backends.length; i++) if (isEligible(backends[i]!)) out[k++] = i;
  return out;
}

/** True when both sets list the same names, weights and states in the same order. */
export function sameBackends(a: readonly Backend[], b: readonly Backend[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.weight !== y.weight || x.state !== y.state) return false;
  }
  return true;
}

/** Throws RangeError unless `index` is a valid index into a set of `length` backends. */
export function checkIndex(index: number, length: number): void {
  if (!(Number.isInteger(index) && index >= 0 && index < length)) {
    throw new RangeError(`Invalid backend index: ${index} is outside 0..${length - 1}`);
  }
}
