// Per-network endpoint tables replicated by SWIM gossip, the role Docker's networkdb plays on
// top of hashicorp/memberlist: each node owns the entries it writes (its tasks' IP/MAC -> its
// VTEP, its service backends), entries travel as piggybacked broadcasts, and periodic TCP
// push-pull of the full state (anti-entropy, Demers et al., "Epidemic algorithms for replicated
// database maintenance", PODC 1987, section 1.3) repairs whatever a lost broadcast left wrong.
//
// This is a pure, deterministic data structure: no sockets, no timers, no clock, no RNG. The
// SWIM core calls it like memberlist's Delegate (NotifyMsg -> receive, LocalState ->
// localState, MergeRemoteState -> mergeRemoteState, GetBroadcasts -> drainBroadcasts) and its
// membership events (NotifyLeave -> memberGone). `now` is the caller's monotonic clock in ms.
//
// Versions. Every entry carries (owner, epoch, seq). `epoch` comes from the caller at
// construction and grows with every restart of the owner; `seq` counts the owner's writes within
// the epoch. Versions of one owner compare as (epoch, seq); versions of different owners never
// compare: each (table, network, key) has one slot per owner. Why not a Lamport clock alone
// (networkdb's choice): an owner that restarts has forgotten the clock values it used, so its
// new writes compare lower than its old entries that others still hold and are rejected until
// the old ones expire ("entries rejected forever", moby/libnetwork networkdb). A Lamport owner
// could only avoid that by first learning its old entries back, which needs a push-pull before
// the first write; the epoch needs nothing: epoch N+1 beats everything of epoch N by
// construction. Within an epoch the owner still bumps `seq` above any claim about itself it
// sees (a Lamport step), which repairs a caller that breaks the epoch contract (reuses one).
//
// Invariants (what makes the tables converge):
//   I1. A replica holds an owner's entries of a single epoch: the highest it has seen for that
//       owner. Learning a higher epoch (from an entry or an owner record) drops the older ones:
//       a restarted owner starts from nothing and re-writes what it still has.
//   I2. Each owner record carries a fence: entries of an epoch <= fence are dead (the owner at
//       that epoch died or left, `memberGone`). Fences travel in the full state, so a replica
//       that has not heard of the death learns it at its next push-pull instead of pushing the
//       dead entries back ("dead tasks lingering"). A fence never stops a higher epoch: an owner
//       that rejoins after a restart is accepted.
//   I3. Deletes are tombstones: versioned like writes, broadcast and pushed like writes, so an
//       older write that arrives late loses to them. They are forgotten `tombstoneReapMs` after
//       the delete. Should an older write arrive after that and resurrect the entry, the owner
//       corrects it: the owner is the authority for its own entries, and any claim about them
//       that it sees (in a broadcast or a pushed state) and does not hold is answered with a
//       newer write of what it does hold (a refutation, like SWIM's incarnation refutation,
//       Das et al. 2002, section 4.2).
//   I4. Records of owners are kept for the life of the process (a few bytes per node ever seen):
//       forgetting a fence would let a partitioned replica resurrect a dead owner's entries.
//
// What the dataplane sees: per (table, network, key) the live value of one owner, the one
// with the lowest name when several owners hold the key at once (a task moving between nodes,
// for one gossip round). Every replica picks the same one, so every node's dataplane agrees.
// `drainEvents` reports changes of that visible value: add, update (value or owner changed),
// delete.

import { resolveTablesConfig, type TablesConfig, type TablesConfigInput } from './config.js';
import { tablesDigest, type DigestEntry } from './digest.js';
import { GossipTableEntryError } from './errors.js';
import {
  decodeEntry, decodeState, encodeEntry, encodeState, MAX_KEY_BYTES, MAX_NAME_BYTES, utf8Length, Writer,
  type DropReason, type WireOwner,
} from './wire.js';

export interface TableBroadcast {
  /** Supersede key: a newer broadcast with the same key replaces an older one still queued
   *  (memberlist's NamedBroadcast.Name / TransmitLimitedQueue invalidation). */
  key: string;
  payload: Uint8Array;
}

export type TableEventOp = 'add' | 'update' | 'delete';

export interface TableEvent {
  op: TableEventOp;
  table: string;
  network: string;
  key: string;
  /** The owner of the new value (add, update) or of the value that went away (delete). */
  owner: string;
  /** The new value; null for delete. Owned by the tables: do not modify. */
  value: Uint8Array | null;
}

