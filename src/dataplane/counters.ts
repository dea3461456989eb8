// Dataplane counters live in typed arrays that the pipeline bumps with plain indexed adds;
// metrics and stats read them on demand (never a prom-client call per packet). Indices are
// append-only: dashboards and golden files name them.

/** Why a packet was dropped. */
export const DROP_MALFORMED = 0; //         failed header checks (truncated, bad version, bad lengths, bad IPv4 header checksum)
export const DROP_UNKNOWN_VNI = 1; //       VXLAN frame for a VNI this node has no network for
export const DROP_NO_ROUTE = 2; //          destination not in the network's peer table
export const DROP_NOT_LOCAL = 3; //         arrived from the underlay for an address not hosted here (never relayed: no loops)
export const DROP_SPOOFED_SOURCE = 4; //    a task sent with a source address that is not its own
export const DROP_MULTICAST = 5; //         multicast or broadcast destinations (router/neighbour chatter of the task's kernel)
export const DROP_OVERSIZE = 6; //          larger than the overlay MTU with DF set (an ICMP error went back when allowed)
export const DROP_TTL = 7; //               reserved: TTL/hop limit expired
export const DROP_UNSUPPORTED = 8; //       valid but unhandled (ARP other than request, ethertypes, fragments of ND ...)
export const DROP_BAD_OFFLOAD = 9; //       virtio-net metadata the dataplane cannot honour
export const DROP_IO = 10; //               the kernel refused the write/send (queue full, device gone)
export const DROP_VXLAN_BAD = 11; //        VXLAN header flags wrong or frame too short
export const DROP_NO_BACKEND = 12; //       to a service VIP with no eligible backend (or a fragment, which cannot be balanced)
export const DROP_COUNT = 13;

export const DROP_REASON_NAMES: readonly string[] = [
  'malformed', 'unknown_vni', 'no_route', 'not_local', 'spoofed_source', 'multicast', 'oversize',
  'ttl', 'unsupported', 'bad_offload', 'io', 'vxlan_bad', 'no_backend',
];

/** Traffic counters. Packets count segments on the wire side, super-packets on the TUN side. */
export const C_TUN_RX_PACKETS = 0; //     packets read from task TUNs (a TSO super-packet counts once)
export const C_TUN_RX_BYTES = 1;
export const C_TUN_TX_PACKETS = 2; //     packets handed to task TUNs (before coalescing)
export const C_TUN_TX_BYTES = 3;
export const C_UDP_RX_DATAGRAMS = 4; //   VXLAN datagrams received (each GRO segment counts)
export const C_UDP_RX_BYTES = 5;
export const C_UDP_TX_PACKETS = 6; //     packets handed to the UDP socket (a super-packet counts once)
export const C_UDP_TX_BYTES = 7;
export const C_LOCAL_FORWARD = 8; //      task → task on the same node, passed through whole
export const C_ARP_REPLIES = 9;
export const C_ND_REPLIES = 10;
export const C_ICMP_ERRORS_SENT = 11; //  frag-needed / packet-too-big sent back to a task
export const C_DROPS = 12; //             sum of all drop reasons
export const C_BATCHES = 13; //           batches processed
export const C_REPLIES_FAILED = 14; //    ARP/NA/ICMP replies built but refused by the kernel (not drops: the packet they answer is counted already)
export const C_DEVICE_ERRORS = 15; //     TUN or UDP devices that could no longer be polled (stopped and reported)
export const C_DNS_QUERIES = 16; //       task queries to the embedded resolver, answered in place (not forwarded, not drops)
export const C_COUNT = 17;

export const COUNTER_NAMES: readonly string[] = [
  'tun_rx_packets', 'tun_rx_bytes', 'tun_tx_packets', 'tun_tx_bytes', 'udp_rx_datagrams', 'udp_rx_bytes',
  'udp_tx_packets', 'udp_tx_bytes', 'local_forward', 'arp_replies', 'nd_replies', 'icmp_errors_sent',
  'drops', 'batches', 'replies_failed', 'device_errors', 'dns_queries',
];

export class DataplaneCounters {
  readonly counters = new Float64Array(C_COUNT);
  readonly drops = new Float64Array(DROP_COUNT);

  drop(reason: number, n = 1): void {
    this.drops[reason]! += n;
    this.counters[C_DROPS]! += n;
  }

  snapshot(): { counters: Record<string, number>; drops: Record<string, number> } {
    const counters: Record<string, number> = {};
    const drops: Record<string, number> = {};
    COUNTER_NAMES.forEach((name, i) => (counters[name] = this.counters[i]!));
    DROP_REASON_NAMES.forEach((name, i) => (drops[name] = this.drops[i]!));
    return { counters, drops };
  }
}
