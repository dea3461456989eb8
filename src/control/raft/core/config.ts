// Raft core configuration. Every field says what it does, the formula behind it and the
// trade-off of moving it, in the manner of hashicorp/memberlist config.go.
//
// Time is logical: the driver calls tick() every DEFAULT_TICK_MS. With the defaults
// (25 ms tick, electionTicks 10, heartbeatTicks 1):
//   - a follower notices a dead leader after its randomized timeout, 250..500 ms;
//   - pre-vote + vote take two LAN round trips and two fsyncs (~10-30 ms);
//   - the new leader's empty entry and the first client write commit after one more round
//     trip plus fsync (~10-20 ms).
// So a killed leader is replaced and the first write acknowledged in ~300-550 ms, inside
// the 1 s budget with room for a slow disk. The price: 40 heartbeats/s to each follower
// (trivial for 3-7 managers), and an event-loop stall longer than ~250 ms on the leader
// (GC, a blocking syscall) makes check-quorum depose it and triggers an election. Raise
// DEFAULT_TICK_MS to 50 on loaded managers: failover then takes ~0.6-1.1 s.

import { ConfigError } from '../../../errors.js';
import type { Storage } from './types.js';

/** Driver tick interval in milliseconds (implementation choice, see above). */
export const DEFAULT_TICK_MS = 25;

export interface RaftConfig {
  /** This manager's node ID. Non-zero; IDs are never reused (see removedIds). */
  id: number;
  storage: Storage;
  /**
   * Followers campaign after a random timeout in [electionTicks, 2*electionTicks) ticks without
   * hearing from a leader (Raft §5.2, randomization avoids split votes). Also the leader's
   * check-quorum period and the leader-lease length. Must be > heartbeatTicks; Raft wants
   * broadcast time << election timeout << MTBF (§5.6). Larger: fewer spurious elections under
   * load, slower failover.
   */
  electionTicks: number;
  /** Leader sends heartbeats every heartbeatTicks ticks. Smaller: faster ReadIndex and commit propagation, more traffic. */
  heartbeatTicks: number;
  /** Last applied index when restarting; committed entries up to it are not returned again. 0 on a fresh node. */
  applied: number;
  /**
   * Max bytes of entries per MsgApp (at least one entry is always sent). Larger: better
   * throughput per round trip; smaller: quicker recovery from a lost message and smaller
   * head-of-line blocking on the TCP stream.
   */
  maxSizePerMsg: number;
  /** Max bytes of committed entries handed out per Ready. Bounds the apply batch (and its memory). */
  maxCommittedSizePerReady: number;
  /**
   * Max MsgApps in flight to one follower in replicate state (pipelining window). Throughput is
   * roughly maxInflightMsgs * maxSizePerMsg per round trip; memory is bounded by the same product.
   */
  maxInflightMsgs: number;
  /** Max bytes in flight to one follower (0 = no byte limit). Guards against a slow follower filling the transport's buffers. */
  maxInflightBytes: number;
  /**
   * Cap on the payload bytes of entries the leader appended but did not yet apply; proposals
   * beyond it fail with VXM_ERR_PROPOSAL_DROPPED. Protects memory when a quorum is slow;
   * too small refuses bursts (one proposal is always accepted when nothing is pending).
   */
  maxUncommittedEntriesSize: number;
  /**
   * false (etcd raft): when the commit index moves, the leader at once sends every follower a
   * MsgApp, empty if it has no new entries, to tell it. true (hashicorp/raft's way): the new
   * commit index rides on the next MsgApp or heartbeat instead. With one write at a time that
   * halves the messages, follower wake-ups and follower WAL writes per write (follower CPU per
   * write -30% on the 2-vCPU bench machine), and the leader's answer to the client no longer
   * queues behind those sends. The price: when writes stop, followers apply the last ones up
   * to heartbeatTicks later (25 ms by default), so watches on followers lag by as much. A
   * ReadIndex through a follower is not delayed: its heartbeat round carries the commit index.
   */
  piggybackCommit: boolean;
  /**
   * Pre-vote (Raft thesis §9.6): a node first asks whether it could win before bumping its
   * term, so a rejoining partitioned manager does not depose a healthy leader. Costs one round trip per election.
   */
  preVote: boolean;
  /**
   * Check-quorum (thesis §6.2): a leader that has not heard from a quorum within electionTicks
   * steps down, and followers that heard from a leader within electionTicks ignore (pre)votes
   * (leader lease). Needed for lease safety of ReadIndex under partitions.
   */
  checkQuorum: boolean;
  /** Snapshot transfer chunk size (bytes of snapshot data per MsgSnap). Larger: fewer messages; smaller: less to resend when a chunk is lost. */
  snapshotChunkBytes: number;
  /**
   * Leader ticks to wait for a snapshot to be acknowledged before restarting the transfer
   * (a chunk may have been lost). Must cover transfer time of the whole snapshot.
   */
  snapshotTimeoutTicks: number;
  /** Largest snapshot a follower accepts (bytes); a larger MsgSnap total is refused. */
  maxSnapshotBytes: number;
  /** Injected RNG: an integer uniformly in [0, n). The core never calls Math.random. */
  random: (n: number) => number;
  /**
   * IDs removed from the cluster. The authoritative set lives in the caller's replicated store
   * (it records each applied removal and carries it in its snapshots) and is passed here on
   * start; the core adds IDs it removes while running. A leader refuses to add these IDs.
   */
  removedIds: number[];
}

