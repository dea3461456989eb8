// A linearizability checker for histories of a key-value store of string registers, in the
// manner of Knossos and Porcupine (written here, nothing copied).
//
// Algorithm: Wing & Gong's search for a linearization, in Lowe's "just-in-time" form ("Testing
// for linearizability", 2017) with the memoization Porcupine uses: the history becomes a list of
// call and return events in time order; the search repeatedly picks a call that can take effect
// now (its op is legal in the current state), removes it and its return from the list, and
// backtracks when it meets a return whose op was not linearized yet. A visited-set of
// (linearized ops as a bitset, model state) prunes every configuration already explored, which
// turns the exponential worst case into something that is fast in practice.
//
// Partitioning (Horn & Kroening, "Faster linearizability checking via P-compositionality",
// 2015): every op touches one key and keys are independent registers, so a history is
// linearizable iff the sub-history of every key is. Each key is checked on its own.
//
// Contract of the input:
// - `invoke` < `ret` in the same clock (the simulator's virtual milliseconds). Real-time order
//   is strict: A precedes B iff A.ret < B.invoke; ops that touch at one instant are concurrent.
// - An op whose outcome is unknown (the client timed out) has ret = Infinity and no result. It
//   may have taken effect at any point after its invocation, or never: placing it after every
//   op with a known outcome is the same as "never", so the search stops as soon as all known
//   ops are linearized. An unknown `get` constrains nothing and is ignored.

export type KvOpKind = 'put' | 'get' | 'cas';

export interface KvHistoryOp {
  /** Unique within the history (used in reports). */
  id: number;
  client: number;
  kind: KvOpKind;
  key: string;
  /** put / cas: the value written. */
  value?: string;
  /** cas: the value expected (null = the key must be absent). */
  expect?: string | null;
  /** Virtual ms when the client issued the op. */
  invoke: number;
  /** Virtual ms when the client saw the answer; Infinity when the outcome is unknown. */
  ret: number;
  /**
   * get: the value read (null = absent); cas: whether it swapped; put: true.
   * undefined exactly when ret is Infinity (unknown outcome).
   */
  result?: string | null | boolean;
}

export type CheckStatus = 'ok' | 'violation' | 'timeout';

export interface CheckResult {
  status: CheckStatus;
  keys: number;
  /** Ops checked (unknown gets excluded). */
  ops: number;
  /** Search steps over all keys (a cost measure). */
  steps: number;
  /** The key whose sub-history is not linearizable (or ran out of budget). */
  key?: string;
  /** A human-readable counterexample: the longest linearizable prefix and the ops stuck after it. */
  counterexample?: string;
}

export interface CheckOptions {
  /** Give up (status 'timeout') after this many search steps for one key. Default 5e6. */
  maxStepsPerKey?: number;
}

type State = string | null;

/** The sequential specification of one register. Returns the next state, or undefined if the op's recorded result is impossible in `s`. */
function stepModel(s: State, op: KvHistoryOp): State | undefined {
  switch (op.kind) {
    case 'put':
      return op.value!;
    case 'get':
      return op.result === undefined || op.result === s ? s : undefined;
    case 'cas': {
      const swapped = s === (op.expect ?? null);
      if (op.result !== undefined && op.result !== swapped) return undefined;
      return swapped ? op.value! : s;
    }
    default:
      return undefined;
  }
}

/** One call or return event in the doubly linked list the search walks. */
interface Ev {
  op: number; // index into the key's op array
  isCall: boolean;
  time: number;
  match: Ev | null; // call -> its return
  prev: Ev | null;
  next: Ev | null;
}

export function describeOp(op: KvHistoryOp): string {
  const t = (x: number) => (x === Infinity ? '?' : x.toFixed(1));
  const r = op.result === undefined ? 'unknown' : JSON.stringify(op.result);
  let what: string;
  if (op.kind === 'put') what = `put(${op.key}, ${JSON.stringify(op.value)})`;
  else if (op.kind === 'get') what = `get(${op.key})`;
  else what = `cas(${op.key}, ${JSON.stringify(op.expect ?? null)} -> ${JSON.stringify(op.value)})`;
  return `#${op.id} c${op.client} ${what} = ${r} [${t(op.invoke)}, ${t(op.ret)}]`;
}

/** Check a whole history: partition by key, then search each key. */
export function checkLinearizable(history: readonly KvHistoryOp[], opts: CheckOptions = {}): CheckResult {
  const byKey = new Map<string, KvHistoryOp[]>();
  let ops = 0;
  for (const op of history) {
    if (op.kind === 'get' && op.result === undefined) continue; // unknown read: no constraint
    let l = byKey.get(op.key);
    if (l === undefined) byKey.set(op.key, (l = []));
    l.push(op);
    ops++;
  }
  let steps = 0;
  const keys = [...byKey.keys()].sort();
  for (const key of keys) {
    const r = checkKey(key, byKey.get(key)!, opts.maxStepsPerKey ?? 5_000_000);
    steps += r.steps;
    if (r.status !== 'ok') return { status: r.status, keys: keys.length, ops, steps, key, counterexample: r.counterexample };
  }
  return { status: 'ok', keys: keys.length, ops, steps };
}