export interface TableEntryView {
  key: string;
  owner: string;
  value: Uint8Array;
}

export interface TablesCounters {
  /** Remote entries that changed this replica (from broadcasts and pushed states). */
  applied: number;
  /** Remote entries at or below the version held: duplicates, reordered or late deliveries,
   *  entries of an owner epoch superseded by a restart. Normal under gossip. */
  stale: number;
  /** Remote entries of an owner epoch declared gone. Normal for a while after a death. */
  fenced: number;
  /** Broadcasts and states dropped as undecodable; by reason in `dropsByReason`. */
  malformed: number;
  dropsByReason: Record<DropReason, number>;
  /** Claims about this node's own entries answered with a newer write (I3). */
  refuted: number;
  /** Claims of this node at a higher epoch than its own, or fences of its own epoch: another
   *  process uses this name, or the cluster declared this node gone. Answered by an epoch bump. */
  selfConflict: number;
  /** Times this node raised its own epoch at run time (see `epoch`). */
  epochBumps: number;
  /** Entries dropped because their owner's epoch was fenced or superseded (live ones only). */
  dropped: number;
  /** Tombstones forgotten after `tombstoneReapMs`. */
  reaped: number;
  /** Broadcasts queued for re-gossip because they changed this replica (networkdb rebroadcasts
   *  table events the same way, so they spread epidemically, not only from the owner). */
  relayed: number;
  /** Full states merged (valid ones). */
  statesMerged: number;
  /** memberGone calls naming this node itself (ignored: the owner decides about itself). */
  selfGoneIgnored: number;
}

interface OwnerRecord {
  readonly name: string;
  /** Highest epoch seen; 0 = none yet (only a fence is known). All held entries have it (I1). */
  epoch: number;
  /** Entries of epochs <= fence are dead (I2); 0 = none. */
  fence: number;
  readonly entries: Map<Slot, Entry>;
}

interface Slot {
  readonly table: string;
  readonly network: string;
  readonly key: string;
  readonly netKey: string;
  /** One per owner holding this key (live or tombstone); almost always one. */
  readonly entries: Entry[];
  /** What the last event told the dataplane. */
  shownOwner: string;
  shownValue: Uint8Array | null;
}

interface Entry {
  readonly slot: Slot;
  readonly owner: OwnerRecord;
  seq: number;
  /** null = tombstone. */
  value: Uint8Array | null;
  attached: boolean;
}

interface ReapItem {
  entry: Entry;
  seq: number;
  deletedAt: number;
}

