// Flow states and the TCP transition function of the connection tracker.
//
// The tracker sits between client and VIP, sees both directions (client → VIP and backend →
// client on the return path), and never validates sequence numbers: it only needs to know when
// a flow is opening, in use, closing or gone, to pick the idle timeout. That is the IPVS model
// (net/netfilter/ipvs/ip_vs_proto_tcp.c, tcp_states[]), with Linux nf_conntrack's state names
// (net/netfilter/nf_conntrack_proto_tcp.c) and its "loose" mid-stream pickup.
//
// State numbers are stored in a Uint8Array and shown in dumps and golden files: append-only.

export const ST_FREE = 0; //            slot unused (never returned to callers as a live state)
export const ST_TCP_NEW = 1; //         inserted, no TCP flags observed yet
export const ST_TCP_SYN_SENT = 2; //    client SYN seen
export const ST_TCP_SYN_RECV = 3; //    backend SYN-ACK seen
export const ST_TCP_ESTABLISHED = 4; // handshake done (or picked up mid-stream)
export const ST_TCP_FIN_WAIT = 5; //    client sent FIN first
export const ST_TCP_CLOSE_WAIT = 6; //  backend sent FIN first
export const ST_TCP_LAST_ACK = 7; //    FINs seen both ways, waiting for the last ACK
export const ST_TCP_TIME_WAIT = 8; //   closed cleanly; kept so late segments still reach the same backend
export const ST_TCP_CLOSE = 9; //       RST seen
export const ST_UDP_UNREPLIED = 10; //  UDP, traffic from the client only
export const ST_UDP_REPLIED = 11; //    UDP, the backend answered at least once (a "stream")
export const ST_OTHER = 12; //          any other protocol (ICMP echo, SCTP...), one generic timeout
export const ST_COUNT = 13;

export const STATE_NAMES: readonly string[] = [
  'FREE', 'TCP_NEW', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK',
  'TIME_WAIT', 'CLOSE', 'UDP_UNREPLIED', 'UDP_REPLIED', 'OTHER',
];

/** Protocol: TCP header flag bits (RFC 9293 section 3.1). */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

/** Protocol: IANA protocol numbers. */
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/** The state a new flow of `proto` starts in. */
export function initialState(proto: number): number {
  return proto === PROTO_TCP ? ST_TCP_NEW : proto === PROTO_UDP ? ST_UDP_UNREPLIED : ST_OTHER;
}

/**
 * Next TCP state for a segment with `flags` seen in direction `fromClient` (client → VIP when
 * true, backend → client when false). Pure; states that are not TCP are returned unchanged.
 *
 * Precedence per segment: RST, then SYN, then FIN, then ACK (a SYN-ACK is a SYN, a FIN-ACK a FIN).
 * Simplifications, on purpose:
 * - RST from either side closes at once (no in-window check: a forged RST only shortens the
 *   idle timeout, the tracker never drops packets).
 * - A client SYN on a closed, TIME_WAIT or new flow (re)opens it: port reuse after TIME_WAIT
 *   keeps its backend, as IPVS does.
 * - An ACK as the first segment (no SYN seen) goes straight to ESTABLISHED: mid-stream pickup
 *   after a restart or failover, like nf_conntrack_tcp_loose=1.
 * - Both FINs → LAST_ACK; any ACK there → TIME_WAIT.
 */
export function nextTcpState(state: number, flags: number, fromClient: boolean): number {
  if (state < ST_TCP_NEW || state > ST_TCP_CLOSE) return state;
  if (flags & TCP_RST) return ST_TCP_CLOSE;
  if (flags & TCP_SYN) {
    if (flags & TCP_ACK) {
      // SYN-ACK: only the backend's answer to a pending SYN moves the flow.
      return !fromClient && state === ST_TCP_SYN_SENT ? ST_TCP_SYN_RECV : state;
    }
    if (fromClient && (state === ST_TCP_NEW || state === ST_TCP_SYN_SENT || state === ST_TCP_TIME_WAIT || state === ST_TCP_CLOSE)) {
      return ST_TCP_SYN_SENT;
    }
    return state;
  }
  if (flags & TCP_FIN) {
    switch (state) {
      case ST_TCP_NEW:
      case ST_TCP_SYN_RECV:
      case ST_TCP_ESTABLISHED:
        return fromClient ? ST_TCP_FIN_WAIT : ST_TCP_CLOSE_WAIT;
      case ST_TCP_FIN_WAIT:
        return fromClient ? ST_TCP_FIN_WAIT : ST_TCP_LAST_ACK;
      case ST_TCP_CLOSE_WAIT:
        return fromClient ? ST_TCP_LAST_ACK : ST_TCP_CLOSE_WAIT;
      default:
        return state;
    }
  }
  if (flags & TCP_ACK) {
    switch (state) {
      case ST_TCP_NEW:
        return ST_TCP_ESTABLISHED;
      case ST_TCP_SYN_RECV:
        return fromClient ? ST_TCP_ESTABLISHED : state;
      case ST_TCP_LAST_ACK:
        return ST_TCP_TIME_WAIT;
      default:
        return state;
    }
  }
  return state;
}
