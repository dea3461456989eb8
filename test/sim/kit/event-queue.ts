// Virtual-time event queue for deterministic simulation.
//
// Contract:
// - Time is virtual milliseconds (any finite float). Nothing here reads a real clock.
// - Events run in (time, insertion sequence) order: two events at the same time run in the order
//   they were scheduled, so a run is a pure function of the schedule calls (and thus of the seed).
// - Events may schedule further events at `now` or later (never earlier: that throws, because a
//   harness that does so has a bug that would silently reorder history).
// - Handlers must not call runUntil/runWhile/step themselves (no re-entrancy).
//
// Cost: a binary min-heap over parallel typed arrays (time, sequence, payload slot); O(log n) per
// schedule and per event, no allocation per event once the arrays have grown. Closure-free
// scheduling (`schedule(time, handler, kind, arg)`) exists for hot senders such as the simulated
// network, which would otherwise allocate one closure per message.

import { SimError } from './errors.js';

/** Closure-free event target: `kind` and `arg` are whatever the scheduler passed. */
export interface EventHandler {
  handleEvent(kind: number, arg: number): void;
}

const KIND_FN = -1; // handler is a plain () => void
const KIND_CANCELLED = -2; // slot cancelled; skipped when popped
const SLOT_BITS = 2 ** 24; // event ids are generation * 2^24 + slot: at most 16 M pending events
const INITIAL_CAPACITY = 1024;

export class EventQueue {
  private nowMs = 0;
  private seq = 0;
  private count = 0; // heap entries, including cancelled ones not yet popped
  private live = 0; // entries that will run
  private cap = INITIAL_CAPACITY;
  private heapTime = new Float64Array(INITIAL_CAPACITY);
  private heapSeq = new Float64Array(INITIAL_CAPACITY);
  private heapSlot = new Int32Array(INITIAL_CAPACITY);
  // Payload by slot (slot ids are stable while an event is pending; the heap moves only indices).
  private slotTarget: unknown[] = new Array(INITIAL_CAPACITY).fill(null);
  private slotKind = new Int32Array(INITIAL_CAPACITY);
  private slotArg = new Float64Array(INITIAL_CAPACITY);
  private slotGen = new Uint32Array(INITIAL_CAPACITY);
  private freeSlots = new Int32Array(INITIAL_CAPACITY);
  private freeTop = 0;
  private nextFreshSlot = 0;
  /** Events dispatched so far (cancelled ones excluded). */
  executed = 0;

  /** Current virtual time (ms). Advanced only by running events or by runUntil's target. */
  get now(): number {
    return this.nowMs;
  }

  /** Events pending (cancelled ones excluded). */
  get size(): number {
    return this.live;
  }

  /** Time of the earliest pending event, or Infinity. */
  peekTime(): number {
    this.dropCancelledTop();
    return this.count > 0 ? this.heapTime[0]! : Infinity;
  }

  /** Run fn at virtual time `time` (>= now). Returns an id for cancel(). */
  at(time: number, fn: () => void): number {
    return this.push(time, fn, KIND_FN, 0);
  }

  after(delay: number, fn: () => void): number {
    return this.push(this.nowMs + delay, fn, KIND_FN, 0);
  }

  /** Closure-free: at `time`, call handler.handleEvent(kind, arg). kind must be >= 0. */
  schedule(time: number, handler: EventHandler, kind: number, arg: number): number {
    if (!(kind >= 0)) throw new SimError('VXM_ERR_SIM_CONFIG', `schedule: kind must be >= 0, got ${kind}`);
    return this.push(time, handler, kind | 0, arg);
  }

  scheduleAfter(delay: number, handler: EventHandler, kind: number, arg: number): number {
    return this.schedule(this.nowMs + delay, handler, kind, arg);
  }

