// Why a packet failed validation: one shared set of numbers for every check* function.
//
// Contract: every check* function in packet/ returns PR_OK (0) when the header is valid and fits
// in the length it was given, and otherwise exactly one of the PR_* numbers below. The pipeline
// uses the number as an index into a typed-array of drop counters and PARSE_REASON_NAMES as the
// metric label, so checks never allocate an error and never throw on packet bytes.
//
// Append-only: these numbers index counters that are exported to Prometheus and compared across
// releases in dashboards. Never renumber or reuse a value; add new reasons at the end and add
// their name to PARSE_REASON_NAMES in the same position.

/** The header is valid. */
export const PR_OK = 0;
/** Fewer bytes than the fixed header (or a field the header announces) needs. */
export const PR_TRUNCATED = 1;
/** IP version nibble is not the one this check is for (4 or 6). */
export const PR_BAD_VERSION = 2;
/** IPv4 IHL below 5 (RFC 791) or header longer than the bytes available. */
export const PR_BAD_IHL = 3;
/** IPv4 Total Length below the header length or beyond the bytes available. */
export const PR_BAD_TOTAL_LEN = 4;
/** IPv4 header checksum does not verify (RFC 791, RFC 1071). */
export const PR_BAD_HDR_CSUM = 5;
/** A fragment where the caller needs a whole datagram or its first fragment. */
export const PR_FRAGMENT = 6;
/** TCP Data Offset below 5 or beyond the segment (RFC 9293 section 3.1). */
export const PR_BAD_TCP_DOFF = 7;
/** UDP Length below 8 or beyond the IP payload (RFC 768). */
export const PR_BAD_UDP_LEN = 8;
/** VXLAN flags without the I bit (RFC 7348 section 5). */
export const PR_VXLAN_FLAGS = 9;
/** ARP for something other than Ethernet/IPv4 request or reply (RFC 826). */
export const PR_ARP_UNSUPPORTED = 10;
/** IPv6 Payload Length beyond the bytes available (RFC 8200 section 3). */
export const PR_BAD_PAYLOAD_LEN = 11;
/** IPv6 extension header chain malformed, too long, or present where none is supported. */
export const PR_BAD_EXT_HDR = 12;
/** TCP/UDP/ICMP/ICMPv6 checksum does not verify. */
export const PR_BAD_L4_CSUM = 13;
/** ICMP/ICMPv6 type is not the message this check is for. */
export const PR_BAD_ICMP_TYPE = 14;
/** ICMP/ICMPv6 code is not valid for the type (e.g. ND requires 0, RFC 4861 section 7.1). */
export const PR_BAD_ICMP_CODE = 15;
/** Hop Limit is not 255 where RFC 4861 requires it (ND messages come from on-link only). */
export const PR_BAD_HOP_LIMIT = 16;
/** Neighbor Discovery target is a multicast address (RFC 4861 section 7.1.1). */
export const PR_ND_BAD_TARGET = 17;
/** Neighbor Discovery option with length 0 or past the end (RFC 4861 sections 4.6, 7.1.1). */
export const PR_ND_BAD_OPTION = 18;
/** Neighbor Solicitation from :: that breaks the DAD rules of RFC 4861 section 7.1.1. */
export const PR_ND_BAD_SOURCE = 19;

/** Metric label for each PR_* value, indexed by the value. Same append-only rule. */
export const PARSE_REASON_NAMES: readonly string[] = Object.freeze([
  'ok',
  'truncated',
  'bad_version',
  'bad_ihl',
  'bad_total_len',
  'bad_hdr_csum',
  'fragment',
  'bad_tcp_doff',
  'bad_udp_len',
  'vxlan_flags',
  'arp_unsupported',
  'bad_payload_len',
  'bad_ext_hdr',
  'bad_l4_csum',
  'bad_icmp_type',
  'bad_icmp_code',
  'bad_hop_limit',
  'nd_bad_target',
  'nd_bad_option',
  'nd_bad_source',
]);

/** Number of PR_* values: size a counter array with this. */
export const PARSE_REASON_COUNT = PARSE_REASON_NAMES.length;
