// The bounded in-memory change log that serves watches, like etcd's watchable store over its
// MVCC history but without the history on disk: the last `capacity` change events are kept in a
// ring; a watch from an index older than the ring is refused with StoreCompactedError and the
// caller re-lists, then watches from the list's index + 1 (etcd's ErrCompacted contract).
//
// Events carry a sequence number (the count of events ever appended); a watcher's cursor is a
// sequence number, so it survives ring wrap-around and knows when it has fallen behind.

import { StoreCompactedError } from './errors.js';
import type { ChangeOp } from './commands.js';
import type { Kind, StoreObject } from './schema.js';

export interface ChangeEvent {
  /** Log index of the transaction that made the change. */
  readonly index: number;
  readonly kind: Kind;
  readonly op: ChangeOp;
  /** The object after the change; for a delete, the object as it was last. Shared: do not mutate. */
  readonly object: StoreObject;
}

export interface WatchFilter {
  kinds?: readonly Kind[];
  ops?: readonly ChangeOp[];
  /** Object ids (of any kind in `kinds`). */
  ids?: readonly string[];
  /** Any further predicate; must be pure (it runs inside apply for callback watchers). */
  match?: (e: ChangeEvent) => boolean;
}

export class ChangeLog {
  readonly capacity: number;
  readonly #ring: (ChangeEvent | undefined)[];
  /** Sequence number of the next event appended. */
  #nextSeq = 0;
  /** Changes at or below this index are not (all) in the ring. */
  compactedIndex = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#ring = new Array<ChangeEvent | undefined>(capacity).fill(undefined);
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Sequence number of the oldest retained event. */
  get firstSeq(): number {
    return Math.max(0, this.#nextSeq - this.capacity);
  }

  append(e: ChangeEvent): void {
    if (this.#nextSeq >= this.capacity) {
      const evicted = this.#ring[this.#nextSeq % this.capacity]!;
      if (evicted.index > this.compactedIndex) this.compactedIndex = evicted.index;
    }
    this.#ring[this.#nextSeq % this.capacity] = e;
    this.#nextSeq++;
  }

  at(seq: number): ChangeEvent {
    return this.#ring[seq % this.capacity]!;
  }

  /** Drops every event: after a restore the history before the snapshot is unknown. */
  reset(compactedIndex: number): void {
    this.#ring.fill(undefined);
    this.#nextSeq = 0;
    this.compactedIndex = compactedIndex;
  }

  /**
   * The first sequence number whose event has index >= fromIndex (nextSeq when none yet).
   * Throws StoreCompactedError when fromIndex <= compactedIndex.
   */
  seek(fromIndex: number): number {
    if (fromIndex <= this.compactedIndex) throw new StoreCompactedError(fromIndex, this.compactedIndex);
    let lo = this.firstSeq;
    let hi = this.#nextSeq;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).index < fromIndex) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export function matches(f: WatchFilter | undefined, e: ChangeEvent): boolean {
  if (f === undefined) return true;
  if (f.kinds !== undefined && !f.kinds.includes(e.kind)) return false;
  if (f.ops !== undefined && !f.ops.includes(e.op)) return false;
  if (f.ids !== undefined && !f.ids.includes(e.object.id)) return false;
  if (f.match !== undefined && !f.match(e)) return false;
  return true;
}

/**
 * A pull watcher: `poll()` returns the matching events appended since the last poll, in log
 * order; iterating drains the same way. A watcher that polls too rarely and falls behind the
 * ring gets StoreCompactedError from poll (and is closed): re-list and watch again.
 */
export class StoreWatcher implements Iterable<ChangeEvent> {
  readonly filter: WatchFilter | undefined;
  readonly #log: ChangeLog;
  readonly #onClose: (w: StoreWatcher) => void;
  #cursor: number;
  #closed = false;
  /** Index the watcher will deliver from next (for the compaction message). */
  #fromIndex: number;

  constructor(log: ChangeLog, fromIndex: number, filter: WatchFilter | undefined, onClose: (w: StoreWatcher) => void) {
    this.#log = log;
    this.filter = filter;
    this.#cursor = log.seek(fromIndex);
    this.#fromIndex = fromIndex;
    this.#onClose = onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Matching events not yet delivered, at most `max`. */
  poll(max = Number.POSITIVE_INFINITY): ChangeEvent[] {
    const out: ChangeEvent[] = [];
    if (this.#closed) return out;
    const log = this.#log;
    if (this.#cursor < log.firstSeq) {
      this.close();
      throw new StoreCompactedError(this.#fromIndex, log.compactedIndex);
    }
    while (this.#cursor < log.nextSeq && out.length < max) {
      const e = log.at(this.#cursor++);
      this.#fromIndex = e.index;
      if (matches(this.filter, e)) out.push(e);
    }
    return out;
  }

  /** Called by the store after a restore: the watcher's history is gone. */
  invalidate(): void {
    this.#cursor = -1;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this);
  }

  *[Symbol.iterator](): Iterator<ChangeEvent> {
    for (;;) {
      const batch = this.poll(256);
      if (batch.length === 0 && (this.#closed || this.#cursor >= this.#log.nextSeq)) return;
      yield* batch;
    }
  }
}