  /** Cancel a pending event. Returns false if it already ran, was cancelled, or never existed. */
  cancel(id: number): boolean {
    const slot = id % SLOT_BITS;
    const gen = Math.floor(id / SLOT_BITS);
    if (!(slot >= 0 && slot < this.nextFreshSlot) || this.slotGen[slot] !== gen) return false;
    if (this.slotKind[slot] === KIND_CANCELLED) return false;
    this.slotKind[slot] = KIND_CANCELLED;
    this.slotTarget[slot] = null;
    this.live--;
    return true;
  }

  /** Run the next event, if any. Returns false when the queue is empty. */
  step(): boolean {
    this.dropCancelledTop();
    if (this.count === 0) return false;
    this.popAndRun();
    return true;
  }

  /**
   * Run every event with time <= `time`, then set now = time (when it is finite and ahead).
   * Returns the number of events run.
   */
  runUntil(time: number): number {
    if (Number.isNaN(time)) throw new SimError('VXM_ERR_SIM_TIME', 'runUntil: time is NaN');
    const before = this.executed;
    for (;;) {
      this.dropCancelledTop();
      if (this.count === 0 || this.heapTime[0]! > time) break;
      this.popAndRun();
    }
    if (time > this.nowMs && time !== Infinity) this.nowMs = time;
    return this.executed - before;
  }

  /**
   * Run events while pred() holds, up to limitTime. Returns true if pred() became false (checked
   * before every event) at or before limitTime; false if limitTime was reached or the queue ran
   * dry with pred() still true (now is then limitTime, if finite).
   */
  runWhile(pred: () => boolean, limitTime: number): boolean {
    for (;;) {
      if (!pred()) return true;
      this.dropCancelledTop();
      if (this.count === 0 || this.heapTime[0]! > limitTime) {
        if (limitTime > this.nowMs && limitTime !== Infinity) this.nowMs = limitTime;
        return false;
      }
      this.popAndRun();
    }
  }

  // ---- heap internals ----

  private push(time: number, target: unknown, kind: number, arg: number): number {
    if (!(time >= this.nowMs) || time === Infinity) {
      throw new SimError('VXM_ERR_SIM_TIME', `schedule: time ${time} is before now (${this.nowMs}) or not finite; schedule at now or later`);
    }
    if (this.count === this.cap) this.grow();
    let slot: number;
    if (this.freeTop > 0) slot = this.freeSlots[--this.freeTop]!;
    else {
      slot = this.nextFreshSlot++;
      if (slot >= SLOT_BITS) throw new SimError('VXM_ERR_SIM_CONFIG', `schedule: more than ${SLOT_BITS} pending events; the simulation is unbounded`);
    }
    this.slotTarget[slot] = target;
    this.slotKind[slot] = kind;
    this.slotArg[slot] = arg;
    const s = this.seq++;
    // Sift up with a hole.
    const ht = this.heapTime, hs = this.heapSeq, hl = this.heapSlot;
    let i = this.count++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = ht[p]!;
      if (pt <= time) break; // on equal time the parent has the smaller seq: s is the newest
      ht[i] = pt; hs[i] = hs[p]!; hl[i] = hl[p]!;
      i = p;
    }
    ht[i] = time; hs[i] = s; hl[i] = slot;
    this.live++;
    return this.slotGen[slot]! * SLOT_BITS + slot;
  }

  /** Remove the root; returns its slot. */
  private popRoot(): number {
    const ht = this.heapTime, hs = this.heapSeq, hl = this.heapSlot;
    const top = hl[0]!;
    const n = --this.count;
    if (n > 0) {
      const t = ht[n]!, s = hs[n]!, l = hl[n]!;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        const r = c + 1;
        if (r < n && (ht[r]! < ht[c]! || (ht[r] === ht[c] && hs[r]! < hs[c]!))) c = r;
        const ct = ht[c]!;
        if (t < ct || (t === ct && s < hs[c]!)) break;
        ht[i] = ct; hs[i] = hs[c]!; hl[i] = hl[c]!;
        i = c;
      }
      ht[i] = t; hs[i] = s; hl[i] = l;
    }
    return top;
  }

  private freeSlot(slot: number): void {
    this.slotTarget[slot] = null;
    this.slotGen[slot] = (this.slotGen[slot]! + 1) % 0x20000000; // keeps ids below 2^53
    this.freeSlots[this.freeTop++] = slot;
  }

  private dropCancelledTop(): void {
    while (this.count > 0 && this.slotKind[this.heapSlot[0]!] === KIND_CANCELLED) {
      this.freeSlot(this.popRoot());
    }
  }

  /** Precondition: the root is live. */
  private popAndRun(): void {
    const time = this.heapTime[0]!;
    const slot = this.popRoot();
    const target = this.slotTarget[slot];
    const kind = this.slotKind[slot]!;
    const arg = this.slotArg[slot]!;
    this.freeSlot(slot); // before dispatch: the handler may schedule and reuse the slot
    this.live--;
    this.nowMs = time;
    this.executed++;
    if (kind === KIND_FN) (target as () => void)();
    else (target as EventHandler).handleEvent(kind, arg);
  }

  private grow(): void {
    const cap = this.cap * 2;
    const f64 = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    const i32 = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a); return b; };
    this.heapTime = f64(this.heapTime);
    this.heapSeq = f64(this.heapSeq);
    this.heapSlot = i32(this.heapSlot);
    this.slotKind = i32(this.slotKind);
    this.slotArg = f64(this.slotArg);
    const gen = new Uint32Array(cap); gen.set(this.slotGen); this.slotGen = gen;
    this.freeSlots = i32(this.freeSlots);
    for (let i = this.cap; i < cap; i++) this.slotTarget.push(null);
    this.cap = cap;
  }
}

