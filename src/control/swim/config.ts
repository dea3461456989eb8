// SWIM + Lifeguard configuration. Every field states what it does, the formula it enters and
// the trade-off of moving it, in the manner of hashicorp/memberlist config.go. Defaults are
// memberlist's DefaultLANConfig (a single data centre, sub-millisecond RTTs, up to a few
// thousand nodes). All durations are milliseconds of the caller's monotonic clock.

import { ConfigError } from '../../errors.js';

export interface SwimConfig {
  /**
   * Time between two failure-detection probes (one member per period, round-robin over a
   * shuffled list). A crashed member is probed within one pass, i.e. within about
   * N * probeIntervalMs. Lower: faster detection, more background traffic (one ping/ack pair per
   * node per period, independent of N) and more false positives under CPU or network stalls.
   * Lifeguard scales it by (healthScore + 1).
   */
  probeIntervalMs: number;
  /**
   * How long to wait for a direct ack before asking `indirectChecks` other members to probe
   * (and trying TCP). Should be above the 99.9th percentile RTT. Too low: indirect probes on
   * every hiccup; too high: less time left in the period for the indirect phase. Must be below
   * probeIntervalMs. Lifeguard scales it by (healthScore + 1).
   */
  probeTimeoutMs: number;
  /**
   * Members asked to probe a target that missed its direct ack (SWIM ping-req, paper section
   * 3.1). More: fewer false suspicions caused by one bad path, k more packets per failed probe.
   * Also the number of independent suspicion confirmations Lifeguard expects (section 4.2).
   */
  indirectChecks: number;
  /**
   * Suspicion timeout multiplier. Minimum suspicion timeout =
   * suspicionMult * max(1, log10(N)) * probeIntervalMs (memberlist suspicionTimeout), so 4 s at
   * N <= 10 and 12 s at N = 1000 with the defaults. Higher: suspected members have more time to
   * refute (fewer false deaths), real failures are declared later.
   */
  suspicionMult: number;
  /**
   * Maximum suspicion timeout = suspicionMaxTimeoutMult * minimum. With Lifeguard a fresh
   * suspicion starts at the maximum and shrinks logarithmically to the minimum as independent
   * confirmations arrive (Lifeguard paper section 4.2), so a lone, possibly unhealthy accuser
   * cannot kill a member quickly. Higher: more protection from a sick accuser, slower detection
   * when few members notice the failure.
   */
  suspicionMaxTimeoutMult: number;
  /**
   * Interval of the gossip round that sends queued broadcasts to `gossipNodes` random members
   * (in addition to piggybacking on pings and acks). Lower: faster convergence, more packets.
   * Nothing is sent when the queue is empty.
   */
  gossipIntervalMs: number;
  /** Members gossiped to per round. Higher: faster epidemic spread, more bandwidth (fan-out). */
  gossipNodes: number;
  /**
   * Each broadcast is sent at most retransmitMult * ceil(log10(N + 1)) times (memberlist
   * retransmitLimit): 8 at N = 10, 16 at N = 1000. Higher: more reliable dissemination under
   * loss, more bytes per update.
   */
  retransmitMult: number;
  /**
   * Full-state TCP exchange with one random live member (anti-entropy, repairs what gossip
   * lost). Scaled above 32 members by ceil(log2(N) - log2(32)) + 1 (memberlist pushPullScale)
   * so the cluster-wide sync rate stays bounded: 30 s at N <= 32, 6 x 30 s at N = 1000. 0
   * disables periodic push-pull (join still uses it). Each exchange moves O(N) bytes.
   */
  pushPullIntervalMs: number;
  /**
   * Lifeguard local health awareness: the health score is kept in [0, awarenessMaxMultiplier-1]
   * and the probe interval and timeout are multiplied by (score + 1). Higher: a node that is
   * itself slow backs off more instead of falsely suspecting healthy peers (Lifeguard 4.1).
   */
  awarenessMaxMultiplier: number;
  /**
   * How long a dead or left member still receives gossip, so that it can learn it was declared
   * dead and refute if it is in fact alive (a healed partition). Longer: better partition
   * healing, a few more packets to the dead.
   */
  gossipToTheDeadMs: number;
  /**
   * How long a dead or left member is remembered (and pushed in push-pull) before it is
   * forgotten with a 'reaped' event. Must be >= gossipToTheDeadMs. Longer: stale alive messages
   * about it are rejected for longer; memory O(dead members).
   */
  deadReapMs: number;
  /**
   * How long the core remembers the newest version of a user broadcast key it saw (to drop
   * re-gossiped duplicates). Keys are forgotten after this much quiet, so memory follows the
   * keys written recently, not every key ever written (task churn). A duplicate arriving later
   * is delivered again (the tables drop stale versions) and relayed once more per node: a
   * bounded echo. Must exceed the time a broadcast takes to die out (retransmit limit x gossip
   * interval, seconds); 15 min by default.
   */
  userSeenTtlMs: number;
  /**
   * Upper bound of every UDP packet we build, in bytes, before the driver's encryption
   * overhead. 1400 stays under a 1500 MTU with IP/UDP headers and VXLAN-less paths. Lower:
   * fewer piggybacked broadcasts per packet.
   */
  udpBudget: number;
  /** Outbound push-pull exchanges in flight at once; the rest are dropped (periodic) or deferred (join). */
  maxConcurrentPushPull: number;
  /** An outbound TCP exchange (push-pull) not answered within this time is given up. */
  tcpTimeoutMs: number;
  /**
   * Also probe over TCP (memberlist's fallback) when the direct UDP ack is missed. Helps when
   * UDP is filtered but the member is alive; one TCP connection per failed probe.
   */
  tcpFallback: boolean;
  /** Largest encoded NodeMeta accepted from the API (memberlist MetaMaxSize). */
  metaMaxBytes: number;
  /**
   * Lifeguard (awareness, dynamic suspicion, buddy system, nacks). false gives plain SWIM with
   * a fixed suspicion timeout of the minimum above, for comparison in the simulator.
   */
  lifeguard: boolean;
}

