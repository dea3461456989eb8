// Connection tracker configuration. Every default says what it does at scale; operators tune
// from these comments. All times are milliseconds of the injected clock.

import {
  ST_COUNT, ST_OTHER, ST_TCP_CLOSE, ST_TCP_CLOSE_WAIT, ST_TCP_ESTABLISHED, ST_TCP_FIN_WAIT,
  ST_TCP_LAST_ACK, ST_TCP_NEW, ST_TCP_SYN_RECV, ST_TCP_SYN_SENT, ST_TCP_TIME_WAIT,
  ST_UDP_REPLIED, ST_UDP_UNREPLIED,
} from './state.js';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;

export interface ConntrackTimeouts {
  /** Inserted, no flags seen yet. 30 s: a caller that inserts then never observes the segment
   *  (a bug or a dropped packet) loses the slot quickly. */
  tcpNew: number;
  /** 120 s (Linux nf_conntrack_tcp_timeout_syn_sent): covers the client's SYN retries
   *  (1+2+4+8+16+32 s with tcp_syn_retries=6 is 63 s, doubled for margin). Lower it under SYN
   *  floods; the rate limiter (`newFlowsPerSecond`) is the better lever. */
  tcpSynSent: number;
  /** 60 s (Linux syn_recv): the backend answered, the client's ACK is one RTT away. */
  tcpSynRecv: number;
  /** 24 h (kube-proxy's --conntrack-tcp-timeout-established default). NOT IPVS's 900 s: swarm's
   *  routing mesh silently killed idle connections (database pools, long polls) after 15 minutes
   *  because Linux's first keepalive probe comes at 7200 s (tcp_keepalive_time). Anything above
   *  2 h keeps default-keepalive connections alive; 24 h adds margin for apps with no keepalive
   *  at all. Cost: a client that vanishes without FIN/RST holds a slot for up to 24 h, so size
   *  `capacity4` for the peak of open + abandoned connections; when full, new flows still get a
   *  backend through the stateless fallback. Override per service with `setServiceTimeout`. */
  tcpEstablished: number;
  /** 120 s (Linux fin_wait): the client closed its half; the backend may still be sending. */
  tcpFinWait: number;
  /** 60 s (Linux close_wait): the backend closed its half; the client may still be sending. */
  tcpCloseWait: number;
  /** 30 s (Linux last_ack): both FINs seen, one ACK outstanding. */
  tcpLastAck: number;
  /** 120 s (Linux time_wait, 2×MSL): late retransmits still reach the same backend and a SYN
   *  reusing the port reopens the flow on it. */
  tcpTimeWait: number;
  /** 10 s (Linux close): after a RST the slot is reclaimed almost at once. */
  tcpClose: number;
  /** 30 s (Linux nf_conntrack_udp_timeout): one-way UDP (DNS queries that never got an answer). */
  udpUnreplied: number;
  /** 120 s (Linux nf_conntrack_udp_timeout_stream): UDP that got an answer is a stream (QUIC,
   *  VXLAN, RTP); keep its backend across short pauses. */
  udpReplied: number;
  /** 60 s: other protocols (ICMP echo ids, SCTP without state tracking). Linux uses 30 s for
   *  ICMP and 600 s generic; 60 s covers ping -i with long intervals. */
  other: number;
}

export const DEFAULT_TIMEOUTS: Readonly<ConntrackTimeouts> = Object.freeze({
  tcpNew: 30 * S,
  tcpSynSent: 120 * S,
  tcpSynRecv: 60 * S,
  tcpEstablished: 24 * H,
  tcpFinWait: 120 * S,
  tcpCloseWait: 60 * S,
  tcpLastAck: 30 * S,
  tcpTimeWait: 120 * S,
  tcpClose: 10 * S,
  udpUnreplied: 30 * S,
  udpReplied: 120 * S,
  other: 60 * S,
});

export interface ConntrackConfig {
  /** IPv4 flows the table holds; fixed at construction (no rehash on the hot path). 56 bytes
   *  per flow (plus rounding of the index to a power of two): 1M flows ≈ 56 MiB. Default 262144
   *  (14 MiB) covers a busy node; raise it for ingress nodes fronting many short connections. */
  capacity4: number;
  /** IPv6 flows; 104 bytes each. Default 65536 (6.5 MiB). 0 disables IPv6 tracking. */
  capacity6: number;
  /** Service ids (0 … maxServices-1) accepted by insert and `setServiceTimeout`. Default 4096
   *  (32 KiB of overrides). */
  maxServices: number;
  /** New flows admitted per second by `admit` (token bucket on the injected clock); beyond it
   *  the caller falls back to the stateless (Maglev) choice instead of inserting, so a SYN
   *  flood cannot evict or starve real flows. Default 200000/s: well above what one Node
   *  process can forward as new connections, so it only bites under floods. 0 = unlimited. */
  newFlowsPerSecond: number;
  /** Bucket depth (burst of new flows admitted at once). Default 20000: a 100 ms burst at the
   *  default rate. */
  newFlowsBurst: number;
  timeouts: ConntrackTimeouts;
}

export const DEFAULT_CONFIG: Readonly<ConntrackConfig> = Object.freeze({
  capacity4: 262144,
  capacity6: 65536,
  maxServices: 4096,
  newFlowsPerSecond: 200000,
  newFlowsBurst: 20000,
  timeouts: DEFAULT_TIMEOUTS,
});

/** Timeouts laid out by state number for the expiry check. */
export function timeoutsByState(t: ConntrackTimeouts): Float64Array {
  const a = new Float64Array(ST_COUNT);
  a[ST_TCP_NEW] = t.tcpNew;
  a[ST_TCP_SYN_SENT] = t.tcpSynSent;
  a[ST_TCP_SYN_RECV] = t.tcpSynRecv;
  a[ST_TCP_ESTABLISHED] = t.tcpEstablished;
  a[ST_TCP_FIN_WAIT] = t.tcpFinWait;
  a[ST_TCP_CLOSE_WAIT] = t.tcpCloseWait;
  a[ST_TCP_LAST_ACK] = t.tcpLastAck;
  a[ST_TCP_TIME_WAIT] = t.tcpTimeWait;
  a[ST_TCP_CLOSE] = t.tcpClose;
  a[ST_UDP_UNREPLIED] = t.udpUnreplied;
  a[ST_UDP_REPLIED] = t.udpReplied;
  a[ST_OTHER] = t.other;
  return a;
}