const netKeyOf = (table: string, network: string): string => `${table.length}:${table}${network}`;
const broadcastKeyOf = (owner: string, table: string, network: string, key: string): string =>
  `${owner.length}:${owner}${table.length}:${table}${network.length}:${network}${key}`;

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class GossipTables {
  readonly config: Readonly<TablesConfig>;
  readonly counters: TablesCounters = {
    applied: 0, stale: 0, fenced: 0, malformed: 0,
    dropsByReason: { truncated: 0, version: 0, type: 0, bound: 0, utf8: 0, index: 0, flags: 0, trailing: 0, varint: 0 },
    refuted: 0, selfConflict: 0, epochBumps: 0, dropped: 0, reaped: 0, relayed: 0, statesMerged: 0, selfGoneIgnored: 0,
  };

  private readonly owners = new Map<string, OwnerRecord>();
  private readonly selfRec: OwnerRecord;
  /** Last seq this node used in its current epoch. */
  private seq = 0;
  private readonly nets = new Map<string, Map<string, Slot>>();
  private events: TableEvent[] = [];
  /** Broadcasts for the gossip core, by supersede key; encoded at drain time so a drained
   *  payload always carries the entry's current version. */
  private readonly outbound = new Map<string, Entry>();
  private reapQueue: ReapItem[] = [];
  private reapHead = 0;
  private readonly writer = new Writer(512);

  constructor(cfg: TablesConfigInput) {
    this.config = Object.freeze(resolveTablesConfig(cfg));
    this.selfRec = { name: this.config.self, epoch: this.config.epoch, fence: 0, entries: new Map() };
    this.owners.set(this.config.self, this.selfRec);
  }

  /** This node's current owner epoch: `config.epoch` unless the cluster fenced it (memberGone on
   *  a node that was alive) or another process claimed a higher one, in which case it was raised
   *  above those. Put it in the SWIM member metadata (so peers can pass it to memberGone), and a
   *  process that restarts must start above the last value it had. */
  get epoch(): number {
    return this.selfRec.epoch;
  }

  // ---- local writes -------------------------------------------------------------------------

  /** Writes this node's own entry and returns the broadcast for the gossip core. The value is
   *  copied. Throws GossipTableEntryError (VXM_ERR_TABLE_ENTRY_INVALID) for an empty or
   *  oversized name or key, or a value above `maxValueBytes`. */
  set(now: number, table: string, network: string, key: string, value: Uint8Array): TableBroadcast {
    this.checkNames(table, network, key);
    if (value.length > this.config.maxValueBytes) {
      throw new GossipTableEntryError('value', `shorten the value to at most ${this.config.maxValueBytes} bytes (maxValueBytes), got ${value.length}`);
    }
    const slot = this.slotFor(table, network, key, true)!;
    let e = this.selfRec.entries.get(slot);
    if (e === undefined) e = this.attach(slot, this.selfRec);
    this.writeEntry(now, e, ++this.seq, value.slice());
    this.refresh(slot);
    return this.takeBroadcast(e);
  }

  /** Deletes this node's own entry (a tombstone that travels like a write). Returns null when
   *  this node holds no live entry under that key (another owner's entry is not ours to delete). */
  delete(now: number, table: string, network: string, key: string): TableBroadcast | null {
    this.checkNames(table, network, key);
    const slot = this.slotFor(table, network, key, false);
    const e = slot === undefined ? undefined : this.selfRec.entries.get(slot);
    if (e === undefined || e.value === null) return null;
    this.writeEntry(now, e, ++this.seq, null);
    this.refresh(e.slot);
    return this.takeBroadcast(e);
  }

  // ---- gossip side --------------------------------------------------------------------------

  /** A broadcast from `from` (the sender, possibly a relay: the owner is in the payload).
   *  Undecodable bytes are counted in `counters.malformed`, never thrown. */
  receive(now: number, from: string, payload: Uint8Array): void {
    void from;
    const d = decodeEntry(payload, this.config.maxValueBytes);
    if (!d.ok) {
      this.countDrop(d.reason);
      return;
    }
    const w = d.value;
    const touched = new Set<Slot>();
    const e = this.applyRemote(now, w.owner, w.epoch, w.seq, w.table, w.network, w.key, w.value, touched);
    if (e !== null) {
      this.outbound.set(broadcastKeyOf(w.owner, w.table, w.network, w.key), e);
      this.counters.relayed++;
    }
    this.flush(touched);
  }

  /** The full state for TCP push-pull: every owner record (with fences) and every entry held,
   *  tombstones included. */
  localState(): Uint8Array {
    const list: OwnerRecord[] = [...this.owners.values()];
    const owners: WireOwner[] = list.map((r) => ({ name: r.name, epoch: r.epoch, fence: r.fence }));
    return encodeState({
      owners,
      forEachEntry: (visit) => {
        for (let i = 0; i < list.length; i++) {
          for (const e of list[i]!.entries.values()) visit(i, e.slot.table, e.slot.network, e.slot.key, e.seq, e.value);
        }
      },
    });
  }

  /** Merges a full state from `from`. An undecodable state is counted and ignored whole. */
  mergeRemoteState(now: number, from: string, state: Uint8Array): void {
    void from;
    const d = decodeState(state, this.config.maxValueBytes);
    if (!d.ok) {
      this.countDrop(d.reason);
      return;
    }
    const s = d.value;
    const touched = new Set<Slot>();
    for (const o of s.owners) this.mergeOwner(o.name, o.epoch, o.fence, touched);
    for (let i = 0; i < s.entryKey.length; i++) {
      const o = s.owners[s.entryOwner[i]!]!;
      const p = s.pairs[s.entryPair[i]!]!;
      this.applyRemote(now, o.name, o.epoch, s.entrySeq[i]!, p.table, p.network, s.entryKey[i]!, s.entryValue[i]!, touched);
    }
    this.counters.statesMerged++;
    this.flush(touched);
  }

  /** The owner `node` died or left (SWIM: dead or left). Its entries of epochs <= `epoch` go,
   *  here now and everywhere at the next push-pull (I2). Pass the epoch from the member's
   *  metadata when known: without it the fence is the highest epoch this replica has seen of
   *  `node`, which misses an epoch this replica never heard of. Ignored for this node itself. */
  memberGone(now: number, node: string, epoch?: number): void {
    void now;
    if (node === this.config.self) {
      this.counters.selfGoneIgnored++;
      return;
    }
    const fence = epoch ?? this.owners.get(node)?.epoch ?? 0;
    if (!Number.isSafeInteger(fence) || fence <= 0) return;
    const touched = new Set<Slot>();
    this.mergeOwner(node, 0, fence, touched);
    this.flush(touched);
  }

  /** Forgets tombstones older than `tombstoneReapMs`. Cost: O(tombstones reaped). */
  tick(now: number): void {
    const q = this.reapQueue;
    const horizon = now - this.config.tombstoneReapMs;
    while (this.reapHead < q.length && q[this.reapHead]!.deletedAt <= horizon) {
      const { entry, seq } = q[this.reapHead]!;
      this.reapHead++;
      if (!entry.attached || entry.value !== null || entry.seq !== seq) continue; // rewritten since
      this.detach(entry);
      entry.owner.entries.delete(entry.slot);
      this.counters.reaped++;
      this.refresh(entry.slot);
    }
    if (this.reapHead > 1024 && this.reapHead * 2 > q.length) {
      this.reapQueue = q.slice(this.reapHead);
      this.reapHead = 0;
    }
  }

  /** Changes of visible values since the last call, in the order they happened. */
  drainEvents(): TableEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  /** Broadcasts this replica wants gossiped beyond the ones `set`/`delete` returned: relays of
   *  entries that were news here, refutations and epoch-bump re-writes (I3). Each carries the
   *  entry's current version; hand them to the gossip queue like `set`'s. */
  drainBroadcasts(): TableBroadcast[] {
    const out: TableBroadcast[] = [];
    for (const [key, e] of this.outbound) if (e.attached) out.push({ key, payload: this.encode(e) });
    this.outbound.clear();
    return out;
  }

  // ---- reads --------------------------------------------------------------------------------

  get(table: string, network: string, key: string): { value: Uint8Array; owner: string } | undefined {
    const slot = this.slotFor(table, network, key, false);
    if (slot === undefined || slot.shownValue === null) return undefined;
    return { value: slot.shownValue, owner: slot.shownOwner };
  }

  /** Visible entries of one table in one network, in no particular order. */
  *entries(table: string, network: string): IterableIterator<TableEntryView> {
    const m = this.nets.get(netKeyOf(table, network));
    if (m === undefined) return;
    for (const s of m.values()) if (s.shownValue !== null) yield { key: s.key, owner: s.shownOwner, value: s.shownValue };
  }

  /** Every live entry of every owner (not only the visible ones), in no particular order. */
  *liveEntries(): IterableIterator<DigestEntry> {
    for (const r of this.owners.values()) {
      for (const e of r.entries.values()) {
        if (e.value !== null) yield { owner: r.name, table: e.slot.table, network: e.slot.network, key: e.slot.key, value: e.value };
      }
    }
  }

  /** Order-independent hash of the live state (see digest.ts): equal on two replicas iff they
   *  hold the same live entries. */
  digest(): string {
    return tablesDigest(this.liveEntries());
  }

  /** What this replica knows of an owner, for diagnostics and tests. */
  ownerInfo(node: string): { epoch: number; fence: number; entries: number } | undefined {
    const r = this.owners.get(node);
    return r === undefined ? undefined : { epoch: r.epoch, fence: r.fence, entries: r.entries.size };
  }

  /** A sorted, readable listing of everything held (owners with fences, entries with versions,
   *  tombstones), for golden tests and debugging. */
  dump(): string {
    const lines: string[] = [];
    for (const r of this.owners.values()) {
      lines.push(`owner ${r.name} epoch=${r.epoch} fence=${r.fence}`);
      for (const e of r.entries.values()) {
        const v = e.value === null ? 'tombstone' : Buffer.from(e.value.buffer, e.value.byteOffset, e.value.length).toString('hex');
        lines.push(`entry ${e.slot.table}/${e.slot.network}/${e.slot.key} owner=${r.name} v=${r.epoch}.${e.seq} ${v}`);
      }
    }
    return lines.sort().join('\n');
  }

  // ---- steps --------------------------------------------------------------------------------

  /** Applies one remote entry version. Returns the entry when it changed this replica (so the
   *  caller may relay it), null otherwise. */
  private applyRemote(
    now: number, owner: string, epoch: number, seq: number,
    table: string, network: string, key: string, value: Uint8Array | null, touched: Set<Slot>,
  ): Entry | null {
    if (owner === this.config.self) {
      this.stepSelfClaim(now, epoch, seq, table, network, key, value, touched);
      return null;
    }
    let rec = this.owners.get(owner);
    if (rec === undefined) {
      rec = { name: owner, epoch: 0, fence: 0, entries: new Map() };
      this.owners.set(owner, rec);
    }
    if (epoch <= rec.fence) {
      this.counters.fenced++;
      return null;
    }
    if (epoch < rec.epoch) {
      this.counters.stale++;
      return null;
    }
    if (epoch > rec.epoch) {
      this.dropOwnerEntries(rec, touched); // I1: the owner restarted; its old life is over
      rec.epoch = epoch;
    }
    let slot = this.slotFor(table, network, key, false);
    let e = slot === undefined ? undefined : rec.entries.get(slot);
    if (e !== undefined && e.seq >= seq) {
      this.counters.stale++;
      return null;
    }
    slot ??= this.slotFor(table, network, key, true)!;
    e ??= this.attach(slot, rec);
    this.writeEntry(now, e, seq, value === null ? null : value.slice());
    touched.add(slot);
    this.counters.applied++;
    return e;
  }

  /** Someone says this node owns (table, network, key) at (epoch, seq) with `value`. The owner
   *  is the authority (I3): answer anything newer than what it holds with a newer write. */
  private stepSelfClaim(
    now: number, epoch: number, seq: number,
    table: string, network: string, key: string, value: Uint8Array | null, touched: Set<Slot>,
  ): void {
    const rec = this.selfRec;
    if (epoch < rec.epoch) {
      this.counters.stale++; // a previous life of this node; dropped wherever our epoch arrives
      return;
    }
    if (epoch > rec.epoch) {
      this.counters.selfConflict++;
      this.becomeEpoch(epoch + 1, touched);
      return;
    }
    if (seq > this.seq) this.seq = seq; // Lamport step: our next write must beat the claim
    let slot = this.slotFor(table, network, key, false);
    let e = slot === undefined ? undefined : rec.entries.get(slot);
    // Same version with other bytes only happens when a restart reused an epoch: refute it too.
    const agrees = e === undefined
      ? value === null
      : e.seq > seq || (e.seq === seq && (e.value === null ? value === null : value !== null && bytesEqual(e.value, value)));
    if (agrees) {
      this.counters.stale++;
      return;
    }
    this.counters.refuted++;
    slot ??= this.slotFor(table, network, key, true)!;
    if (e === undefined) {
      e = this.attach(slot, rec);
      this.writeEntry(now, e, ++this.seq, null); // we hold nothing there: delete it
    } else {
      this.writeEntry(now, e, ++this.seq, e.value); // re-assert what we hold
    }
    touched.add(slot);
    this.outbound.set(broadcastKeyOf(rec.name, table, network, key), e);
  }

  /** Raises this node's epoch above a fence or a foreign claim and re-writes its live entries
   *  at the new epoch (tombstones are not needed: peers drop the old epoch whole, I1). */
  private becomeEpoch(epoch: number, touched: Set<Slot>): void {
    const rec = this.selfRec;
    const next = Math.max(epoch, rec.epoch + 1);
    if (!Number.isSafeInteger(next)) return; // a claim at 2^53 - 1: no epoch beats it; keep ours, stay counted
    rec.epoch = next;
    this.seq = 0;
    this.counters.epochBumps++;
    for (const e of [...rec.entries.values()]) {
      if (e.value === null) {
        this.detach(e);
        rec.entries.delete(e.slot);
        touched.add(e.slot);
      } else {
        e.seq = ++this.seq;
        this.outbound.set(broadcastKeyOf(rec.name, e.slot.table, e.slot.network, e.slot.key), e);
      }
    }
  }

  /** Merges what a peer knows of an owner: the higher epoch and the higher fence win. */
  private mergeOwner(name: string, epoch: number, fence: number, touched: Set<Slot>): void {
    if (name === this.config.self) {
      const rec = this.selfRec;
      if (fence > rec.fence) rec.fence = fence;
      if (epoch > rec.epoch || rec.fence >= rec.epoch) {
        this.counters.selfConflict++;
        this.becomeEpoch(Math.max(epoch, rec.fence) + 1, touched);
      }
      return;
    }
    let rec = this.owners.get(name);
    if (rec === undefined) {
      rec = { name, epoch: 0, fence: 0, entries: new Map() };
      this.owners.set(name, rec);
    }
    const newEpoch = Math.max(rec.epoch, epoch);
    const newFence = Math.max(rec.fence, fence);
    if (newEpoch !== rec.epoch || newFence >= rec.epoch) this.dropOwnerEntries(rec, touched);
    rec.epoch = newEpoch;
    rec.fence = newFence;
  }

  private dropOwnerEntries(rec: OwnerRecord, touched: Set<Slot>): void {
    if (rec.entries.size === 0) return;
    for (const e of rec.entries.values()) {
      if (e.value !== null) this.counters.dropped++;
      this.detach(e);
      touched.add(e.slot);
    }
    rec.entries.clear();
  }

  // ---- storage ------------------------------------------------------------------------------

  private slotFor(table: string, network: string, key: string, create: boolean): Slot | undefined {
    const netKey = netKeyOf(table, network);
    let m = this.nets.get(netKey);
    if (m === undefined) {
      if (!create) return undefined;
      m = new Map();
      this.nets.set(netKey, m);
    }
    let s = m.get(key);
    if (s === undefined && create) {
      s = { table, network, key, netKey, entries: [], shownOwner: '', shownValue: null };
      m.set(key, s);
    }
    return s;
  }

  private attach(slot: Slot, owner: OwnerRecord): Entry {
    const e: Entry = { slot, owner, seq: 0, value: null, attached: true };
    slot.entries.push(e);
    owner.entries.set(slot, e);
    return e;
  }

  /** Unlinks `e` from its slot; the caller removes it from its owner's map. */
  private detach(e: Entry): void {
    const list = e.slot.entries;
    const i = list.indexOf(e);
    if (i >= 0) {
      list[i] = list[list.length - 1]!;
      list.pop();
    }
    e.attached = false;
  }

  private writeEntry(now: number, e: Entry, seq: number, value: Uint8Array | null): void {
    e.seq = seq;
    e.value = value;
    if (value === null) this.reapQueue.push({ entry: e, seq, deletedAt: now });
  }

  /** Recomputes the visible value of `slot`, emits the event for a change, frees empty slots. */
  private refresh(slot: Slot): void {
    let win: Entry | null = null;
    for (const e of slot.entries) {
      if (e.value !== null && (win === null || e.owner.name < win.owner.name)) win = e;
    }
    const { table, network, key } = slot;
    if (win === null) {
      if (slot.shownValue !== null) {
        this.events.push({ op: 'delete', table, network, key, owner: slot.shownOwner, value: null });
        slot.shownValue = null;
        slot.shownOwner = '';
      }
    } else if (slot.shownValue === null) {
      this.events.push({ op: 'add', table, network, key, owner: win.owner.name, value: win.value });
    } else if (slot.shownOwner !== win.owner.name || (slot.shownValue !== win.value && !bytesEqual(slot.shownValue, win.value!))) {
      this.events.push({ op: 'update', table, network, key, owner: win.owner.name, value: win.value });
    }
    if (win !== null) {
      slot.shownValue = win.value;
      slot.shownOwner = win.owner.name;
    }
    if (slot.entries.length === 0) {
      const m = this.nets.get(slot.netKey);
      if (m !== undefined && m.get(slot.key) === slot) {
        m.delete(slot.key);
        if (m.size === 0) this.nets.delete(slot.netKey);
      }
    }
  }

  private flush(touched: Set<Slot>): void {
    for (const s of touched) this.refresh(s);
  }

  private takeBroadcast(e: Entry): TableBroadcast {
    const key = broadcastKeyOf(this.selfRec.name, e.slot.table, e.slot.network, e.slot.key);
    this.outbound.delete(key); // an older queued version must not supersede this one later
    return { key, payload: this.encode(e) };
  }

  private encode(e: Entry): Uint8Array {
    return encodeEntry(this.writer, {
      owner: e.owner.name, epoch: e.owner.epoch, seq: e.seq,
      table: e.slot.table, network: e.slot.network, key: e.slot.key, value: e.value,
    });
  }

  private countDrop(reason: DropReason): void {
    this.counters.malformed++;
    this.counters.dropsByReason[reason]++;
  }

  private checkNames(table: string, network: string, key: string): void {
    const check = (field: string, s: string, max: number): void => {
      if (typeof s !== 'string' || s.length === 0 || utf8Length(s) > max) {
        throw new GossipTableEntryError(field, `give 1 to ${max} UTF-8 bytes`);
      }
    };
    check('table', table, MAX_NAME_BYTES);
    check('network', network, MAX_NAME_BYTES);
    check('key', key, MAX_KEY_BYTES);
  }
}
