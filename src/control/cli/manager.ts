// `vxmesh manager`: one Raft manager on 2377 with the replicated cluster store and key-value
// map and their HTTP API (2378), printing JSON lines: {"event":"ready"}, {"event":"role","role":"StateLeader",...}.
// SIGUSR2 prints the Raft status; SIGTERM stops. `--force-new-cluster` brings a cluster that
// lost its quorum for good back from this manager's state, as the only voter (swarm's flag).

import { isIP } from 'node:net';
import { ConfigError } from '../../errors.js';
import { serveKvApi } from '../raft/driver/api.js';
import { ManagerState } from '../raft/driver/manager-state.js';
import { RaftNode } from '../raft/driver/raft-node.js';
import type { PeerAddress } from '../raft/driver/transport.js';

export interface ManagerCliOptions {
  id: string;
  clusterId: string;
  dataDir: string;
  peers: string;
  raftPort: string;
  apiPort: string;
  forceNewCluster?: boolean;
  join?: boolean;
  tickMs?: string;
}

function int(v: string, flag: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(flag, `${v} is not an integer from ${min} to ${max}`);
  return n;
}

/** "1=10.0.0.1,2=10.0.0.2" → peers on the raft port. */
export function parsePeers(text: string, port: number): PeerAddress[] {
  const peers = text.split(',').map((p) => p.trim()).filter((p) => p !== '').map((p) => {
    const m = /^(\d+)=(.+)$/.exec(p);
    if (!m) throw new ConfigError('--peers', `${p}: write id=address, e.g. 1=10.0.0.1`);
    const id = int(m[1]!, '--peers', 1, 0xffffffff);
    if (isIP(m[2]!) === 0) throw new ConfigError('--peers', `${m[2]} is not an IP address`);
    return { id, host: m[2]!, port };
  });
  if (new Set(peers.map((p) => p.id)).size !== peers.length) throw new ConfigError('--peers', 'a manager id appears twice: ids are unique');
  return peers;
}

export async function runManager(o: ManagerCliOptions, emit: (e: Record<string, unknown>) => void): Promise<void> {
  const id = int(o.id, '--id', 1, 0xffffffff);
  const raftPort = int(o.raftPort, '--raft-port', 1, 65535);
  const apiPort = int(o.apiPort, '--api-port', 1, 65535);
  const peers = parsePeers(o.peers, raftPort);
  const self = peers.find((p) => p.id === id);
  if (!self) throw new ConfigError('--peers', `manager ${id} is not in --peers: list every manager, this one included`);
  const state = new ManagerState();
  const raft = new RaftNode({
    id, clusterId: int(o.clusterId, '--cluster-id', 0, 0xffffffff), dataDir: o.dataDir, peers, bindHost: self.host, sm: state,
    ...(o.tickMs ? { tickMs: int(o.tickMs, '--tick-ms', 1, 10_000) } : {}),
    ...(o.forceNewCluster ? { forceNewCluster: true } : {}),
    ...(o.join ? { join: true } : {}),
    onRoleChange: (role, leader, term) => emit({ event: 'role', id, role, leader, term, at: Date.now() }),
  });
  await raft.start();
  const api = await serveKvApi(raft, state, {
    host: self.host, port: apiPort,
    raftPort,
    apiUrlOf: (m) => {
      const p = raft.memberAddress(m);
      return p ? `http://${isIP(p.host) === 6 ? `[${p.host}]` : p.host}:${apiPort}` : undefined;
    },
  });
  let wake: () => void = () => {};
  let stopping = false;
  process.once('SIGTERM', () => { stopping = true; wake(); });
  process.once('SIGINT', () => { stopping = true; wake(); });
  process.on('SIGUSR2', () => emit({ event: 'status', ...raft.status() }));
  emit({ event: 'ready', id, raft: `${self.host}:${raftPort}`, api: `${self.host}:${apiPort}`, forceNewCluster: !!o.forceNewCluster });
  if (!stopping) await new Promise<void>((r) => (wake = r));
  api.close();
  raft.close();
  emit({ event: 'stopped', id });
}
