// Transmit-limited broadcast queue (memberlist queue.go, TransmitLimitedQueue), restructured
// for O(picked) work: items live in tiers by transmit count, so the fewest-transmitted messages
// are found first without sorting. A message with the same key (a member name, or a user key)
// replaces the queued one: only the newest statement about a member is worth bandwidth.
//
// Contract: `fill` never returns more than `budget` bytes, takes each item at most once per call,
// and retires an item (calling its `done`) once it has been sent `limit` times.

export interface QueuedBroadcast {
  readonly key: string;
  /** One framed message (codec.encodeMessage). */
  readonly framed: Uint8Array;
  transmits: number;
  readonly done: (() => void) | undefined;
  /** Position in its tier's array (implementation). */
  slot: number;
}

/**
 * One tier: items in insertion order in an array with holes (null) where items left, and a
 * head index past the leading holes. A Map would do, but V8 keeps a deleted Map entry until the
 * next rehash and iteration walks over it, so a tier used as a FIFO (take from the front, add at
 * the back) made fill() O(everything ever queued) after a join storm (19.5 % of the simulator's
 * profile at N=1000). Holes are compacted away once they are the majority.
 */
class Tier {
  items: (QueuedBroadcast | null)[] = [];
  head = 0;
  live = 0;

  add(it: QueuedBroadcast): void {
    it.slot = this.items.length;
    this.items.push(it);
    this.live++;
  }

  delete(it: QueuedBroadcast): void {
    if (this.items[it.slot] !== it) return;
    this.items[it.slot] = null;
    this.live--;
    while (this.head < this.items.length && this.items[this.head] === null) this.head++;
    if (this.items.length > 64 && this.live * 2 < this.items.length) this.compact();
  }

  private compact(): void {
    const next: QueuedBroadcast[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const it = this.items[i];
      if (it) {
        it.slot = next.length;
        next.push(it);
      }
    }
    this.items = next;
    this.head = 0;
  }
}

/** The smallest framed broadcast (a suspect/dead with 1-byte names): below this, stop looking. */
const MIN_BROADCAST_BYTES = 11;
/** Consecutive items that do not fit before fill() gives up on the packet. */
const MAX_MISSES = 32;

export class BroadcastQueue {
  private readonly byKey = new Map<string, QueuedBroadcast>();
  /** tiers[t]: items sent t times, in insertion order. */
  private readonly tiers: Tier[] = [];

  get size(): number {
    return this.byKey.size;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Queue `framed` under `key`, replacing (and finishing) any queued message with the same key. */
  queue(key: string, framed: Uint8Array, done?: () => void): void {
    const old = this.byKey.get(key);
    if (old !== undefined) this.remove(old);
    const item: QueuedBroadcast = { key, framed, transmits: 0, done, slot: -1 };
    this.byKey.set(key, item);
    this.tier(0).add(item);
  }

  /** Drop everything (e.g. on shutdown); finishes each item. */
  reset(): void {
    for (const it of [...this.byKey.values()]) this.remove(it);
  }

  /**
   * Append to `out` up to `maxCount` framed messages whose total size is <= `budget`, fewest
   * transmitted first. Items reaching `limit` transmissions are retired. The item under `exclude`
   * (if any) is left alone: the caller already put a fresher statement in the packet. Returns bytes taken.
   */
  fill(out: Uint8Array[], budget: number, limit: number, maxCount: number, exclude?: string): number {
    let used = 0;
    let picked: QueuedBroadcast[] | undefined;
    let misses = 0;
    outer: for (let t = 0; t < this.tiers.length; t++) {
      const tier = this.tiers[t]!;
      if (tier.live === 0) continue;
      if (t >= limit) {
        // limit shrank (fewer members): these were sent enough already
        for (const it of tier.items.slice(tier.head)) if (it) this.remove(it);
        continue;
      }
      const items = tier.items;
      for (let i = tier.head; i < items.length; i++) {
        const it = items[i];
        if (!it) continue;
        if (budget - used < MIN_BROADCAST_BYTES || out.length >= maxCount) break outer;
        if (it.framed.length > budget - used || it.key === exclude) {
          // Bounded search: a nearly full packet would otherwise scan the whole queue (O(N)
          // after a join storm) for something small enough.
          if (++misses >= MAX_MISSES) break outer;
          continue;
        }
        misses = 0;
        out.push(it.framed);
        used += it.framed.length;
        (picked ??= []).push(it);
      }
    }
    if (picked !== undefined) {
      for (const it of picked) {
        this.tiers[it.transmits]!.delete(it);
        it.transmits++;
        if (it.transmits >= limit) {
          this.byKey.delete(it.key);
          it.done?.();
        } else {
          this.tier(it.transmits).add(it);
        }
      }
    }
    return used;
  }

  /** Transmit counts by key, for tests and debugging. */
  snapshot(): { key: string; transmits: number; bytes: number }[] {
    const out: { key: string; transmits: number; bytes: number }[] = [];
    for (const tier of this.tiers) for (const it of tier.items) if (it) out.push({ key: it.key, transmits: it.transmits, bytes: it.framed.length });
    return out;
  }

  private tier(t: number): Tier {
    while (this.tiers.length <= t) this.tiers.push(new Tier());
    return this.tiers[t]!;
  }

  private remove(it: QueuedBroadcast): void {
    this.tiers[it.transmits]?.delete(it);
    this.byKey.delete(it.key);
    it.done?.();
  }
}
