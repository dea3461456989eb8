// The glue between GossipTables and a SwimCore: the role networkdb's delegate plays on top of
// hashicorp/memberlist (NotifyMsg, GetBroadcasts, LocalState, MergeRemoteState, NotifyLeave).
//
//   SwimCore ──notifyUser/localState/mergeRemoteState──▶ TablesDelegate ──▶ GossipTables
//   SwimCore ◀──broadcastUser(key, payload)──────────── (set/delete results, drainBroadcasts)
//   driver ──memberEvents(now, ready().events)──▶ dead/left ──▶ tables.memberGone(name, epoch)
//   driver ──tick(now)──▶ tables.tick (tombstone reap) + pending broadcasts
//
// Contracts:
// - Construct the delegate, pass it to `new SwimCore({ delegate })`, then `bind(core)` before
//   the first step/tick of the core. Local writes go through `set`/`delete` here (not on the
//   tables directly), or the caller must call `flush(now)` after writing to the tables itself.
// - The driver hands every membership event to `memberEvents` (after ready(), before or after
//   advance(): order does not matter). A member that is dead or left gets fenced at the tables
//   epoch its metadata advertised under TABLES_EPOCH_LABEL (GossipTables README, invariant I2).
// - The local tables epoch travels in our NodeMeta under TABLES_EPOCH_LABEL. The tables raise
//   their epoch at run time (we were falsely declared gone, or a name conflict); the delegate
//   notices after every call and re-announces the metadata with core.updateMeta, so peers that
//   later see us die fence the right epoch.
// - Relays: the core already re-gossips every user broadcast that is new to it (same key,
//   version and origin), so a relay the tables ask for right after `receive` whose payload is
//   byte-identical to the one received is not re-broadcast under a fresh version: doing so would
//   mint a new Lamport version per node per update and restart every queue's retransmit count
//   (O(N) versions of one update in flight). Anything else drainBroadcasts returns (refutations,
//   epoch-bump re-writes, a relay whose encoding differs) is broadcast.
// - A broadcast that does not fit the core's UDP budget (SwimArgumentError) is counted in
//   `counters.oversized` and left to push-pull anti-entropy; it never throws out of step().

import { VxmeshError } from '../../../errors.js';
import { type MemberEvent, type SwimCore, type SwimDelegate, SwimArgumentError } from '../core.js';
import type { NodeMeta } from '../meta.js';
import type { GossipTables, TableBroadcast } from './gossip-tables.js';

/** Implementation: at most one heal push-pull per returning member per 5 s (a flapping member must not cost a full state exchange per flap). */
const HEAL_PUSH_MIN_INTERVAL_MS = 5000;

/** NodeMeta label carrying the node's current GossipTables epoch (decimal). */
export const TABLES_EPOCH_LABEL = 'vxmesh.tables.epoch';

/** `meta` with the tables epoch label set (a copy; `meta` is not modified). */
export function withTablesEpoch(meta: NodeMeta, epoch: number): NodeMeta {
  return { role: meta.role, addrs: meta.addrs.slice(), labels: { ...meta.labels, [TABLES_EPOCH_LABEL]: String(epoch) } };
}