export function defaultRaftConfig(id: number, storage: Storage, random: (n: number) => number): RaftConfig {
  return {
    id,
    storage,
    electionTicks: 10, // 250-500 ms at 25 ms ticks
    heartbeatTicks: 1, // 25 ms: ReadIndex costs ~1 RTT, not a heartbeat period
    applied: 0,
    maxSizePerMsg: 1 << 20, // 1 MiB per MsgApp
    maxCommittedSizePerReady: 4 << 20, // apply at most 4 MiB per Ready
    maxInflightMsgs: 64, // up to 64 MiB in flight per follower with maxSizePerMsg 1 MiB ...
    maxInflightBytes: 16 << 20, // ... but no more than 16 MiB
    maxUncommittedEntriesSize: 32 << 20, // refuse writes when 32 MiB are unapplied
    piggybackCommit: false, // etcd's behaviour; the manager driver turns it on
    preVote: true,
    checkQuorum: true,
    snapshotChunkBytes: 256 << 10, // 256 KiB per MsgSnap
    snapshotTimeoutTicks: 200, // 5 s at 25 ms ticks
    maxSnapshotBytes: 1 << 30, // 1 GiB
    random,
    removedIds: [],
  };
}

/** Throws ConfigError naming the first bad field. */
export function validateRaftConfig(c: RaftConfig): void {
  const posInt = (name: keyof RaftConfig, v: number): void => {
    if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError(`raft.${name}`, `must be a positive integer, got ${v}`);
  };
  posInt('id', c.id);
  posInt('electionTicks', c.electionTicks);
  posInt('heartbeatTicks', c.heartbeatTicks);
  if (c.electionTicks <= c.heartbeatTicks) throw new ConfigError('raft.electionTicks', `must be greater than heartbeatTicks (${c.heartbeatTicks})`);
  posInt('maxSizePerMsg', c.maxSizePerMsg);
  posInt('maxCommittedSizePerReady', c.maxCommittedSizePerReady);
  posInt('maxInflightMsgs', c.maxInflightMsgs);
  posInt('maxUncommittedEntriesSize', c.maxUncommittedEntriesSize);
  posInt('snapshotChunkBytes', c.snapshotChunkBytes);
  posInt('snapshotTimeoutTicks', c.snapshotTimeoutTicks);
  posInt('maxSnapshotBytes', c.maxSnapshotBytes);
  if (!Number.isSafeInteger(c.maxInflightBytes) || c.maxInflightBytes < 0) throw new ConfigError('raft.maxInflightBytes', 'must be a non-negative integer');
  if (!Number.isSafeInteger(c.applied) || c.applied < 0) throw new ConfigError('raft.applied', 'must be a non-negative integer');
}