function checkKey(key: string, ops: readonly KvHistoryOp[], maxSteps: number): { status: CheckStatus; steps: number; counterexample?: string } {
  const n = ops.length;
  // Build the event list: sort by time, calls before returns at equal times (they overlap).
  const evs: Ev[] = [];
  let known = 0;
  for (let i = 0; i < n; i++) {
    const o = ops[i]!;
    if (o.ret !== Infinity) known++;
    const call: Ev = { op: i, isCall: true, time: o.invoke, match: null, prev: null, next: null };
    const ret: Ev = { op: i, isCall: false, time: o.ret, match: null, prev: null, next: null };
    call.match = ret;
    evs.push(call, ret);
  }
  evs.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: Ev = { op: -1, isCall: false, time: -Infinity, match: null, prev: null, next: null };
  let prev = head;
  for (const e of evs) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const words = (n + 31) >>> 5;
  const linearized = new Uint32Array(words);
  const seen = new Set<string>();
  const stack: { ev: Ev; state: State }[] = [];
  let state: State = null;
  let done = 0; // known ops linearized
  let steps = 0;
  let best = -1;
  let bestOrder: number[] = [];
  let bestState: State = null;
  let bestBits = new Uint32Array(words);

  const lift = (e: Ev): void => {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Ev): void => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  };
  const cacheKey = (s: State): string => {
    let k = s === null ? '\u0000' : `\u0001${s}`;
    for (let w = 0; w < words; w++) k += `,${linearized[w]!.toString(36)}`;
    return k;
  };

  let e: Ev | null = head.next;
  while (done < known) {
    if (++steps > maxSteps) {
      return { status: 'timeout', steps, counterexample: `key ${JSON.stringify(key)}: search gave up after ${maxSteps} steps (${n} ops); raise maxStepsPerKey` };
    }
    if (e === null) break; // cannot happen: a known op's return is always in the list
    if (e.isCall) {
      const op = ops[e.op]!;
      const next = stepModel(state, op);
      if (next !== undefined) {
        linearized[e.op >>> 5]! |= 1 << (e.op & 31);
        const k = cacheKey(next);
        if (!seen.has(k)) {
          seen.add(k);
          stack.push({ ev: e, state });
          state = next;
          if (op.ret !== Infinity) done++;
          lift(e);
          if (stack.length > best) {
            best = stack.length;
            bestOrder = stack.map((x) => x.ev.op);
            bestState = state;
            bestBits = linearized.slice();
          }
          e = head.next;
          continue;
        }
        linearized[e.op >>> 5]! &= ~(1 << (e.op & 31));
      }
      e = e.next;
    } else {
      // A return whose op is not linearized: everything before it was tried; backtrack.
      const top = stack.pop();
      if (top === undefined) break;
      const op = ops[top.ev.op]!;
      if (op.ret !== Infinity) done--;
      state = top.state;
      linearized[top.ev.op >>> 5]! &= ~(1 << (top.ev.op & 31));
      unlift(top.ev);
      e = top.ev.next;
    }
  }
  if (done >= known) return { status: 'ok', steps };
  return { status: 'violation', steps, counterexample: explain(key, ops, bestOrder, bestState, bestBits) };
}

/** The longest linearizable prefix found, then the ops that should have come next but cannot. */
function explain(key: string, ops: readonly KvHistoryOp[], order: number[], state: State, bits: Uint32Array): string {
  const isLin = (i: number) => (bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  let firstRet = Infinity;
  for (let i = 0; i < ops.length; i++) if (!isLin(i) && ops[i]!.ret < firstRet) firstRet = ops[i]!.ret;
  const stuck: KvHistoryOp[] = [];
  for (let i = 0; i < ops.length; i++) if (!isLin(i) && ops[i]!.invoke <= firstRet) stuck.push(ops[i]!);
  stuck.sort((a, b) => a.ret - b.ret || a.invoke - b.invoke);
  const tail = order.slice(-8).map((i) => `    ${describeOp(ops[i]!)}`);
  const lines = [
    `key ${JSON.stringify(key)}: not linearizable (${ops.length} ops on this key)`,
    `  longest linearizable prefix: ${order.length} ops${order.length > 8 ? ', last 8' : ''}:`,
    ...tail,
    `  state after it: ${JSON.stringify(state)}`,
    `  none of these can go next (the first must complete by ${firstRet === Infinity ? '?' : firstRet.toFixed(1)} ms):`,
    ...stuck.slice(0, 10).map((o) => `    ${describeOp(o)}`),
  ];
  if (stuck.length > 10) lines.push(`    ... and ${stuck.length - 10} more`);
  return lines.join('\n');
}