/** The tables epoch a member advertised, or undefined when absent or not a positive safe integer. */
export function tablesEpochOf(meta: NodeMeta): number | undefined {
  const s = meta.labels[TABLES_EPOCH_LABEL];
  if (s === undefined || !/^[1-9][0-9]{0,15}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

export interface TablesDelegateCounters {
  /** Broadcasts handed to core.broadcastUser. */
  broadcasts: number;
  /** Relays not re-broadcast because the core already re-gossips the identical payload. */
  relaysSkipped: number;
  /** Broadcasts too large for a UDP packet; left to push-pull. */
  oversized: number;
  /** memberGone calls made for dead/left members (with or without an advertised epoch). */
  membersGone: number;
  /** Dead/left members whose metadata carried no usable epoch label. */
  goneWithoutEpoch: number;
  /** Push-pulls started toward a fenced member that came back (partition healed, false death). */
  healPushes: number;
  /** Metadata re-announcements after the tables raised our epoch. */
  epochAnnounced: number;
}

export class TablesDelegate implements SwimDelegate {
  readonly counters: TablesDelegateCounters = {
    broadcasts: 0, relaysSkipped: 0, oversized: 0, membersGone: 0, goneWithoutEpoch: 0, epochAnnounced: 0, healPushes: 0,
  };
  private core: SwimCore | undefined;
  readonly #fenced = new Set<string>();
  readonly #healPushAt = new Map<string, number>();
  private baseMeta: NodeMeta;
  private announcedEpoch: number;

  /** `meta` is this node's metadata without the epoch label; see `meta()` for the one to give the core. */
  constructor(readonly tables: GossipTables, meta: NodeMeta) {
    this.baseMeta = { role: meta.role, addrs: meta.addrs.slice(), labels: { ...meta.labels } };
    this.announcedEpoch = tables.epoch;
  }

  /** The metadata to construct the core with: the base metadata plus the current tables epoch. */
  meta(): NodeMeta {
    return withTablesEpoch(this.baseMeta, this.tables.epoch);
  }

  /** Attach the core (once, before it is stepped). */
  bind(core: SwimCore): void {
    this.core = core;
  }

  /** New base metadata (role, addresses, labels); the epoch label is added here. */
  updateMeta(now: number, meta: NodeMeta): void {
    this.baseMeta = { role: meta.role, addrs: meta.addrs.slice(), labels: { ...meta.labels } };
    this.announcedEpoch = this.tables.epoch;
    this.mustCore().updateMeta(now, this.meta());
  }

  // ---- local writes ---------------------------------------------------------------------------

  set(now: number, table: string, network: string, key: string, value: Uint8Array): void {
    const b = this.tables.set(now, table, network, key, value);
    this.send(b);
    this.flush(now);
  }

  /** False when this node holds no live entry under that key. */
  delete(now: number, table: string, network: string, key: string): boolean {
    const b = this.tables.delete(now, table, network, key);
    if (b !== null) this.send(b);
    this.flush(now);
    return b !== null;
  }

  /** Broadcast what the tables queued and re-announce a raised epoch. Cheap when idle. */
  flush(now: number): void {
    for (const b of this.tables.drainBroadcasts()) this.send(b);
    this.maybeAnnounceEpoch(now);
  }

  /** Tombstone reaping plus pending broadcasts; call on the core's ticks. */
  tick(now: number): void {
    this.tables.tick(now);
    this.flush(now);
  }

  /** Membership events from core.ready(): dead and left members' entries are fenced. */
  memberEvents(now: number, events: readonly MemberEvent[]): void {
    let gone = false;
    for (const e of events) {
      if ((e.type === 'alive' || e.type === 'join') && this.#fenced.has(e.member.name)) {
        // A member we fenced is back (a healed partition, a false death): push our state to it
        // now, so it learns of the fence, raises its epoch and re-writes its entries, instead
        // of waiting for its next periodic push-pull (the simulator measured 40-50 s of lag).
        this.#fenced.delete(e.member.name);
        const last = this.#healPushAt.get(e.member.name) ?? -Infinity;
        if (now - last >= HEAL_PUSH_MIN_INTERVAL_MS && this.core) {
          this.#healPushAt.set(e.member.name, now);
          this.core.join(now, [e.member.addr]);
          this.counters.healPushes++;
        }
        continue;
      }
      if (e.type !== 'dead' && e.type !== 'left') continue;
      this.#fenced.add(e.member.name);
      const epoch = tablesEpochOf(e.member.meta);
      if (epoch === undefined) this.counters.goneWithoutEpoch++;
      this.counters.membersGone++;
      this.tables.memberGone(now, e.member.name, epoch);
      gone = true;
    }
    if (gone) this.flush(now);
  }

  // ---- SwimDelegate -----------------------------------------------------------------------------

  localState(join: boolean): Uint8Array {
    void join;
    return this.tables.localState();
  }

  mergeRemoteState(now: number, from: string, state: Uint8Array, join: boolean): void {
    void join;
    this.tables.mergeRemoteState(now, from, state);
    this.flush(now);
  }

  notifyUser(now: number, from: string, payload: Uint8Array): void {
    this.tables.receive(now, from, payload);
    for (const b of this.tables.drainBroadcasts()) {
      if (bytesEqual(b.payload, payload)) this.counters.relaysSkipped++;
      else this.send(b);
    }
    this.maybeAnnounceEpoch(now);
  }

  // ---- internals --------------------------------------------------------------------------------

  private send(b: TableBroadcast): void {
    const core = this.mustCore();
    try {
      core.broadcastUser(b.key, b.payload);
      this.counters.broadcasts++;
    } catch (err) {
      if (!(err instanceof SwimArgumentError)) throw err;
      this.counters.oversized++;
    }
  }

  private maybeAnnounceEpoch(now: number): void {
    const epoch = this.tables.epoch;
    if (epoch === this.announcedEpoch) return;
    this.announcedEpoch = epoch;
    this.counters.epochAnnounced++;
    this.mustCore().updateMeta(now, this.meta());
  }

  private mustCore(): SwimCore {
    if (this.core === undefined) throw new TablesDelegateUnboundError();
    return this.core;
  }
}

/** The delegate was used before bind(core). */
export class TablesDelegateUnboundError extends VxmeshError {
  constructor() {
    super('VXM_ERR_SWIM_DELEGATE_UNBOUND', 'use tables delegate: call bind(core) after constructing the SwimCore, before stepping it');
    this.name = 'TablesDelegateUnboundError';
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
