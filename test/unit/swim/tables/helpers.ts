// Shared builders for the gossip tables tests.
import { GossipTables } from '../../../../src/control/swim/tables/index.js';
import type { TableBroadcast, TablesConfigInput } from '../../../../src/control/swim/tables/index.js';

export const FC_SEED = 0x7ab1e5;

const enc = new TextEncoder();
const dec = new TextDecoder();

export const b = (s: string): Uint8Array => enc.encode(s);
export const str = (v: Uint8Array | null | undefined): string | undefined => (v == null ? undefined : dec.decode(v));

export function node(self: string, epoch = 1, extra: Partial<TablesConfigInput> = {}): GossipTables {
  return new GossipTables({ self, epoch, tombstoneReapMs: 60_000, ...extra });
}

/** memberlist's push-pull: the initiator sends its state, the peer answers with its own (taken
 *  before merging, as memberlist's handleConn does), then both merge. */
export function pushPull(now: number, a: GossipTables, b2: GossipTables): void {
  const sa = a.localState();
  const sb = b2.localState();
  b2.mergeRemoteState(now, a.config.self, sa);
  a.mergeRemoteState(now, b2.config.self, sb);
}

/** Delivers one broadcast to every replica in `to`. */
export function deliver(now: number, from: string, bc: TableBroadcast | null, to: GossipTables[]): void {
  if (bc === null) return;
  for (const t of to) t.receive(now, from, bc.payload);
}

/** Value of one key as text, or undefined. */
export function val(t: GossipTables, table: string, network: string, key: string): string | undefined {
  return str(t.get(table, network, key)?.value);
}