/** memberlist DefaultLANConfig values. */
export const DEFAULT_LAN_CONFIG: Readonly<SwimConfig> = Object.freeze({
  probeIntervalMs: 1000, // one ping/ack per node per second regardless of N; detection ~N s per pass
  probeTimeoutMs: 500, // LAN RTTs are << 500 ms; leaves 500 ms for the indirect phase
  indirectChecks: 3, // 3 extra pings per failed probe; also Lifeguard's expected confirmations
  suspicionMult: 4, // min suspicion 4 s (N<=10) .. 12 s (N=1000)
  suspicionMaxTimeoutMult: 6, // max suspicion 24 s .. 72 s before confirmations
  gossipIntervalMs: 200, // 5 gossip rounds per second while the queue is not empty
  gossipNodes: 3, // fan-out 3: an update reaches N nodes in ~log3(N) rounds
  retransmitMult: 4, // 8 sends per update at N=10, 16 at N=1000
  pushPullIntervalMs: 30_000, // 30 s; 180 s at N=1000 after pushPullScale
  awarenessMaxMultiplier: 8, // a sick node slows to at most 8 s probes
  gossipToTheDeadMs: 30_000, // 30 s of gossip to a dead member so it can refute
  deadReapMs: 30_000, // forgotten after 30 s (memberlist reaps at GossipToTheDeadTime)
  userSeenTtlMs: 900_000, // 15 min of quiet per user key, then forgotten (bounded memory under task churn)
  udpBudget: 1400, // fits a 1500 MTU with headers and encryption overhead
  maxConcurrentPushPull: 128, // memberlist maxPushPullRequests
  tcpTimeoutMs: 10_000, // memberlist TCPTimeout
  tcpFallback: true,
  metaMaxBytes: 512, // memberlist MetaMaxSize
  lifeguard: true,
});

/** Defaults overlaid with `partial`, checked. Throws ConfigError (VXM_ERR_CONFIG) naming the field. */
export function resolveConfig(partial: Partial<SwimConfig> = {}): SwimConfig {
  const c: SwimConfig = { ...DEFAULT_LAN_CONFIG, ...partial };
  const positive: (keyof SwimConfig)[] = [
    'probeIntervalMs', 'probeTimeoutMs', 'suspicionMult', 'suspicionMaxTimeoutMult', 'gossipIntervalMs',
    'gossipNodes', 'retransmitMult', 'awarenessMaxMultiplier', 'maxConcurrentPushPull', 'tcpTimeoutMs', 'metaMaxBytes',
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new ConfigError(`swim.${k}`, 'must be a positive number');
    }
  }
  for (const k of ['indirectChecks', 'pushPullIntervalMs', 'gossipToTheDeadMs', 'deadReapMs'] as const) {
    if (!Number.isFinite(c[k]) || c[k] < 0) throw new ConfigError(`swim.${k}`, 'must be a number >= 0');
  }
  if (c.probeTimeoutMs >= c.probeIntervalMs) throw new ConfigError('swim.probeTimeoutMs', 'must be below probeIntervalMs');
  if (c.deadReapMs < c.gossipToTheDeadMs) throw new ConfigError('swim.deadReapMs', 'must be >= gossipToTheDeadMs');
  if (c.udpBudget < 256 || c.udpBudget > 65_000) throw new ConfigError('swim.udpBudget', 'must be between 256 and 65000 bytes');
  if (c.indirectChecks > 32) throw new ConfigError('swim.indirectChecks', 'must be <= 32');
  return c;
}

// ---- Scaling math (pure; memberlist util.go) ----

/** Minimum suspicion timeout: suspicionMult * max(1, log10(max(1, n))) * interval, in whole ms. */
export function suspicionTimeoutMs(suspicionMult: number, n: number, intervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return Math.floor(suspicionMult * nodeScale * intervalMs);
}

/** Transmissions of one broadcast: retransmitMult * ceil(log10(n + 1)). */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

/** Above this many members the push-pull interval grows (memberlist pushPullScaleThreshold). */
export const PUSH_PULL_SCALE_THRESHOLD = 32;

/** Push-pull interval for n members: interval * (ceil(log2(n) - log2(32)) + 1) above 32 members. */
export function pushPullScaleMs(intervalMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs;
  const mult = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return intervalMs * mult;
}