/** A periodic timer; stop() cancels future firings (a firing already running completes). */
export interface Periodic {
  stop(): void;
  readonly fired: number;
}

class PeriodicTimer implements EventHandler, Periodic {
  fired = 0;
  private stopped = false;
  private pending = -1;
  private nominal: number;
  constructor(
    private readonly q: EventQueue,
    private readonly periodMs: number,
    first: number,
    private readonly fn: (nominalTime: number) => void,
    private readonly lag: ((nominalTime: number) => number) | undefined,
  ) {
    this.nominal = first;
    this.pending = q.schedule(first, this, 0, 0);
  }
  handleEvent(kind: number, arg: number): void {
    if (this.stopped) return;
    if (kind === 0) {
      // Nominal tick: schedule the next nominal tick first (the schedule never drifts, whatever
      // the lag), then run now or after the node's current lag.
      const t = this.nominal;
      this.nominal = t + this.periodMs;
      this.pending = this.q.schedule(this.nominal, this, 0, 0);
      const lag = this.lag === undefined ? 0 : this.lag(t);
      if (lag > 0) this.q.scheduleAfter(lag, this, 1, t);
      else this.fire(t);
    } else {
      this.fire(arg); // a lagged firing: arg is its nominal time
    }
  }
  private fire(t: number): void {
    this.fired++;
    this.fn(t);
  }
  stop(): void {
    this.stopped = true;
    this.q.cancel(this.pending);
  }
}

/**
 * Call fn every periodMs, first at now + phase (0 <= phase; use rng.float() * periodMs to spread
 * N nodes' ticks). `lag(nominalTime)` (optional) delays each firing without shifting the
 * schedule: a slow node's ticks run late but do not drift. fn receives the nominal tick time
 * (the real one is q.now).
 */
export function schedulePeriodic(q: EventQueue, periodMs: number, phase: number, fn: (nominalTime: number) => void, lag?: (nominalTime: number) => number): Periodic {
  if (!(periodMs > 0) || !Number.isFinite(periodMs)) throw new SimError('VXM_ERR_SIM_CONFIG', `schedulePeriodic: periodMs must be a positive finite number, got ${periodMs}`);
  if (!(phase >= 0)) throw new SimError('VXM_ERR_SIM_CONFIG', `schedulePeriodic: phase must be >= 0, got ${phase}`);
  return new PeriodicTimer(q, periodMs, q.now + phase, fn, lag);
}
